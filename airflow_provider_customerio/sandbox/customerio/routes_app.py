"""Customer.io App API routes (``/v1/...``) on :data:`router`, mounted under ``/app`` and ``/app-eu``; plus the
export file route on :data:`files_router`.

Handlers only parse requests and shape JSON. Live quirks reproduced (docs/vendor-behaviour.md): flat batch
attribute items, ``null`` arrays and ``next: ""`` for empty membership/search results, ``""`` in ``ids`` for
people without an id, newest-first activities and messages, inclusive message windows, unknown ids omitted.
"""

from __future__ import annotations

import bisect
import csv
import hmac
import io
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from airflow_provider_customerio.sandbox.core import decode_cursor, encode_cursor
from airflow_provider_customerio.sandbox.customerio.errors import AppBadRequest, AppNotFound, json_response
from airflow_provider_customerio.sandbox.customerio.models import (
    MESSAGE_METRICS,
    Export,
    ObjectRecord,
    Segment,
    stringify,
)
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState

PERIODS = {
    "hours": (3600, 24, 24),
    "days": (86400, 45, 45),
    "weeks": (7 * 86400, 12, 12),
    "months": (30 * 86400, 121, 12),
}
RES = {
    "hours": 3600,
    "hourly": 3600,
    "days": 86400,
    "daily": 86400,
    "weeks": 7 * 86400,
    "weekly": 7 * 86400,
    "months": 30 * 86400,
    "monthly": 30 * 86400,
}
ID_TYPES = ("id", "email", "phone", "cio_id")


def int_param(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AppBadRequest(f"{name}: {raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise AppBadRequest(f"{name}: {value} is out of range; use {lo}..{hi}")
    return value


def cursor(request: Request) -> int:
    try:
        return decode_cursor(request.query_params.get("start"))
    except ValueError as exc:
        raise AppBadRequest(str(exc)) from None


def bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")


async def body_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise AppBadRequest("request body is not valid JSON") from None


def page(items: list[Any], nxt: int | None) -> str:
    return encode_cursor(nxt) if nxt is not None else ""


async def customerio_state(request: Request) -> CustomerIOState:
    """FastAPI dependency: the Customer.io state (``app.state.cio``)."""
    state: CustomerIOState = request.app.state.cio
    return state


Cio = Annotated[CustomerIOState, Depends(customerio_state)]

#: App API routes, mounted under ``/app`` and ``/app-eu``.
router = APIRouter()
#: ``GET /files/exports/{id}.csv?sig=...``: the signed export file (no auth header, like a signed S3 URL).
files_router = APIRouter()


def id_type_param(request: Request, default: str = "id") -> str:
    id_type = request.query_params.get("id_type", default)
    if id_type not in ID_TYPES:
        raise AppBadRequest(f"id_type: {id_type!r} must be one of id, email, phone, cio_id")
    return id_type


def identifier_list(state: CustomerIOState, idxs: list[int]) -> dict[str, Any]:
    """``identifiers``/``ids`` of a result page; an empty page gives null arrays (live quirk)."""
    if not idxs:
        return {"identifiers": None, "ids": None}
    idents = [state.identifiers(i) for i in idxs]
    return {"identifiers": idents, "ids": [x["id"] or "" for x in idents]}


# ------------------------------------------------------------------------------------ campaigns


def campaign_or_404(state: CustomerIOState, campaign_id: str) -> dict[str, Any]:
    c = state.campaigns.get(int(campaign_id)) if campaign_id.isdigit() else None
    if c is None:
        raise AppNotFound(f"campaign {campaign_id} not found")
    return c


@router.get("/v1/campaigns")
async def campaigns(state: Cio) -> Response:
    return json_response({"campaigns": list(state.campaigns.values())})


@router.get("/v1/campaigns/{campaign_id}")
async def campaign(campaign_id: str, state: Cio) -> Response:
    return json_response({"campaign": campaign_or_404(state, campaign_id)})


@router.get("/v1/campaigns/{campaign_id}/actions")
async def campaign_actions(campaign_id: str, state: Cio) -> Response:
    c = campaign_or_404(state, campaign_id)
    actions = [
        {
            "id": str(a["id"]),
            "campaign_id": c["id"],
            "parent_action_id": None,
            "deduplicate_id": f"{a['id']}:{c['updated']}",
            "name": f"Email {n + 1}",
            "layout": "default",
            "created": c["created"],
            "updated": c["updated"],
            "body": "<p>Hello {{customer.first_name}}</p>",
            "language": "",
            "type": a["type"],
            "sending_state": "automatic",
            "from": "team@example.com",
            "from_id": 1,
            "reply_to": None,
            "reply_to_id": None,
            "preprocessor": "premailer",
            "recipient": "{{customer.email}}",
            "subject": f"Update {n + 1}",
            "bcc": "",
            "fake_bcc": False,
            "preheader_text": "",
            "headers": "{}",
        }
        for n, a in enumerate(c["actions"])
    ]  # live returns action ids as strings (docs/vendor-behaviour.md)
    return json_response({"actions": actions, "next": ""})


@router.get("/v1/campaigns/{campaign_id}/metrics")
async def campaign_metrics(request: Request, campaign_id: str, state: Cio) -> Response:
    c = campaign_or_404(state, campaign_id)
    now = state.now()
    q = request.query_params
    mtype = q.get("type")
    if mtype is not None and mtype not in (
        "email",
        "webhook",
        "twilio",
        "whatsapp",
        "slack",
        "push",
        "in_app",
        "live_notification",
        "urban_airship",
    ):
        raise AppBadRequest(f"type: {mtype!r} is not a message type")
    buckets: list[tuple[int, int]] = []
    if q.get("version") == "2":
        res = q.get("res")
        if res not in RES:
            raise AppBadRequest("res: required with version=2; one of hours, days, weeks, months")
        length = RES[res]
        start = int_param(request, "start", None, 0, 2**40)
        end = int_param(request, "end", None, 0, 2**40)
        if start is None or end is None or end < start:
            raise AppBadRequest("start and end: required unix seconds with start <= end (version=2)")
        t = start - start % length
        while t <= end and len(buckets) < 5000:
            buckets.append((t, t + length))
            t += length
    else:
        # v1 (deprecated, the default when version is absent). Days/weeks/months start at 00:00 EST at
        # the vendor; the sandbox aligns to UTC (a documented simplification). steps=1 gives 2 periods,
        # steps=0 the maximum (https://docs.customer.io/api/app/#operation/campaignMetrics).
        period = q.get("period", "days")
        if period not in PERIODS:
            raise AppBadRequest(f"period: {period!r} must be hours, days, weeks or months")
        length, max_steps, default_steps = PERIODS[period]
        steps = int_param(request, "steps", default_steps, 0, max_steps) or max_steps
        steps = max(2, steps)
        current = now - now % length
        buckets = [(current - k * length, current - (k - 1) * length) for k in range(steps - 1, -1, -1)]
    series = {m: [state.metric_sum(c["id"], m, t0, t1) for t0, t1 in buckets] for m in MESSAGE_METRICS}
    return json_response({"metric": {"series": series}})


# ---------------------------------------------------------------------- newsletters and broadcasts
# https://docs.customer.io/api/app/#operation/listNewsletters, #operation/getNewsletterMetrics,
# #operation/listBroadcasts, #operation/broadcastMetrics: metrics by period/steps only (no version 2).


def v1_series(state: CustomerIOState, request: Request, daily: dict[int, dict[str, int]]) -> dict[str, list[int]]:
    q = request.query_params
    mtype = q.get("type")
    if mtype is not None and mtype not in ("email", "webhook", "twilio", "urban_airship", "slack", "push"):
        raise AppBadRequest(f"type: {mtype!r} is not a message type")
    period = q.get("period", "days")
    if period not in PERIODS:
        raise AppBadRequest(f"period: {period!r} must be hours, days, weeks or months")
    length, max_steps, default_steps = PERIODS[period]
    steps = max(2, int_param(request, "steps", default_steps, 0, max_steps) or max_steps)
    now = state.now()
    current = now - now % length
    buckets = [(current - k * length, current - (k - 1) * length) for k in range(steps - 1, -1, -1)]
    return {m: [_daily_sum(daily, m, t0, t1) for t0, t1 in buckets] for m in MESSAGE_METRICS}


def newsletter_or_404(state: CustomerIOState, newsletter_id: str) -> dict[str, Any]:
    n = state.newsletters.get(int(newsletter_id)) if newsletter_id.isdigit() else None
    if n is None:
        raise AppNotFound(f"newsletter {newsletter_id} not found")
    return n


def broadcast_or_404(state: CustomerIOState, broadcast_id: str) -> dict[str, Any]:
    b = state.broadcasts.get(int(broadcast_id)) if broadcast_id.isdigit() else None
    if b is None:
        raise AppNotFound(f"broadcast {broadcast_id} not found")
    return b


@router.get("/v1/newsletters")
async def newsletters(state: Cio) -> Response:
    return json_response({"newsletters": list(state.newsletters.values())})


@router.get("/v1/newsletters/{newsletter_id}")
async def newsletter(newsletter_id: str, state: Cio) -> Response:
    return json_response({"newsletter": newsletter_or_404(state, newsletter_id)})


@router.get("/v1/newsletters/{newsletter_id}/metrics")
async def newsletter_metrics(request: Request, newsletter_id: str, state: Cio) -> Response:
    n = newsletter_or_404(state, newsletter_id)
    return json_response({"metric": {"series": v1_series(state, request, state.newsletter_daily.get(n["id"], {}))}})


@router.get("/v1/broadcasts")
async def broadcasts(state: Cio) -> Response:
    return json_response({"broadcasts": list(state.broadcasts.values())})


@router.get("/v1/broadcasts/{broadcast_id}")
async def broadcast(broadcast_id: str, state: Cio) -> Response:
    return json_response({"broadcast": broadcast_or_404(state, broadcast_id)})


@router.get("/v1/broadcasts/{broadcast_id}/metrics")
async def broadcast_metrics(request: Request, broadcast_id: str, state: Cio) -> Response:
    b = broadcast_or_404(state, broadcast_id)
    return json_response({"metric": {"series": v1_series(state, request, state.broadcast_daily.get(b["id"], {}))}})


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
    idx = state.find("email", email)
    results = [state.identifiers(idx)] if idx is not None else []
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
        p = state.lookup(id_type, str(value))
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
    p = state.lookup(id_type, segs[0])
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


# -------------------------------------------------------------------------------------- exports


def export_or_404(state: CustomerIOState, export_id: str) -> Export:
    exp = state.exports.get(int(export_id)) if export_id.isdigit() else None
    if exp is None:
        raise AppNotFound(f"export {export_id} not found")
    return exp


@router.post("/v1/exports/customers")
async def export_customers(request: Request, state: Cio) -> Response:
    body = await body_json(request)
    flt = body.get("filters") if isinstance(body, dict) else None
    if flt is None:
        raise AppBadRequest('filters: required (note the plural), e.g. {"filters": {"and": [...]}}')
    try:
        state.validate_filter(flt, "filters")
    except ValueError as exc:
        raise AppBadRequest(str(exc)) from None
    attrs = body.get("attributes") or []
    if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
        raise AppBadRequest("attributes: must be an array of attribute names")
    return json_response({"export": state.new_export("customers", flt, attrs).view()})


@router.post("/v1/exports/deliveries")
async def export_deliveries(request: Request, state: Cio) -> Response:
    body = await body_json(request)
    if not isinstance(body, dict):
        raise AppBadRequest("body must be a JSON object")
    parents = [k for k in ("newsletter_id", "campaign_id", "transactional_message_id", "action_id") if k in body]
    if len(parents) != 1:
        raise AppBadRequest("give exactly one of newsletter_id, campaign_id, transactional_message_id, action_id")
    attrs = body.get("attributes") or []
    return json_response({"export": state.new_export("deliveries", body, attrs).view()})


@router.get("/v1/exports")
async def exports(state: Cio) -> Response:
    return json_response({"exports": [e.view() for e in state.exports.values()]})


@router.get("/v1/exports/{export_id}")
async def export(export_id: str, state: Cio) -> Response:
    exp = export_or_404(state, export_id)
    if exp.status == "pending":
        exp.polls += 1
        if exp.due_at is None and exp.polls >= state.settings["export_polls"]:
            state.finish_export(exp)
    return json_response({"export": exp.view()})


@router.get("/v1/exports/{export_id}/download")
async def export_download(request: Request, export_id: str, state: Cio) -> Response:
    exp = export_or_404(state, export_id)
    if exp.status != "done":
        raise AppBadRequest(f"export {exp.id} is {exp.status}; poll GET /v1/exports/{exp.id} until done")
    exp.downloads += 1
    base = str(request.base_url).rstrip("/")
    # A signed link, served by the sandbox itself (the vendor's expires after 15 minutes).
    return json_response({"url": f"{base}/files/exports/{exp.id}.csv?sig={exp.token}"})


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


@files_router.get("/files/exports/{name}")
async def export_file(request: Request, name: str, state: Cio) -> Response:
    export_id = name.removesuffix(".csv")
    exp = state.exports.get(int(export_id)) if export_id.isdigit() else None
    if exp is None or exp.status != "done" or not hmac.compare_digest(request.query_params.get("sig", ""), exp.token):
        return PlainTextResponse("AccessDenied: the signature is invalid or the export is unknown", 403)

    async def rows() -> AsyncIterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if exp.type == "customers":
            writer.writerow(["cio_id", "id", "email", *exp.attributes])
        else:
            writer.writerow(
                [
                    "delivery_id",
                    "campaign_id",
                    "action_id",
                    "cio_id",
                    "customer_id",
                    "recipient",
                    "created",
                    "sent",
                    "delivered",
                    "opened",
                    "clicked",
                    "bounced",
                ]
            )
        for n, key in enumerate(exp.rows):
            if exp.type == "customers":
                p = state.person(key)
                if p is None:
                    continue
                writer.writerow(
                    [
                        p.cio_id,
                        p.id or "",
                        p.email or "",
                        *(stringify(v) if (v := p.attribute(a)) is not None else "" for a in exp.attributes),
                    ]
                )
            else:
                v = state.message_view(key)
                m = v["metrics"]
                writer.writerow(
                    [
                        v["id"],
                        v["campaign_id"],
                        v["action_id"],
                        v["customer_identifiers"]["cio_id"],
                        v["customer_id"],
                        v["recipient"],
                        v["created"],
                        m.get("sent", ""),
                        m.get("delivered", ""),
                        m.get("opened", ""),
                        m.get("clicked", ""),
                        m.get("bounced", ""),
                    ]
                )
            if n % 2000 == 1999:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode()

    return StreamingResponse(rows(), media_type="text/csv")


def _daily_sum(daily: dict[int, dict[str, int]], metric: str, t0: int, t1: int) -> int:
    """Sum of a daily metric over ``[t0, t1)``; part-days are prorated (as campaigns' metrics are)."""
    total = 0.0
    day = t0 - t0 % 86400
    while day < t1:
        values = daily.get(day)
        if values:
            total += values.get(metric, 0) * (min(t1, day + 86400) - max(t0, day)) / 86400
        day += 86400
    return int(round(total))
