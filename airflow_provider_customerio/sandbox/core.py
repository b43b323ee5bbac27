"""Sandbox core: request log, cursors and the outer ASGI layer.

Everything here runs on the server's single event loop, so the state needs no locks. The outer layer
(:class:`SandboxASGI`) classifies a request by path prefix (``/track``, ``/track-eu``, ``/app``, ``/app-eu``,
``/brevo/v3``, ``/_sandbox``, ``/files``), injects faults (:mod:`.faults`), enforces rate limits
(:mod:`.ratelimit`), checks Customer.io region and auth, adds Brevo's ``x-sib-ratelimit-*`` headers and records
the request in the log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.sandbox.brevo.errors import ratelimit_headers, render_error
from airflow_provider_customerio.sandbox.customerio.errors import (
    AppError,
    AppRateLimited,
    AppServerError,
    AppUnauthorized,
    CustomerIOError,
    TrackError,
    TrackRateLimited,
    TrackServerError,
    TrackUnauthorized,
    TrackWrongRegion,
    json_bytes,
)
from airflow_provider_customerio.sandbox.faults import HOLD_ANSWER_S, POST_APPLY_KINDS, FaultRule

if TYPE_CHECKING:
    from airflow_provider_customerio.sandbox.context import SandboxContext

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "cookie", "proxy-authorization", "x-sib-api-key"}
MAX_LOGGED_BODY = 2048


# ---------------------------------------------------------------------------------------------- cursors


def encode_cursor(position: int) -> str:
    """Opaque App API cursor (base64 like the vendor's ``"MDox"``); clients must pass it back verbatim."""
    return base64.b64encode(f"0:{position}".encode()).decode()


def decode_cursor(token: str | None) -> int:
    """Position encoded by :func:`encode_cursor`; raises ``ValueError`` naming the bad token."""
    if not token:
        return 0
    try:
        prefix, _, pos = base64.b64decode(token.encode(), validate=True).decode().partition(":")
        value = int(pos)
        if prefix != "0" or value < 0:
            raise ValueError
        return value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(f"invalid start token {token!r}: pass back the 'next' value of the previous page") from None


# -------------------------------------------------------------------------------------------- request log


def mask_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as a dict, secrets masked (scheme kept: ``Basic ***``, ``Bearer ***``)."""
    out: dict[str, str] = {}
    for raw_k, raw_v in headers:
        k = raw_k.decode("latin-1").lower()
        v = raw_v.decode("latin-1")
        if k in SECRET_HEADERS:
            scheme, sep, _ = v.partition(" ")
            v = f"{scheme} ***" if sep and k in ("authorization", "proxy-authorization") else "***"
        out[k] = v
    return out


# ------------------------------------------------------------------------------------------- ASGI layer


def classify(path: str) -> tuple[str, str | None]:
    """``(vendor, host_region)`` of a path: the region of the Customer.io host alias it came in on."""
    for prefix, vendor, region in (
        ("/track-eu", "track", "eu"),
        ("/track", "track", "us"),
        ("/app-eu", "app", "eu"),
        ("/app", "app", "us"),
    ):
        if path == prefix or path.startswith(prefix + "/"):
            return vendor, region
    if path.startswith("/brevo/") or path == "/brevo":
        return "brevo", None
    if path.startswith("/_sandbox"):
        return "control", None
    if path.startswith("/files/"):
        return "files", None
    return "other", None


def _header(scope: Scope, name: bytes) -> str | None:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def parse_basic(value: str | None) -> tuple[str, str] | None:
    """Decode a Basic header; accepts the standard and the URL-safe base64 alphabet (go-customerio)."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    token = token.strip()
    token += "=" * (-len(token) % 4)
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            text = decoder(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        user, sep, password = text.partition(":")
        if sep:
            return user, password
    return None


async def _send_response(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _drop_connection(send: Send) -> bool:
    """Close the TCP connection with no response (uvicorn: the raw ``send`` is a cycle's bound method)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if cycle is None or transport is None:
        return False
    cycle.disconnected = True  # stops uvicorn from writing its own 500 after the app returns
    cycle.keep_alive = False
    transport.abort()
    return True


class SandboxASGI:
    """Outer ASGI layer wrapping the FastAPI app (gets uvicorn's raw ``send``, needed to drop connections)."""

    def __init__(self, app: Callable[..., Awaitable[None]], ctx: SandboxContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        vendor, host_region = classify(path)
        if vendor in ("control", "other"):
            self.ctx.background()
            await self.app(scope, receive, send)
            return
        self.ctx.clock.tick()
        self.ctx.background()
        started = time.perf_counter()
        method: str = scope["method"]
        entry: dict[str, Any] = {
            "vendor": vendor,
            "method": method,
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": mask_headers(scope.get("headers", [])),
            "status": None,
            "fault": None,
            "ts": time.time(),
        }
        body_parts: list[bytes] = []
        body_size = 0

        async def logging_receive() -> dict[str, Any]:
            nonlocal body_size
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                body_size += len(chunk)
                if sum(map(len, body_parts)) < MAX_LOGGED_BODY:
                    body_parts.append(chunk[:MAX_LOGGED_BODY])
            return message

        brevo_headers: dict[str, str] = {}

        async def logging_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                if brevo_headers:
                    message = dict(message)
                    message["headers"] = list(message.get("headers", [])) + [
                        (k.lower().encode(), v.encode()) for k, v in brevo_headers.items()
                    ]
            await send(message)

        try:
            await self._handle(scope, logging_receive, logging_send, send, vendor, host_region, entry, brevo_headers)
        finally:
            entry["duration"] = round(time.perf_counter() - started, 6)
            entry["body_size"] = body_size
            entry["body"] = b"".join(body_parts)[:MAX_LOGGED_BODY].decode("utf-8", "replace")
            if vendor != "files" or entry["status"] is not None:
                self.ctx.log.add(entry)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_send: Send,
        vendor: str,
        host_region: str | None,
        entry: dict[str, Any],
        brevo_headers: dict[str, str],
    ) -> None:
        ctx = self.ctx
        path: str = scope["path"]
        fault_vendor = "app" if vendor == "files" else vendor
        rule = ctx.faults.pick(fault_vendor, scope["method"], path)
        post_apply: FaultRule | None = None
        if rule is not None and rule.kind in POST_APPLY_KINDS:
            post_apply, rule = rule, None
        if rule is not None:
            entry["fault"] = rule.kind
            kind = rule.kind
            if kind in ("slow", "timeout"):
                await asyncio.sleep(rule.delay_s if rule.delay_s is not None else (0.5 if kind == "slow" else 30.0))
            if kind in ("timeout", "drop"):
                if _drop_connection(raw_send):
                    entry["status"] = 0
                    return
                kind = "503"  # no transport to close (non-uvicorn server): degrade to a 503
            if kind in ("429", "500", "502", "503"):
                await self._render_fault(send, fault_vendor, int(kind), path, brevo_headers)
                return
            if kind == "partial_207":
                scope.setdefault("state", {})["partial_207"] = True
        if vendor == "files":
            await self.app(scope, receive, send)
            return

        decision = ctx.limiter.check(vendor, path)
        if vendor == "brevo":
            brevo_headers.update(ratelimit_headers(decision.limit, decision.remaining, decision.reset_s))
        if decision.retry_after > 0:
            if post_apply is not None:
                post_apply.unfire()
            entry["fault"] = "ratelimit"
            await self._render_fault(send, vendor, 429, path, brevo_headers, math.ceil(decision.retry_after))
            return

        if vendor in ("track", "app"):
            error = self._check_customerio_access(scope, vendor, host_region or "us")
            if error is not None:
                if post_apply is not None:
                    post_apply.unfire()
                await _send_response(send, error.status, json_bytes(error.body()), error.headers())
                return
        if post_apply is None:
            await self.app(scope, receive, send)
            return
        await self._apply_then_fault(post_apply, scope, receive, send, raw_send, vendor, entry, brevo_headers)

    async def _apply_then_fault(
        self,
        rule: FaultRule,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_send: Send,
        vendor: str,
        entry: dict[str, Any],
        brevo_headers: dict[str, str],
    ) -> None:
        """Let the vendor apply the write, then lose its answer: reset, a proxy's 5xx, or a timeout then a reset;
        or hold it (``hold_answer``: the true answer, ``delay_s`` late).

        A write the vendor refused (non-2xx) was not applied: its answer goes through and the fault is given back.
        """
        held: list[dict[str, Any]] = []

        async def hold(message: dict[str, Any]) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = int(start["status"]) if start is not None else 500
        if not 200 <= status < 300:
            rule.unfire()
            for message in held:
                await send(message)
            return
        entry["fault"] = rule.kind
        entry["applied_status"] = status
        rule.applied += 1
        if rule.kind == "hold_answer":
            await asyncio.sleep(rule.delay_s if rule.delay_s is not None else HOLD_ANSWER_S)
            for message in held:
                await send(message)
            return
        if rule.kind == "applied_5xx":
            await self._render_fault(send, vendor, rule.status or 502, scope["path"], brevo_headers)
            return
        if rule.kind == "applied_timeout":
            await asyncio.sleep(rule.delay_s if rule.delay_s is not None else 30.0)
        if _drop_connection(raw_send):
            entry["status"] = 0
            return
        await self._render_fault(send, vendor, 503, scope["path"], brevo_headers)  # no transport: degrade to 503

    def _check_customerio_access(self, scope: Scope, vendor: str, host_region: str) -> CustomerIOError | None:
        ctx = self.ctx
        path: str = scope["path"]
        region = ctx.cio.settings["region"]
        if vendor == "track":
            creds = parse_basic(_header(scope, b"authorization"))
            if creds != (ctx.site_id, ctx.track_api_key):
                return TrackUnauthorized("Unauthorized request: check your Site ID and Track API key")
            if host_region != region and not path.endswith("/api/v1/accounts/region"):
                if region == "eu":
                    # The US host redirects an EU workspace's traffic (301 "wrong datacenter", field-observed).
                    rest = path[len("/track") :]
                    query = scope.get("query_string", b"").decode("latin-1")
                    location = "/track-eu" + rest + (f"?{query}" if query else "")
                    return TrackWrongRegion("wrong datacenter: this workspace is in the eu region", location)
                return TrackUnauthorized("Unauthorized request: this workspace is not in the eu region")
            return None
        auth = _header(scope, b"authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != ctx.app_api_key:
            return AppUnauthorized("Unauthorized: the App API key is missing or invalid")
        if host_region != region:
            # The App API never redirects: a key used against the other region's host gets 401.
            return AppUnauthorized(f"Unauthorized: this key's workspace is in the {region} region")
        return None

    async def _render_fault(
        self,
        send: Send,
        vendor: str,
        status: int,
        path: str,
        brevo_headers: dict[str, str],
        retry_after: int = 1,
    ) -> None:
        if vendor == "brevo":
            if status == 429:
                if not brevo_headers:
                    brevo_headers.update(ratelimit_headers(10, 0, retry_after))
                else:
                    brevo_headers["x-sib-ratelimit-remaining"] = "0"
                response = render_error(429, "Too many requests", "too_many_requests")
            else:
                response = render_error(status, "Internal server error", "internal_error")
            headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
            await _send_response(send, status, bytes(response.body), headers)
            return
        error: CustomerIOError
        if vendor == "track":
            error = (
                TrackRateLimited(retry_after=retry_after)
                if status == 429
                else TrackServerError("internal server error", status)
            )
        else:
            error = (
                AppRateLimited(retry_after=retry_after)
                if status == 429
                else AppServerError("internal server error", status)
            )
        await _send_response(send, error.status, json_bytes(error.body()), error.headers())


__all__ = [
    "AppError",
    "SandboxASGI",
    "TrackError",
    "classify",
    "decode_cursor",
    "encode_cursor",
    "mask_headers",
    "parse_basic",
]
