"""Sandbox core: request log, fault injection, rate limiting, cursors and the outer ASGI layer.

Everything here runs on the server's single event loop, so the state needs no locks. The outer layer
(:class:`SandboxASGI`) classifies a request by path prefix (``/track``, ``/track-eu``, ``/app``, ``/app-eu``,
``/brevo/v3``, ``/_sandbox``, ``/files``), injects faults, enforces rate limits, checks Customer.io region and
auth, adds Brevo's ``x-sib-ratelimit-*`` headers and records the request in the log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
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

if TYPE_CHECKING:
    from airflow_provider_customerio.sandbox.server import SandboxContext

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

VENDORS = ("track", "app", "brevo")
#: Faults that hit the request before the vendor applies anything.
PRE_APPLY_KINDS = ("429", "500", "502", "503", "slow", "timeout", "drop", "partial_207")
#: Faults that hit a write AFTER the vendor applied it: the answer is lost (connection reset, a proxy's 5xx, or the
#: client's timeout), which is the case where a retry could double a write.
POST_APPLY_KINDS = ("applied_drop", "applied_5xx", "applied_timeout")
#: Faults inside Brevo's own processing, taken by the Brevo state by name (not per request).
STATE_KINDS = ("import_failure", "import_partial", "events_partial_207", "process_stuck", "object_reject")
FAULT_KINDS = PRE_APPLY_KINDS + POST_APPLY_KINDS + STATE_KINDS
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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


class RequestLog:
    """Bounded in-memory log of vendor requests (newest last) for test assertions."""

    def __init__(self, maxlen: int = 50_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0

    def add(self, entry: dict[str, Any]) -> None:
        self._seq += 1
        entry["seq"] = self._seq
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def entries(self, vendor: str | None = None, path_contains: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self._entries
            if (vendor is None or e["vendor"] == vendor) and (path_contains is None or path_contains in e["path"])
        ]


# ------------------------------------------------------------------------------------------------ faults


@dataclass
class FaultRule:
    """One fault-injection rule. ``count`` faults the next N matching requests; ``rate`` a seeded fraction.

    Pre-apply kinds hit any matching request; post-apply kinds only writes (POST/PUT/PATCH/DELETE), and only count
    as fired when the vendor really applied the write (2xx); state kinds are taken by the Brevo state by name.
    """

    vendor: str
    kind: str
    rate: float | None = None
    count: int | None = None
    delay_s: float | None = None
    path_contains: str | None = None
    method: str | None = None
    seed: int = 0
    status: int | None = None
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def matches(self, vendor: str, method: str, path: str) -> bool:
        if self.vendor != "all" and self.vendor != vendor:
            return False
        if self.kind in STATE_KINDS:
            return False
        if self.kind in POST_APPLY_KINDS and method not in WRITE_METHODS:
            return False
        if self.kind == "partial_207" and not (vendor == "track" and path.endswith("/api/v2/batch")):
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        return not (self.method and self.method.upper() != method)

    def fire(self) -> bool:
        if self.count is not None:
            if self.fired >= self.count:
                return False
            self.fired += 1
            return True
        if self._rng.random() < (self.rate or 0.0):
            self.fired += 1
            return True
        return False

    def unfire(self) -> None:
        """A post-apply fault whose write was not applied (a 4xx, a rate limit) is given back."""
        self.fired = max(0, self.fired - 1)

    def describe(self) -> dict[str, Any]:
        remaining = None if self.count is None else max(0, self.count - self.fired)
        return {
            "vendor": self.vendor,
            "kind": self.kind,
            "rate": self.rate,
            "count": self.count,
            "remaining": remaining,
            "delay_s": self.delay_s,
            "path_contains": self.path_contains,
            "method": self.method,
            "seed": self.seed,
            "status": self.status,
            "fired": self.fired,
        }


def parse_fault(spec: dict[str, Any]) -> FaultRule:
    """Validate a ``POST /_sandbox/faults`` body; ``ValueError`` names the field and the fix."""
    if not isinstance(spec, dict):
        raise ValueError('fault must be a JSON object like {"vendor": "app", "kind": "429", "count": 1}')
    vendor = spec.get("vendor", "all")
    if vendor not in (*VENDORS, "all"):
        raise ValueError(f"vendor: {vendor!r} is not one of track, app, brevo, all")
    kind = str(spec.get("kind", ""))
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    rate, count = spec.get("rate"), spec.get("count")
    if (rate is None) == (count is None):
        raise ValueError("give exactly one of rate (0..1) or count (N >= 1)")
    if rate is not None and (not isinstance(rate, (int, float)) or not 0 <= rate <= 1):
        raise ValueError(f"rate: {rate!r} must be a number between 0 and 1")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValueError(f"count: {count!r} must be an integer >= 1")
    delay = spec.get("delay_s")
    if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
        raise ValueError(f"delay_s: {delay!r} must be a number of seconds >= 0")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int):
        raise ValueError(f"seed: {seed!r} must be an integer")
    if kind in STATE_KINDS and vendor not in ("brevo", "all"):
        raise ValueError(f"vendor: {kind} is a Brevo processing fault; use vendor brevo")
    status = spec.get("status")
    if status is not None and (kind != "applied_5xx" or status not in (500, 502, 503, 504)):
        raise ValueError(f"status: {status!r} is only for kind applied_5xx and must be 500, 502, 503 or 504")
    unknown = set(spec) - {"vendor", "kind", "rate", "count", "delay_s", "path_contains", "method", "seed", "status"}
    if unknown:
        raise ValueError(
            f"{sorted(unknown)[0]}: unknown fault field; known: vendor, kind, rate, count, delay_s, "
            "path_contains, method, seed, status"
        )
    return FaultRule(
        vendor=vendor,
        kind=kind,
        rate=float(rate) if rate is not None else None,
        count=count,
        delay_s=float(delay) if delay is not None else None,
        path_contains=spec.get("path_contains"),
        method=spec.get("method"),
        seed=seed,
        status=status,
    )


class FaultInjector:
    """Ordered fault rules; the first rule that matches and fires decides the request's fault."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def clear(self) -> None:
        self.rules.clear()

    def clear_kinds(self, kinds: tuple[str, ...]) -> None:
        self.rules = [r for r in self.rules if r.kind not in kinds]

    def pick(self, vendor: str, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(vendor, method, path) and rule.fire():
                return rule
        return None

    def take(self, vendor: str, kind: str) -> bool:
        """Consume one state fault of ``kind`` (e.g. ``import_failure``) if a rule for it fires."""
        return any(r.kind == kind and r.vendor in (vendor, "all") and r.fire() for r in self.rules)


# -------------------------------------------------------------------------------------------- rate limits


class TokenBucket:
    """Requests per second: capacity ``rate`` tokens, refilled continuously."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, float(rate))  # a rate below 1/s still admits one request, then throttles
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> float:
        """Consume one token; return 0 if allowed, else seconds until one is available."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def remaining(self) -> int:
        return max(0, int(self.tokens))


class WindowCounter:
    """Fixed window (e.g. per hour) counter, the way Brevo reports ``x-sib-ratelimit-reset`` (seconds left)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.start = time.monotonic()
        self.used = 0

    def _roll(self, now: float) -> None:
        if now - self.start >= self.window_s:
            self.start, self.used = now, 0

    def take(self, now: float) -> float:
        self._roll(now)
        if self.used < self.limit:
            self.used += 1
            return 0.0
        return self.reset_s(now)

    def reset_s(self, now: float) -> float:
        return max(0.0, self.window_s - (now - self.start))

    def remaining(self) -> int:
        return max(0, self.limit - self.used)


DEFAULT_LIMITS: dict[str, float | None] = {
    "track": 1000,  # fair use, S1 2026 (older docs: 100/s)
    "app": 10,  # App API 10 requests/s
    "brevo_contacts": 10,
    "brevo_contacts_per_hour": 36_000,
    "brevo_events": 10,
    "brevo_events_per_hour": 36_000,
    "brevo_other_per_hour": 100,
}


@dataclass
class LimitDecision:
    """Outcome of one rate-limit check: ``retry_after`` > 0 means reject; Brevo header figures."""

    retry_after: float = 0.0
    limit: int = 0
    remaining: int = 0
    reset_s: int = 0


class RateLimiter:
    """Per-API limits as the vendors apply them; configurable through ``PUT /_sandbox/ratelimits``."""

    def __init__(self, enabled: bool = True) -> None:
        self.default_enabled = enabled
        self.reset()

    def reset(self) -> None:
        self.enabled = self.default_enabled
        self.limits: dict[str, float | None] = dict(DEFAULT_LIMITS)
        self._rebuild()

    def _rebuild(self) -> None:
        self._buckets: dict[str, TokenBucket | WindowCounter] = {}
        for key, value in self.limits.items():
            if value is None:
                continue
            if key.endswith("_per_hour"):
                self._buckets[key] = WindowCounter(int(value), 3600.0)
            else:
                self._buckets[key] = TokenBucket(float(value))

    def configure(self, spec: dict[str, Any]) -> None:
        if not isinstance(spec, dict):
            raise ValueError('ratelimits body must be a JSON object, e.g. {"app": 10, "enabled": true}')
        for key, value in spec.items():
            if key == "enabled":
                if not isinstance(value, bool):
                    raise ValueError(f"enabled: {value!r} must be true or false")
                self.enabled = value
            elif key in self.limits:
                if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
                    raise ValueError(f"{key}: {value!r} must be a positive number, or null for no limit")
                self.limits[key] = value
            else:
                raise ValueError(f"{key}: unknown limit; known: enabled, {', '.join(self.limits)}")
        self._rebuild()

    def describe(self) -> dict[str, Any]:
        return {"enabled": self.enabled, **self.limits}

    @staticmethod
    def brevo_family(path: str) -> str:
        rest = path.split("/brevo/v3", 1)[-1]
        if rest.startswith("/contacts"):
            return "contacts"
        if rest.startswith("/events"):
            return "events"
        return "other"

    def check(self, vendor: str, path: str) -> LimitDecision:
        now = time.monotonic()
        if vendor in ("track", "app"):
            bucket = self._buckets.get(vendor)
            if bucket is None:
                return LimitDecision()
            wait = bucket.take(now)
            return LimitDecision(retry_after=wait if self.enabled else 0.0)
        if vendor != "brevo":
            return LimitDecision()
        family = self.brevo_family(path)
        keys = [f"brevo_{family}", f"brevo_{family}_per_hour"] if family != "other" else ["brevo_other_per_hour"]
        decision = LimitDecision(limit=0, remaining=0, reset_s=0)
        best: tuple[int, int, int] | None = None  # (remaining, limit, reset) of the most constraining bucket
        wait = 0.0
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            w = bucket.take(now)
            wait = max(wait, w)
            if isinstance(bucket, WindowCounter):
                figures = (bucket.remaining(), bucket.limit, math.ceil(bucket.reset_s(now)))
            else:
                figures = (bucket.remaining(), int(bucket.rate), 1)
            if best is None or figures[0] < best[0]:
                best = figures
        if best is not None:
            decision.remaining, decision.limit, decision.reset_s = best
        decision.retry_after = wait if self.enabled else 0.0
        return decision


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
        """Let the vendor apply the write, then lose its answer: reset, a proxy's 5xx, or a timeout then a reset.

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
    "FaultInjector",
    "FaultRule",
    "RateLimiter",
    "RequestLog",
    "SandboxASGI",
    "TrackError",
    "classify",
    "decode_cursor",
    "encode_cursor",
    "mask_headers",
    "parse_basic",
    "parse_fault",
]
