"""Sandbox-only Brevo routes for tests, relative to ``/_sandbox/brevo`` (Brevo error bodies, no ``api-key``).

==========================================  ===================================================================
``GET  /contacts``                          every contact (oldest first) ``{"contacts": [...], "count": n}``
``GET  /events``                            every accepted event ``{"events": [...], "count": n}``
``GET  /objects/{type}/records``            every record of a custom object type, associations as id lists
``POST /objects/types``                     ``{"name": "deals", "attributes": ["amount", ...]}`` create a type
``GET|POST|DELETE /faults``                 Brevo processing faults, in the sandbox's one injector: ``{"kind":
                                            "import_failure"|"import_partial"|"events_partial_207"|
                                            "process_stuck"|"object_reject", "count": N}`` or ``"rate": x``
``GET|POST /processes/settings``            ``{"polls_to_complete": 2, "running_status": "processing",
                                            "rate_per_s": 20000, "queue_s": 0.2, "serial": true}`` (the
                                            default: processes on the sandbox clock, an account's imports one
                                            after the other; ``serial: false`` side by side; ``rate_per_s:
                                            null``: poll-driven, done after ``polls_to_complete`` polls)
``GET  /processes/{id}``                    process plus ``sandbox.rejected`` (rejected import rows + reasons)
``POST /processes/complete``                finish every pending process now (including stuck ones)
``GET|PUT /account``                        ``{"timezone": "America/Los_Angeles", "naive_times": "account"}``:
                                            the account's time zone (``GET /account``) and how a time filter
                                            without an offset is read (``account`` zone, or ``utc``)
``POST /reset``                             empty the account, then re-create the standard seed fixture
``POST /seed``                              ``{"seed": 0, "contacts": N}``: standard fixture + N contacts
==========================================  ===================================================================
"""

from __future__ import annotations

import json
import random
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from airflow_provider_customerio.sandbox.brevo.errors import InvalidParameter
from airflow_provider_customerio.sandbox.brevo.routes import (
    BrevoControlRoute,
    State,
    empty_response,
    json_response,
)
from airflow_provider_customerio.sandbox.faults import STATE_KINDS, parse_fault

router = APIRouter(route_class=BrevoControlRoute)


async def _obj(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidParameter("Request body must be a JSON object")
    return body


@router.get("/contacts")
async def all_contacts(state: State) -> Response:
    contacts = state.all_contacts()
    return json_response({"contacts": contacts, "count": len(contacts)})


@router.get("/events")
async def all_events(state: State) -> Response:
    events = state.stored_events()
    return json_response({"events": events, "count": len(events)})


@router.get("/objects/{object_type}/records")
async def all_records(object_type: str, state: State) -> Response:
    records = state.all_object_records(object_type)
    return json_response({"records": records, "count": len(records)})


@router.post("/objects/types")
async def create_object_type(request: Request, state: State) -> Response:
    body = await _obj(request)
    state.create_object_type(body.get("name"), body.get("attributes", []))
    return json_response({"name": body["name"]}, 201)


@router.get("/faults")
async def get_faults(state: State) -> Response:
    """The armed Brevo processing faults with their ``fired`` counts (request faults are on ``/_sandbox/faults``)."""
    with state.lock:
        rules = [r.describe() for r in state.faults.rules if r.kind in STATE_KINDS]
    return json_response({"faults": rules})


@router.post("/faults")
async def add_fault(request: Request, state: State) -> Response:
    """Arm a Brevo processing fault by count or seeded rate, in the sandbox's one injector.

    Same bodies as ``POST /_sandbox/faults`` with ``vendor`` implied; only the processing kinds.
    """
    spec = await _obj(request)
    if spec.get("kind") not in STATE_KINDS:
        raise InvalidParameter(f"kind must be one of {', '.join(STATE_KINDS)}")
    try:
        rule = parse_fault({"vendor": "brevo", **spec})
    except ValueError as exc:
        raise InvalidParameter(str(exc)) from None
    with state.lock:
        state.faults.add(rule)
    return json_response(rule.describe(), 201)


@router.delete("/faults")
async def clear_faults(state: State) -> Response:
    """Disarm every Brevo processing fault (request faults stay)."""
    with state.lock:
        state.faults.clear_kinds(STATE_KINDS)
    return empty_response(204)


@router.get("/processes/settings")
async def get_settings(state: State) -> Response:
    return json_response(dict(state.process_settings))


@router.post("/processes/settings")
async def set_settings(request: Request, state: State) -> Response:
    return json_response(state.set_process_settings(await _obj(request)))


@router.post("/processes/complete")
async def complete_processes(state: State) -> Response:
    return json_response({"completed": state.complete_all_processes()})


@router.get("/processes/{process_id}")
async def process_detail(process_id: int, state: State) -> Response:
    return json_response(state.process_control(process_id))


@router.get("/account")
async def get_account_settings(state: State) -> Response:
    return json_response(dict(state.account_settings))


@router.put("/account")
async def put_account_settings(request: Request, state: State) -> Response:
    return json_response(state.set_account_settings(await _obj(request)))


@router.post("/reset")
async def reset(state: State) -> Response:
    state.reset()
    state.seed(random.Random(0))
    return empty_response(204)


@router.post("/seed")
async def seed(request: Request, state: State) -> Response:
    body = await _obj(request)
    rng = random.Random(body.get("seed", 0))
    state.seed(rng)
    n = body.get("contacts", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InvalidParameter("contacts must be an integer >= 0")
    ids = state.seed_contacts(rng, n)
    return json_response({"contact_ids": [ids[0], ids[-1]] if ids else [], "count": len(ids)}, 201)
