"""Control-plane routes under ``/_sandbox``: reset, seed, faults, clock, lag, rate limits and the request log (and
its read-only counts per status, ``GET /requests/counts``).

All bodies are JSON; a bad body answers 400 ``{"error": "<field>: <what is wrong and the fix>"}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from airflow_provider_customerio.sandbox.control.common import ControlError, Ctx, read_body
from airflow_provider_customerio.sandbox.customerio.errors import json_response
from airflow_provider_customerio.sandbox.faults import parse_fault
from airflow_provider_customerio.sandbox.seed import SeedParams

router = APIRouter()


@router.get("/info")
async def info(ctx: Ctx) -> Response:
    return json_response(ctx.info)


@router.post("/reset")
async def reset(ctx: Ctx) -> Response:
    return json_response({"reset": True, "seed": ctx.reset()})


@router.post("/seed")
async def seed(request: Request, ctx: Ctx) -> Response:
    try:
        params = SeedParams.parse(await read_body(request))
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return json_response(ctx.seed(params))


@router.get("/faults")
async def faults(ctx: Ctx) -> Response:
    return json_response({"faults": [r.describe() for r in ctx.faults.rules]})


@router.post("/faults")
async def add_fault(request: Request, ctx: Ctx) -> Response:
    body = await read_body(request)
    specs = body if isinstance(body, list) else [body]
    try:
        rules = [parse_fault(s) for s in specs]
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    for rule in rules:
        ctx.faults.add(rule)
    return json_response({"faults": [r.describe() for r in ctx.faults.rules]}, 201)


@router.delete("/faults")
async def clear_faults(ctx: Ctx) -> Response:
    ctx.faults.clear()
    return Response(status_code=204)


@router.get("/clock")
async def get_clock(ctx: Ctx) -> Response:
    return json_response(ctx.clock.describe())


@router.put("/clock")
async def put_clock(request: Request, ctx: Ctx) -> Response:
    try:
        ctx.clock.configure(await read_body(request))
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return json_response(ctx.clock.describe())


@router.post("/clock/advance")
async def advance_clock(request: Request, ctx: Ctx) -> Response:
    body = await read_body(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise ControlError('seconds: must be a number >= 0, e.g. {"seconds": 60}')
    ctx.clock.advance(float(seconds))
    ctx.background()
    return json_response(ctx.clock.describe())


@router.get("/lag")
async def get_lag(ctx: Ctx) -> Response:
    return json_response(ctx.lag())


@router.put("/lag")
async def put_lag(request: Request, ctx: Ctx) -> Response:
    try:
        return json_response(ctx.set_lag(await read_body(request)))
    except ValueError as exc:
        raise ControlError(str(exc)) from None


@router.get("/ratelimits")
async def get_limits(ctx: Ctx) -> Response:
    return json_response(ctx.limiter.describe())


@router.put("/ratelimits")
async def put_limits(request: Request, ctx: Ctx) -> Response:
    try:
        ctx.limiter.configure(await read_body(request))
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return json_response(ctx.limiter.describe())


@router.get("/requests/counts")
async def request_counts(ctx: Ctx) -> Response:
    """Read-only: requests answered since the log was last cleared, per status and per vendor (not capped like the
    log), e.g. ``{"total": 92, "by_status": {"200": 90, "429": 2}, "by_vendor": {"brevo": {"202": 43}}}``."""
    return json_response(ctx.log.counts())


@router.get("/requests")
async def requests_log(request: Request, ctx: Ctx) -> Response:
    q = request.query_params
    entries = ctx.log.entries(q.get("vendor"), q.get("path_contains"))
    return json_response({"requests": entries, "count": len(entries)})


@router.delete("/requests")
async def clear_requests(ctx: Ctx) -> Response:
    ctx.log.clear()
    return Response(status_code=204)
