"""Customer.io App API reporting routes: campaigns, newsletters and broadcasts with their metrics, and exports.

:data:`router` is included in :data:`.routes_app.router` (so mounted under ``/app`` and ``/app-eu``);
:data:`files_router` serves the signed export file ``GET /files/exports/{id}.csv?sig=...`` (no auth header, like
a signed S3 URL).
"""

from __future__ import annotations

import csv
import hmac
import io
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from airflow_provider_customerio.sandbox.customerio.errors import AppBadRequest, AppNotFound, json_response
from airflow_provider_customerio.sandbox.customerio.models import (
    MESSAGE_METRICS,
    Export,
    stringify,
)
from airflow_provider_customerio.sandbox.customerio.params import Cio, body_json, int_param
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

router = APIRouter()
files_router = APIRouter()


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
    most = state.settings["max_filter_conditions"]
    if most and state.count_conditions(flt) > most:
        raise AppBadRequest(
            f"filters: {state.count_conditions(flt)} conditions; at most {most} per export (split the people "
            "into several exports)"
        )
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


_DELIVERY_COLUMNS = [
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


def _export_header(exp: Export) -> list[str]:
    """The CSV header row of an export: people's identifiers and chosen attributes, or the delivery columns."""
    if exp.type == "customers":
        return ["cio_id", "id", "email", *exp.attributes]
    return list(_DELIVERY_COLUMNS)


def _export_row(state: CustomerIOState, exp: Export, key: Any) -> list[Any] | None:
    """One CSV row of an export (None: the person is gone, as reads see them under the people lag)."""
    if exp.type == "customers":
        p = state.read_person(key)  # as reads see them (the people lag)
        if p is None:
            return None
        return [
            p.cio_id,
            p.id or "",
            p.email or "",
            *(stringify(v) if (v := p.attribute(a)) is not None else "" for a in exp.attributes),
        ]
    v = state.message_view(key)
    m = v["metrics"]
    return [
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


@files_router.get("/files/exports/{name}")
async def export_file(request: Request, name: str, state: Cio) -> Response:
    export_id = name.removesuffix(".csv")
    exp = state.exports.get(int(export_id)) if export_id.isdigit() else None
    if exp is None or exp.status != "done" or not hmac.compare_digest(request.query_params.get("sig", ""), exp.token):
        return PlainTextResponse("AccessDenied: the signature is invalid or the export is unknown", 403)

    async def rows() -> AsyncIterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(_export_header(exp))
        for n, key in enumerate(exp.rows):
            row = _export_row(state, exp, key)
            if row is not None:
                writer.writerow(row)
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
