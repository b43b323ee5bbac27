"""Control-plane routes under ``/_sandbox``: reset, seed, faults, rate limits, request log, state inspection.

All bodies are JSON; a bad body answers 400 ``{"error": "<field>: <what is wrong and the fix>"}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from airflow_provider_customerio.sandbox.core import parse_fault
from airflow_provider_customerio.sandbox.customerio_errors import json_response
from airflow_provider_customerio.sandbox.customerio_state import CustomerIOState, stringify
from airflow_provider_customerio.sandbox.seed import SeedParams

if TYPE_CHECKING:
    from airflow_provider_customerio.sandbox.server import SandboxContext


class ControlError(Exception):
    """A bad control-plane request; rendered as 400/404 ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def render(self) -> Response:
        return json_response({"error": self.message}, self.status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ControlError("body: not valid JSON") from None


def build_control_router(ctx: SandboxContext) -> APIRouter:
    """Routes relative to ``/_sandbox``."""
    router = APIRouter()
    cio: CustomerIOState = ctx.cio

    @router.get("/info")
    async def info() -> Response:
        return json_response(ctx.info)

    @router.post("/reset")
    async def reset() -> Response:
        return json_response({"reset": True, "seed": ctx.reset()})

    @router.post("/seed")
    async def seed(request: Request) -> Response:
        try:
            params = SeedParams.parse(await _body(request))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return json_response(ctx.seed(params))

    @router.get("/faults")
    async def faults() -> Response:
        return json_response({"faults": [r.describe() for r in ctx.faults.rules]})

    @router.post("/faults")
    async def add_fault(request: Request) -> Response:
        body = await _body(request)
        specs = body if isinstance(body, list) else [body]
        try:
            rules = [parse_fault(s) for s in specs]
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        for rule in rules:
            ctx.faults.add(rule)
        return json_response({"faults": [r.describe() for r in ctx.faults.rules]}, 201)

    @router.delete("/faults")
    async def clear_faults() -> Response:
        ctx.faults.clear()
        return Response(status_code=204)

    @router.get("/clock")
    async def get_clock() -> Response:
        return json_response(ctx.clock.describe())

    @router.put("/clock")
    async def put_clock(request: Request) -> Response:
        try:
            ctx.clock.configure(await _body(request))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return json_response(ctx.clock.describe())

    @router.post("/clock/advance")
    async def advance_clock(request: Request) -> Response:
        body = await _body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise ControlError('seconds: must be a number >= 0, e.g. {"seconds": 60}')
        ctx.clock.advance(float(seconds))
        ctx.background()
        return json_response(ctx.clock.describe())

    @router.get("/lag")
    async def get_lag() -> Response:
        return json_response(ctx.lag())

    @router.put("/lag")
    async def put_lag(request: Request) -> Response:
        try:
            return json_response(ctx.set_lag(await _body(request)))
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    @router.get("/ratelimits")
    async def get_limits() -> Response:
        return json_response(ctx.limiter.describe())

    @router.put("/ratelimits")
    async def put_limits(request: Request) -> Response:
        try:
            ctx.limiter.configure(await _body(request))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return json_response(ctx.limiter.describe())

    @router.get("/requests")
    async def requests_log(request: Request) -> Response:
        q = request.query_params
        entries = ctx.log.entries(q.get("vendor"), q.get("path_contains"))
        return json_response({"requests": entries, "count": len(entries)})

    @router.delete("/requests")
    async def clear_requests() -> Response:
        ctx.log.clear()
        return Response(status_code=204)

    # ------------------------------------------------------------------------------ Customer.io state

    @router.get("/customerio/settings")
    async def get_settings() -> Response:
        return json_response(cio.settings)

    @router.put("/customerio/settings")
    async def put_settings(request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise ControlError('body: must be an object, e.g. {"region": "eu"}')
        for key, value in body.items():
            if key not in cio.settings:
                raise ControlError(f"{key}: unknown setting; known: {', '.join(cio.settings)}")
            if key == "region" and value not in ("us", "eu"):
                raise ControlError(f"region: {value!r} must be us or eu")
            if key == "export_polls" and (not isinstance(value, int) or value < 0):
                raise ControlError("export_polls: must be an integer >= 0")
            if key in ("search_scan_budget", "environment_id") and (not isinstance(value, int) or value < 1):
                raise ControlError(f"{key}: must be an integer >= 1")
            if (
                key == "export_rate_per_s"
                and value is not None
                and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0)
            ):
                raise ControlError("export_rate_per_s: must be a number of people per second > 0, or null")
            if key == "export_queue_s" and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0
            ):
                raise ControlError("export_queue_s: must be a number of seconds >= 0")
            if key in ("fail_exports", "wrap_customer_items", "allow_email_update_by_id") and not isinstance(
                value, bool
            ):
                raise ControlError(f"{key}: must be true or false")
            cio.settings[key] = value
        return json_response(cio.settings)

    @router.get("/state/customerio/summary")
    async def summary() -> Response:
        return json_response(
            {
                "people": cio.count_people(),
                "seeded_people": cio.n_seeded,
                "materialised_people": len(cio.overlay),
                "deleted_people": len(cio.deleted),
                "events": len(cio.events),
                "anonymous_events": len(cio.anonymous_events),
                "activities": len(cio.activities),
                "messages": len(cio.messages),
                "segments": len(cio.segments),
                "campaigns": len(cio.campaigns),
                "exports": len(cio.exports),
                "objects": len(cio.objects),
                "suppressed": sorted(cio.suppressed),
                "failed_attribute_changes": cio.failed_attribute_changes,
            }
        )

    @router.get("/state/customerio/people/{identifier:path}")
    async def person(request: Request, identifier: str) -> Response:
        id_type = request.query_params.get("id_type")
        if id_type is None:
            kind, value, idx = cio.find_by_path(identifier)
        else:
            if id_type not in ("id", "email", "phone", "cio_id"):
                raise ControlError(f"id_type: {id_type!r} must be id, email, phone or cio_id")
            idx = cio.find(id_type, identifier.removeprefix("cio_") if id_type == "cio_id" else identifier)
        p = cio.person(idx) if idx is not None else None
        if p is None:
            raise ControlError(f"person {identifier!r} not found", 404)
        data = p.typed()
        data["segments"] = [s.id for s in cio.segments.values() if s.contains(p.idx)]
        data["relationships"] = [
            {"object_type_id": rec.type_id, "object_id": rec.object_id, "attributes": attrs}
            for rec, attrs in cio.person_relationships(p.idx)
        ]
        return json_response(data)

    @router.get("/state/customerio/events")
    async def events(request: Request) -> Response:
        q = request.query_params
        found = cio.events
        if q.get("cio_id"):
            found = [e for e in found if e.get("person_cio_id") == q["cio_id"]]
        if q.get("name"):
            found = [e for e in found if e["name"] == q["name"]]
        return json_response({"events": found, "anonymous_events": cio.anonymous_events, "count": len(found)})

    @router.get("/state/customerio/objects/{type_id}/{object_id}")
    async def obj(type_id: str, object_id: str) -> Response:
        rec = cio.objects.get((type_id, object_id))
        if rec is None:
            raise ControlError(f"object {type_id}/{object_id} not found", 404)
        rels = [{"identifiers": cio.identifiers(i), "attributes": a} for i, a in rec.relationships.items()]
        return json_response(
            {
                "object_type_id": rec.type_id,
                "object_id": rec.object_id,
                "cio_object_id": rec.cio_object_id,
                "attributes": rec.attrs,
                "explicit_relationships": rels,
            }
        )

    @router.get("/state/customerio/segments/{segment_id}")
    async def segment(segment_id: int) -> Response:
        seg = cio.segments.get(segment_id)
        if seg is None:
            raise ControlError(f"segment {segment_id} not found", 404)
        members = [i for i in seg.member_list() if i not in cio.deleted]
        return json_response(
            {**seg.view(), "count": len(members), "sample": [cio.identifiers(i) for i in members[:20]]}
        )

    @router.put("/customerio/segments/{segment_id}/rule")
    async def segment_rule(segment_id: int, request: Request) -> Response:
        """Make a segment dynamic: ``{"attribute": "plan", "equals": "pro"}``; rebuilt as attributes change."""
        try:
            seg = cio.set_segment_rule(segment_id, await _body(request))
        except KeyError:
            raise ControlError(f"segment {segment_id} not found", 404) from None
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return json_response({**seg.view(), "rule": seg.rule, "count": len(seg.members)})

    @router.get("/state/customerio/people")
    async def people_sample(request: Request) -> Response:
        """First ``limit`` live people (App API view) for quick assertions; ``limit`` <= 1000."""
        try:
            limit = min(1000, max(1, int(request.query_params.get("limit", "20"))))
        except ValueError:
            raise ControlError("limit: must be an integer") from None
        out = []
        for idx in cio.live_indexes():
            p = cio.person(idx)
            if p is not None:
                out.append(
                    {
                        "identifiers": p.identifiers(),
                        "attributes": {k: stringify(v) for k, v in p.attrs.items()},
                        "unsubscribed": p.unsubscribed,
                    }
                )
            if len(out) >= limit:
                break
        return json_response({"people": out, "count": cio.count_people()})

    return router
