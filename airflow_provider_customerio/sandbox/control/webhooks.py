"""Control routes for Customer.io's reporting webhooks, relative to ``/_sandbox/webhooks``.

``POST /emit`` signs and sends events to a loopback receiver (:func:`~..webhook_emitter.emit_webhooks`); ``GET /last``
answers the report of the last emission (kept on ``app.state.webhooks_last``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from airflow_provider_customerio.sandbox.webhook_emitter import check_url, emit_webhooks

router = APIRouter()

_INT_FIELDS = (
    ("count", 10),
    ("duplicates", 0),
    ("replays", 0),
    ("bad_signatures", 0),
    ("malformed", 0),
    ("oversized", 0),
    ("seed", 0),
    ("concurrency", 1),
)


def _error(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


@router.post("/emit")
async def emit(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error("body must be JSON")
    if not isinstance(body, dict):
        return _error("body must be a JSON object")
    url, key = body.get("url"), body.get("signing_key")
    if not isinstance(url, str) or not isinstance(key, str) or not key:
        return _error("url and signing_key (strings) are required")
    ints: dict[str, int] = {}
    for name, default in _INT_FIELDS:
        value = body.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 100_000:
            return _error(f"{name}: {value!r} must be an integer between 0 and 100000")
        ints[name] = value
    try:
        check_url(url)
    except ValueError as exc:
        return _error(str(exc))
    report = await run_in_threadpool(
        lambda: emit_webhooks(url, key, ints.pop("count"), concurrency=max(1, ints.pop("concurrency")), **ints)
    )
    last: dict[str, Any] = {**report.as_dict(), "events": list(report.events.values())}
    request.app.state.webhooks_last = last
    return JSONResponse(last)


@router.get("/last")
async def last(request: Request) -> JSONResponse:
    return JSONResponse(getattr(request.app.state, "webhooks_last", None) or {"sent": 0})
