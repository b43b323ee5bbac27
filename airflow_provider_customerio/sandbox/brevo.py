"""Brevo v3 routes of the sandbox: request parsing, JSON shaping, Brevo error bodies and a control router.

The core server mounts :func:`build_router` under ``/brevo/v3`` and :func:`build_control_router` under
``/_sandbox/brevo``. Handlers only parse requests and shape JSON; behaviour lives in :mod:`.brevo_state`.

Control routes (sandbox-only, relative to ``/_sandbox/brevo``):

==========================================  ===================================================================
``GET  /contacts``                          every contact (oldest first) ``{"contacts": [...], "count": n}``
``GET  /events``                            every accepted event ``{"events": [...], "count": n}``
``GET  /objects/{type}/records``            every record of a custom object type, associations as id lists
``POST /objects/types``                     ``{"name": "deals", "attributes": ["amount", ...]}`` create a type
``GET|POST|DELETE /faults``                 Brevo processing faults, in the sandbox's one injector: ``{"kind":
                                            "import_failure"|"import_partial"|"events_partial_207"|
                                            "process_stuck"|"object_reject", "count": N}`` or ``"rate": x``
``GET|POST /processes/settings``            ``{"polls_to_complete": 2, "running_status": "processing",
                                            "rate_per_s": null, "queue_s": 0}`` (a rate: background processes
                                            on the sandbox clock)
``GET  /processes/{id}``                    process plus ``sandbox.rejected`` (rejected import rows + reasons)
``POST /processes/complete``                finish every pending process now (including stuck ones)
``POST /reset``                             empty the account, then re-create the standard seed fixture
``POST /seed``                              ``{"seed": 0, "contacts": N}``: standard fixture + N contacts
==========================================  ===================================================================
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response

from airflow_provider_customerio.sandbox.brevo_state import (
    BrevoError,
    BrevoState,
    InvalidParameter,
    MethodNotAllowed,
    OutOfRange,
    PathNotFound,
    Unauthorized,
    parse_datetime_ms,
)

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


# --------------------------------------------------------------------------------------------------------------
# Public helpers used by the core (generic faults, rate limiting)
# --------------------------------------------------------------------------------------------------------------


def render_error(
    status: int, message: str, code: str | None = None, metadata: dict[str, Any] | None = None
) -> Response:
    """Render Brevo's error body ``{"code", "message"}`` (``code`` omitted when None, ``metadata`` when given)."""
    body: dict[str, Any] = {}
    if code is not None:
        body["code"] = code
    body["message"] = message
    if metadata is not None:
        body["metadata"] = metadata
    return JSONResponse(body, status_code=status)


def ratelimit_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    """Brevo's rate-limit headers: ``reset`` is the seconds left in the window (relative, not a timestamp).

    https://developers.brevo.com/docs/limit-headers
    """
    return {
        "x-sib-ratelimit-limit": str(int(limit)),
        "x-sib-ratelimit-remaining": str(max(0, int(remaining))),
        "x-sib-ratelimit-reset": str(max(0, math.ceil(reset_s))),
    }


# --------------------------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------------------------


def _route_class(state: BrevoState, *, auth: bool) -> type[APIRoute]:
    """An APIRoute that checks the ``api-key`` header (vendor routes) and renders BrevoError as Brevo bodies."""

    class BrevoRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            original = super().get_route_handler()

            async def handler(request: Request) -> Response:
                try:
                    if auth:
                        key = request.headers.get("api-key")
                        if not key:
                            raise Unauthorized("authentication not found in headers")
                        if key != state.api_key:
                            raise Unauthorized("Key not found")
                    return await original(request)
                except BrevoError as exc:
                    return render_error(exc.status, exc.message, exc.code, exc.metadata)

            return handler

    return BrevoRoute


async def _body(request: Request) -> tuple[Any, int]:
    raw = await request.body()
    if not raw.strip():
        raise InvalidParameter("Request body is required (JSON)")
    try:
        return json.loads(raw), len(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"Request body is not valid JSON: {exc}") from None


def _int_param(
    request: Request, name: str, default: int | None, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise InvalidParameter(f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise OutOfRange(f"{name} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise OutOfRange(f"{name} exceeds max value {maximum}")
    return value


def _sort(request: Request) -> str:
    sort = request.query_params.get("sort", "desc")
    if sort not in ("asc", "desc"):
        raise InvalidParameter("sort must be asc or desc")
    return sort


def _int_list(request: Request, name: str) -> list[int]:
    out: list[int] = []
    for raw in request.query_params.getlist(name):
        for part in raw.split(","):
            if part.strip():
                try:
                    out.append(int(part))
                except ValueError:
                    raise InvalidParameter(f"{name} must hold integers, got {part!r}") from None
    return out


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json")


def _empty(status: int) -> Response:
    return Response(status_code=status)  # 204 (and attribute 201): empty body, as documented


# --------------------------------------------------------------------------------------------------------------
# Vendor router
# --------------------------------------------------------------------------------------------------------------


def build_router(state: BrevoState) -> APIRouter:
    """Brevo v3 routes, relative to ``/brevo/v3``."""
    router = APIRouter(route_class=_route_class(state, auth=True))

    # ------------------------------------------------------------------ contacts (static paths before {identifier})

    @router.get("/contacts")
    async def get_contacts(request: Request) -> Response:
        q = request.query_params
        limit = _int_param(request, "limit", 50, maximum=1000)
        offset = _int_param(request, "offset", 0)
        modified = parse_datetime_ms(q["modifiedSince"], "modifiedSince") if q.get("modifiedSince") else None
        created = parse_datetime_ms(q["createdSince"], "createdSince") if q.get("createdSince") else None
        list_ids = _int_list(request, "listIds")
        ids = _int_list(request, "ids")
        if q.get("segmentId"):
            if list_ids:
                raise InvalidParameter("Pass either segmentId or listIds, not both")
            raise InvalidParameter(f"segmentId {q['segmentId']} does not exist (the sandbox has no segments)")
        if len(ids) > 20:
            raise OutOfRange("ids accepts at most 20 contact ids")
        unknown = [lid for lid in list_ids if lid not in state.lists]
        if unknown:  # GET /contacts declares no 404
            raise InvalidParameter(f"listIds: list id(s) {unknown} do not exist")
        contacts, count = state.query_contacts(
            limit=limit,
            offset=offset,
            sort=_sort(request),
            modified_since=modified,
            created_since=created,
            list_ids=list_ids or None,
            ids=ids or None,
            filter_expr=q.get("filter") or None,
        )
        return _json({"contacts": contacts, "count": count})

    @router.post("/contacts")
    async def create_contact(request: Request) -> Response:
        body, _ = await _body(request)
        new_id = state.create_contact(body)
        return _empty(204) if new_id is None else _json({"id": new_id}, 201)

    @router.get("/contacts/attributes")
    async def list_attributes(request: Request) -> Response:
        return _json({"attributes": state.list_attributes()})

    @router.post("/contacts/attributes/{category}/{name}")
    async def create_attribute(category: str, name: str, request: Request) -> Response:
        raw = await request.body()
        body = (await _body(request))[0] if raw.strip() else {}
        state.create_attribute(category, name, body)
        return _empty(201)

    @router.get("/contacts/folders")
    async def get_folders(request: Request) -> Response:
        folders, count = state.folders_page(
            _int_param(request, "limit", 10, maximum=50), _int_param(request, "offset", 0), _sort(request)
        )
        return _json({"count": count, "folders": folders})

    @router.post("/contacts/folders")
    async def create_folder(request: Request) -> Response:
        body, _ = await _body(request)
        return _json({"id": state.create_folder(body.get("name") if isinstance(body, dict) else None)}, 201)

    @router.get("/contacts/lists")
    async def get_lists(request: Request) -> Response:
        lists, count = state.lists_page(
            _int_param(request, "limit", 10, maximum=50), _int_param(request, "offset", 0), _sort(request)
        )
        return _json({"count": count, "lists": lists})

    @router.post("/contacts/lists")
    async def create_list(request: Request) -> Response:
        body, _ = await _body(request)
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object with name and folderId")
        return _json({"id": state.create_list(body.get("name"), body.get("folderId"))}, 201)

    @router.get("/contacts/lists/{list_id}")
    async def get_list(list_id: str, request: Request) -> Response:
        return _json(state.get_list(list_id))

    @router.get("/contacts/lists/{list_id}/contacts")
    async def get_list_contacts(list_id: str, request: Request) -> Response:
        lid = state.list_id_checked(list_id)
        q = request.query_params
        limit = _int_param(request, "limit", 50, maximum=500)
        offset = _int_param(request, "offset", 0)
        modified = parse_datetime_ms(q["modifiedSince"], "modifiedSince") if q.get("modifiedSince") else None
        contacts, count = state.query_contacts(
            limit=limit, offset=offset, sort=_sort(request), modified_since=modified, list_ids=[lid]
        )
        return _json({"contacts": contacts, "count": count})

    @router.post("/contacts/lists/{list_id}/contacts/add")
    async def add_to_list(list_id: str, request: Request) -> Response:
        body, _ = await _body(request)
        return _json(state.change_list_members(list_id, body, add=True), 201)

    @router.post("/contacts/lists/{list_id}/contacts/remove")
    async def remove_from_list(list_id: str, request: Request) -> Response:
        body, _ = await _body(request)
        return _json(state.change_list_members(list_id, body, add=False), 201)

    @router.post("/contacts/import")
    async def import_contacts(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > 10 * 1024 * 1024:  # check the size before parsing 10+ MB of JSON
            return _json(
                {"code": "out_of_range", "message": "Maximum allowed body size is 10MB; split the import"}, 400
            )
        body, size = await _body(request)
        return _json({"processId": state.start_import(body, size)}, 202)

    @router.get("/contacts/{identifier}")
    async def get_contact(identifier: str, request: Request) -> Response:
        return _json(state.get_contact(identifier, request.query_params.get("identifierType")))

    @router.put("/contacts/{identifier}")
    async def update_contact(identifier: str, request: Request) -> Response:
        body, _ = await _body(request)
        state.update_contact(identifier, request.query_params.get("identifierType"), body)
        return _empty(204)

    @router.delete("/contacts/{identifier}")
    async def delete_contact(identifier: str, request: Request) -> Response:
        state.delete_contact(identifier, request.query_params.get("identifierType"))
        return _empty(204)

    # ------------------------------------------------------------------ processes

    @router.get("/processes")
    async def get_processes(request: Request) -> Response:
        processes, count = state.processes_page(
            _int_param(request, "limit", 10, maximum=50), _int_param(request, "offset", 0), _sort(request)
        )
        return _json({"count": count, "processes": processes})

    @router.get("/processes/{process_id}")
    async def get_process(process_id: str, request: Request) -> Response:
        return _json(state.poll_process(process_id))

    # ------------------------------------------------------------------ events

    @router.get("/events")
    async def list_events(request: Request) -> Response:
        names = [n for raw in request.query_params.getlist("event_name") for n in raw.split(",") if n]
        return _json(
            state.list_events(
                event_names=names,
                contact_ids=_int_list(request, "contact_id"),
                start=request.query_params.get("startDate"),
                end=request.query_params.get("endDate"),
                limit=_int_param(request, "limit", 100, minimum=1, maximum=10000),
                offset=_int_param(request, "offset", 0),
            )
        )

    @router.post("/events")
    async def create_event(request: Request) -> Response:
        body, _ = await _body(request)
        state.create_event(body)
        return _empty(204)

    @router.post("/events/batch")
    async def create_events_batch(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > 512 * 1024:
            raise OutOfRange("Batch body exceeds 512 KB; send at most 200 events and 512 KB per request")
        body, size = await _body(request)
        status, payload = state.create_events_batch(body, size)
        return _json(payload, status)

    # ------------------------------------------------------------------ custom objects

    @router.post("/objects/{object_type}/batch/upsert")
    async def upsert_objects(object_type: str, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > 1024 * 1024:
            raise OutOfRange("Max request body size is 1 MB")
        body, size = await _body(request)
        pid = state.start_object_upsert(object_type, body, size)
        return _json({"message": "Batch object records are being processed", "processId": pid}, 202)

    @router.post("/objects/{object_type}/batch/delete")
    async def delete_objects(object_type: str, request: Request) -> Response:
        body, _size = await _body(request)
        pid = state.start_object_delete(object_type, body)
        return _json({"message": "Batch object records are being processed for deletion.", "processId": pid}, 202)

    @router.get("/objects/{object_type}/records")
    async def get_object_records(object_type: str, request: Request) -> Response:
        limit = _int_param(request, "limit", None, maximum=1000)
        page_num = _int_param(request, "page_num", None, minimum=1)
        association = request.query_params.get("association", "false")
        if association not in ("true", "false"):
            raise InvalidParameter("association must be 'true' or 'false'")
        records, count = state.object_records_page(object_type, limit, page_num, _sort(request), association == "true")
        return _json({"count": count, "records": records})

    # ------------------------------------------------------------------ account

    @router.get("/account")
    async def get_account(request: Request) -> Response:
        return _json(state.account())

    # ------------------------------------------------------------------ everything else: Brevo-shaped 404 / 405

    known = [route for route in router.routes if isinstance(route, APIRoute)]

    @router.api_route("/{path:path}", methods=_ALL_METHODS, include_in_schema=False)
    async def not_found(path: str, request: Request) -> Response:
        target = "/" + path
        if any(route.path_regex.match(target) for route in known):
            # spec's own example message for method_not_allowed
            raise MethodNotAllowed(f"{request.method} Method is not allowed on this path")
        raise PathNotFound(f"Invalid path {target}")

    return router


# --------------------------------------------------------------------------------------------------------------
# Control router
# --------------------------------------------------------------------------------------------------------------


def build_control_router(state: BrevoState) -> APIRouter:
    """Sandbox-only routes for tests, relative to ``/_sandbox/brevo`` (see the module docstring)."""
    router = APIRouter(route_class=_route_class(state, auth=False))

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
    async def all_contacts() -> Response:
        contacts = state.all_contacts()
        return _json({"contacts": contacts, "count": len(contacts)})

    @router.get("/events")
    async def all_events() -> Response:
        events = state.stored_events()
        return _json({"events": events, "count": len(events)})

    @router.get("/objects/{object_type}/records")
    async def all_records(object_type: str) -> Response:
        records = state.all_object_records(object_type)
        return _json({"records": records, "count": len(records)})

    @router.post("/objects/types")
    async def create_object_type(request: Request) -> Response:
        body = await _obj(request)
        state.create_object_type(body.get("name"), body.get("attributes", []))
        return _json({"name": body["name"]}, 201)

    @router.get("/faults")
    async def get_faults() -> Response:
        return _json({"faults": state.fault_rules()})

    @router.post("/faults")
    async def add_fault(request: Request) -> Response:
        return _json(state.add_fault(await _obj(request)), 201)

    @router.delete("/faults")
    async def clear_faults() -> Response:
        state.clear_faults()
        return _empty(204)

    @router.get("/processes/settings")
    async def get_settings() -> Response:
        return _json(dict(state.process_settings))

    @router.post("/processes/settings")
    async def set_settings(request: Request) -> Response:
        return _json(state.set_process_settings(await _obj(request)))

    @router.post("/processes/complete")
    async def complete_processes() -> Response:
        return _json({"completed": state.complete_all_processes()})

    @router.get("/processes/{process_id}")
    async def process_detail(process_id: int) -> Response:
        return _json(state.process_control(process_id))

    @router.post("/reset")
    async def reset() -> Response:
        state.reset()
        state.seed(random.Random(0))
        return _empty(204)

    @router.post("/seed")
    async def seed(request: Request) -> Response:
        body = await _obj(request)
        rng = random.Random(body.get("seed", 0))
        state.seed(rng)
        n = body.get("contacts", 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise InvalidParameter("contacts must be an integer >= 0")
        ids = state.seed_contacts(rng, n)
        return _json({"contact_ids": [ids[0], ids[-1]] if ids else [], "count": len(ids)}, 201)

    return router


def build_standalone_app(state: BrevoState) -> FastAPI:
    """A FastAPI app serving only the Brevo emulation (``/brevo/v3`` + ``/_sandbox/brevo``), for isolated tests."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(build_router(state), prefix="/brevo/v3")
    app.include_router(build_control_router(state), prefix="/_sandbox/brevo")
    return app
