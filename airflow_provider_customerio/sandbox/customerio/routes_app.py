"""Customer.io App API routes (``/v1/...``) on :data:`router`, mounted under ``/app`` and ``/app-eu``.

Segments, people, activities, messages, objects and workspaces are here; campaigns, newsletters, broadcasts and
exports are in :mod:`.routes_reports` (included in :data:`router`).

Handlers only parse requests and shape JSON. Live quirks reproduced (docs/vendor-behaviour.md): flat batch
attribute items, ``null`` arrays and ``next: ""`` for empty membership/search results, ``""`` in ``ids`` for
people without an id, newest-first activities and messages, inclusive message windows, unknown ids omitted.
"""

from __future__ import annotations

import bisect
import itertools
import time
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from starlette.responses import Response

from airflow_provider_customerio.sandbox.core import encode_cursor
from airflow_provider_customerio.sandbox.customerio import routes_reports
from airflow_provider_customerio.sandbox.customerio.errors import AppBadRequest, AppNotFound, json_response
from airflow_provider_customerio.sandbox.customerio.models import (
    ObjectRecord,
    Segment,
    stringify,
)
from airflow_provider_customerio.sandbox.customerio.params import (
    Cio,
    body_json,
    bool_param,
    cursor,
    id_type_param,
    identifier_list,
    int_param,
    page,
)
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState

#: App API routes, mounted under ``/app`` and ``/app-eu``.
router = APIRouter()


# ------------------------------------------------------------------------------------- segments


def segment_or_404(state: CustomerIOState, segment_id: str) -> Any:
    seg = state.segments.get(int(segment_id)) if segment_id.isdigit() else None
    if seg is None:
        raise AppNotFound(f"segment {segment_id} not found")
    return seg


@router.get("/v1/segments")
async def segments(state: Cio) -> Response:
    return json_response({"segments": [s.view() for s in state.segments.values()]})


@router.post("/v1/segments")
async def create_segment(request: Request, state: Cio) -> Response:
    body = await body_json(request)
    spec = body.get("segment") if isinstance(body, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise AppBadRequest('segment.name: required, e.g. {"segment": {"name": "VIP"}}')
    new_id = max(state.segments, default=0) + 1
    now = int(time.time())
    seg = Segment(
        id=new_id,
        name=spec["name"],
        description=str(spec.get("description", "")),
        type="manual",
        created_at=now,
        updated_at=now,
    )
    state.segments[new_id] = seg
    return json_response({"segment": seg.view()})


@router.get("/v1/segments/{segment_id}")
async def segment(segment_id: str, state: Cio) -> Response:
    return json_response({"segment": segment_or_404(state, segment_id).view()})


@router.delete("/v1/segments/{segment_id}")
async def delete_segment(segment_id: str, state: Cio) -> Response:
    seg = segment_or_404(state, segment_id)
    del state.segments[seg.id]
    return Response(status_code=204)


@router.get("/v1/segments/{segment_id}/customer_count")
async def segment_count(segment_id: str, state: Cio) -> Response:
    seg = segment_or_404(state, segment_id)
    count = sum(1 for i in seg.member_list() if i not in state.deleted)
    return json_response({"count": count})


@router.get("/v1/segments/{segment_id}/used_by")
async def segment_used_by(segment_id: str, state: Cio) -> Response:
    seg = segment_or_404(state, segment_id)
    used = [c["id"] for c in state.campaigns.values() if seg.id in c.get("trigger_segment_ids", [])]
    return json_response({"used_by": {"campaigns": used, "sent_newsletters": [], "draft_newsletters": []}})


@router.get("/v1/segments/{segment_id}/membership")
async def membership(request: Request, segment_id: str, state: Cio) -> Response:
    seg = segment_or_404(state, segment_id)
    limit = int_param(request, "limit", 1000, 1, 30000) or 1000
    pos = cursor(request)
    members = seg.member_list()
    out: list[int] = []
    nxt: int | None = None
    deleted = state.deleted
    while pos < len(members):
        idx = members[pos]
        if len(out) >= limit:
            nxt = pos
            break
        pos += 1
        if idx not in deleted:
            out.append(idx)
    return json_response({**identifier_list(state, out), "next": page(out, nxt)})


# --------------------------------------------------------------------------------------- people


@router.post("/v1/customers")
async def search(request: Request, state: Cio) -> Response:
    limit = int_param(request, "limit", 50, 1, 1000) or 50
    start = cursor(request)
    body = await body_json(request)
    flt = body.get("filter") if isinstance(body, dict) else None
    if flt is None:
        raise AppBadRequest(
            'filter: required, e.g. {"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}}'
        )
    try:
        state.validate_filter(flt)
    except ValueError as exc:
        raise AppBadRequest(str(exc)) from None
    idxs, nxt = state.search(flt, start, limit)
    return json_response({**identifier_list(state, idxs), "next": page(idxs, nxt)})


@router.get("/v1/customers")
async def by_email(request: Request, state: Cio) -> Response:
    email = request.query_params.get("email")
    if not email:
        raise AppBadRequest("email: required query parameter")
    p = state.read_lookup("email", email)
    results = [p.identifiers()] if p is not None else []
    return json_response({"results": results})


@router.post("/v1/customers/attributes")
async def batch_attributes(request: Request, state: Cio) -> Response:
    id_type = id_type_param(request)
    body = await body_json(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise AppBadRequest("ids: must be an array of 1 to 100 identifiers of the id_type type")
    out, seen = [], set()
    for value in ids:
        p = state.read_lookup(id_type, str(value))
        if p is None or p.idx in seen:
            continue  # unknown ids are omitted with 200 (live)
        seen.add(p.idx)
        item = p.app_view()
        out.append({"customer": item} if state.settings["wrap_customer_items"] else item)
    return json_response({"customers": out})


@router.get("/v1/customers/{rest:path}")
async def customer_paths(request: Request, rest: str, state: Cio) -> Response:
    raw = (request.scope.get("raw_path") or b"").decode("latin-1").split("?", 1)[0]
    segs = [unquote(s) for s in raw.partition("/v1/customers/")[2].split("/")]
    if len(segs) != 2 or not segs[0]:
        raise AppNotFound("Not Found")
    id_type = id_type_param(request)
    p = state.read_lookup(id_type, segs[0])
    if p is None:
        raise AppNotFound(f"customer {segs[0]!r} ({id_type}) not found")
    what = segs[1]
    if what == "attributes":
        return json_response({"customer": p.app_view()})
    if what == "segments":
        found = [
            {"id": s.id, "name": s.name, "description": s.description}
            for s in state.segments.values()
            if s.contains(p.idx)
        ]
        return json_response({"segments": found})
    if what == "activities":
        limit = int_param(request, "limit", 10, 1, 100) or 10
        return activities_page(state, request, limit, customer_idx=p.idx)
    if what == "messages":
        limit = int_param(request, "limit", 50, 1, 1000) or 50
        return messages_page(state, request, limit, customer_idx=p.idx)
    if what == "relationships":
        limit = int_param(request, "limit", 50, 1, 1000) or 50
        rels = state.person_relationships(p.idx)
        start = cursor(request)
        chunk = rels[start : start + limit]
        items = [
            {
                "object_type_id": rec.type_id,
                "identifiers": {"object_id": rec.object_id, "cio_object_id": rec.cio_object_id},
                "attributes": {k: stringify(v) for k, v in attrs.items()},
                "timestamps": {},
            }
            for rec, attrs in chunk
        ]
        nxt = start + limit if start + limit < len(rels) else None
        return json_response({"cio_relationships": items, "next": page(items, nxt)})
    raise AppNotFound("Not Found")


# ----------------------------------------------------------------------------------- activities


def activities_page(state: CustomerIOState, request: Request, limit: int, customer_idx: int | None = None) -> Response:
    q = request.query_params
    token = q.get("start")
    top = None
    if token:
        top = cursor(request)
    items: list[dict[str, Any]] = []
    nxt: int | None = None
    for seq, act in state.iter_activities(
        top,
        q.get("type") or None,
        q.get("name") or None,
        deleted=bool_param(request, "deleted") or customer_idx is not None,
        customer_idx=customer_idx,
    ):
        if len(items) >= limit:
            nxt = seq + 1
            break
        items.append(state.activity_view(seq, act))
    return json_response({"activities": items, "next": encode_cursor(nxt) if nxt is not None else ""})


@router.get("/v1/activities")
async def activities(request: Request, state: Cio) -> Response:
    limit = int_param(request, "limit", 10, 1, 100) or 10
    customer_id = request.query_params.get("customer_id")
    idx = None
    if customer_id:
        idx = state.find(id_type_param(request), customer_id)
        if idx is None:
            return json_response({"activities": [], "next": ""})
    return activities_page(state, request, limit, customer_idx=idx)


# ------------------------------------------------------------------------------------- messages


def messages_page(state: CustomerIOState, request: Request, limit: int, customer_idx: int | None = None) -> Response:
    start_ts = int_param(request, "start_ts", 0, 0, 2**40) or 0
    end_ts = int_param(request, "end_ts", 2**40, 0, 2**40)
    assert end_ts is not None
    lo = bisect.bisect_left(state.message_created, start_ts)
    hi = bisect.bisect_right(state.message_created, end_ts)  # both bounds inclusive (live)
    if request.query_params.get("start"):
        hi = min(hi, cursor(request))
    q = request.query_params
    campaign_id = q.get("campaign_id")
    action_id = q.get("action_id")
    mtype = q.get("type")
    metric = q.get("metric")
    items: list[dict[str, Any]] = []
    nxt: int | None = None
    pos = hi - 1
    while pos >= lo:
        m = state.messages[pos]
        if len(items) >= limit:
            nxt = pos + 1
            break
        pos -= 1
        if customer_idx is not None and m[1] != customer_idx:
            continue
        if campaign_id and str(m[2]) != campaign_id:
            continue
        if action_id and str(m[3]) != action_id:
            continue
        if mtype and m[4] != mtype:
            continue
        view = state.message_view(pos + 1)
        if metric and metric not in view["metrics"]:
            continue
        items.append(view)
    return json_response({"messages": items, "next": encode_cursor(nxt) if nxt is not None else ""})


@router.get("/v1/messages")
async def messages(request: Request, state: Cio) -> Response:
    limit = int_param(request, "limit", 50, 1, 1000) or 50
    return messages_page(state, request, limit)


@router.get("/v1/messages/{message_id}")
async def message(message_id: str, state: Cio) -> Response:
    if message_id.startswith("dgOq"):
        try:
            seq = int(message_id[4:], 16)
        except ValueError:
            seq = -1
        if 1 <= seq <= len(state.messages):
            return json_response({"message": state.message_view(seq - 1)})
    raise AppNotFound(f"message {message_id} not found")


# -------------------------------------------------------------------------------------- objects


@router.get("/v1/object_types")
async def object_types(state: Cio) -> Response:
    return json_response({"types": state.object_types})


@router.post("/v1/objects")
async def objects(request: Request, state: Cio) -> Response:
    limit = int_param(request, "limit", 50, 1, 1000) or 50
    start = cursor(request)
    body = await body_json(request)
    type_id = str(body.get("object_type_id", "")) if isinstance(body, dict) else ""
    flt = body.get("filter") if isinstance(body, dict) else None
    if not type_id or flt is None:
        raise AppBadRequest("object_type_id and filter: both required")
    recs = [r for (t, _), r in state.objects.items() if t == type_id]
    out: list[ObjectRecord] = []
    nxt: int | None = None
    try:
        for pos in range(start, len(recs)):
            if len(out) >= limit:
                nxt = pos
                break
            if state.object_matches(recs[pos], flt):
                out.append(recs[pos])
    except (ValueError, AttributeError, TypeError) as exc:
        raise AppBadRequest(f"filter: {exc}") from None
    if not out:
        return json_response({"identifiers": None, "ids": None, "next": ""})
    return json_response(
        {
            "identifiers": [{"object_id": r.object_id, "cio_object_id": r.cio_object_id} for r in out],
            "ids": [r.object_id for r in out],
            "next": page(out, nxt),
        }
    )


def object_or_404(state: CustomerIOState, request: Request, type_id: str, object_id: str) -> Any:
    id_type = request.query_params.get("id_type", "object_id")
    if id_type == "cio_object_id":
        key = state.objects_by_cio.get(object_id)
        rec = state.objects.get(key) if key and key[0] == type_id else None
    else:
        rec = state.objects.get((type_id, object_id))
    if rec is None:
        raise AppNotFound(f"object {object_id!r} of type {type_id} not found")
    return rec


@router.get("/v1/objects/{type_id}/{object_id}/attributes")
async def object_attributes(request: Request, type_id: str, object_id: str, state: Cio) -> Response:
    rec = object_or_404(state, request, type_id, object_id)
    return json_response(
        {
            "object": {
                "attributes": {k: stringify(v) for k, v in rec.attrs.items()} | {"object_id": rec.object_id},
                "timestamps": dict(rec.timestamps),
                "identifiers": {"object_id": rec.object_id, "cio_object_id": rec.cio_object_id},
                "object_type_id": rec.type_id,
            }
        }
    )


@router.get("/v1/objects/{type_id}/{object_id}/relationships")
async def object_relationships(request: Request, type_id: str, object_id: str, state: Cio) -> Response:
    rec = object_or_404(state, request, type_id, object_id)
    limit = int_param(request, "limit", 50, 1, 1000) or 50
    start = cursor(request)
    rels = list(itertools.islice(state.object_relationships(rec), start, start + limit + 1))
    more = len(rels) > limit
    items = [
        {
            "identifiers": state.identifiers(idx),
            "relationship_attributes": {k: stringify(v) for k, v in attrs.items()},
        }
        for idx, attrs in rels[:limit]
    ]
    return json_response({"cio_relationships": items, "next": encode_cursor(start + limit) if more else ""})


@router.get("/v1/workspaces")
async def workspaces(state: Cio) -> Response:
    return json_response(
        {
            "workspaces": [
                {
                    "id": state.settings["environment_id"],
                    "name": "Sandbox workspace",
                    "messages_sent": len(state.messages),
                    "billable_messages_sent": len(state.messages),
                    "people": state.count_people(),
                    "object_types": len(state.object_types),
                    "objects": len(state.objects),
                }
            ]
        }
    )


router.include_router(routes_reports.router)
