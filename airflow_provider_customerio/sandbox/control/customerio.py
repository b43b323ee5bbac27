"""Control-plane routes for the Customer.io world: ``/_sandbox/customerio/...`` and ``/_sandbox/state/customerio/...``.

Workspace settings, dynamic segment rules, and read-only views of people, events, objects and segments.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from airflow_provider_customerio.sandbox.control.common import Cio, ControlError, read_body
from airflow_provider_customerio.sandbox.customerio.errors import json_response
from airflow_provider_customerio.sandbox.customerio.models import stringify

router = APIRouter()


@router.get("/customerio/settings")
async def get_settings(cio: Cio) -> Response:
    return json_response(cio.settings)


@router.put("/customerio/settings")
async def put_settings(request: Request, cio: Cio) -> Response:
    body = await read_body(request)
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
        if key == "export_queue_s" and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
            raise ControlError("export_queue_s: must be a number of seconds >= 0")
        if key in ("fail_exports", "wrap_customer_items", "allow_email_update_by_id") and not isinstance(value, bool):
            raise ControlError(f"{key}: must be true or false")
        cio.settings[key] = value
    return json_response(cio.settings)


@router.get("/state/customerio/summary")
async def summary(cio: Cio) -> Response:
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
async def person(request: Request, identifier: str, cio: Cio) -> Response:
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
async def events(request: Request, cio: Cio) -> Response:
    q = request.query_params
    found = cio.events
    if q.get("cio_id"):
        found = [e for e in found if e.get("person_cio_id") == q["cio_id"]]
    if q.get("name"):
        found = [e for e in found if e["name"] == q["name"]]
    return json_response({"events": found, "anonymous_events": cio.anonymous_events, "count": len(found)})


@router.get("/state/customerio/objects/{type_id}/{object_id}")
async def obj(type_id: str, object_id: str, cio: Cio) -> Response:
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
async def segment(segment_id: int, cio: Cio) -> Response:
    seg = cio.segments.get(segment_id)
    if seg is None:
        raise ControlError(f"segment {segment_id} not found", 404)
    members = [i for i in seg.member_list() if i not in cio.deleted]
    return json_response({**seg.view(), "count": len(members), "sample": [cio.identifiers(i) for i in members[:20]]})


@router.put("/customerio/segments/{segment_id}/rule")
async def segment_rule(segment_id: int, request: Request, cio: Cio) -> Response:
    """Make a segment dynamic: ``{"attribute": "plan", "equals": "pro"}``; rebuilt as attributes change."""
    try:
        seg = cio.set_segment_rule(segment_id, await read_body(request))
    except KeyError:
        raise ControlError(f"segment {segment_id} not found", 404) from None
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return json_response({**seg.view(), "rule": seg.rule, "count": len(seg.members)})


@router.get("/state/customerio/people")
async def people_sample(request: Request, cio: Cio) -> Response:
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
