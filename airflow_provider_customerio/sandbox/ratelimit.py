"""Per-API rate limits as the vendors apply them: token buckets per second, fixed windows per hour (Brevo).

Configurable through ``PUT /_sandbox/ratelimits``; the outer ASGI layer (:class:`~.core.SandboxASGI`) checks them.
``{"plan": "advanced"}`` sets every Brevo limit to a plan's (:data:`BREVO_PLAN_LIMITS`); limits named in the same
body override the plan's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any


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


#: Brevo's limits by plan (https://developers.brevo.com/docs/api-limits): contacts and events 10 / 20 / 60 req/s,
#: "all other endpoints" 100 / 200 / 600 per hour. The hourly caps of contacts and events are published for
#: General (36,000) and Advanced (72,000) only: on Extended the sandbox keeps Advanced's 72,000 per hour (the unkind
#: reading, docs/vendor-behaviour.md), so a client at 60 req/s meets it after 20 minutes.
BREVO_PLAN_LIMITS: dict[str, dict[str, float | None]] = {
    "general": {
        "brevo_contacts": 10,
        "brevo_contacts_per_hour": 36_000,
        "brevo_events": 10,
        "brevo_events_per_hour": 36_000,
        "brevo_other_per_hour": 100,
    },
    "advanced": {
        "brevo_contacts": 20,
        "brevo_contacts_per_hour": 72_000,
        "brevo_events": 20,
        "brevo_events_per_hour": 72_000,
        "brevo_other_per_hour": 200,
    },
    "extended": {
        "brevo_contacts": 60,
        "brevo_contacts_per_hour": 72_000,
        "brevo_events": 60,
        "brevo_events_per_hour": 72_000,
        "brevo_other_per_hour": 600,
    },
}
DEFAULT_BREVO_PLAN = "general"


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
        self.plan = DEFAULT_BREVO_PLAN
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
        """Apply a ``PUT /_sandbox/ratelimits`` body: ``plan`` first (every Brevo limit to the plan's), then the
        other keys (so a limit named with a plan overrides the plan's). Nothing changes when a key is bad."""
        if not isinstance(spec, dict):
            raise ValueError('ratelimits body must be a JSON object, e.g. {"app": 10, "enabled": true}')
        before = (self.enabled, dict(self.limits), self.plan)
        try:
            self._apply(spec)
        except ValueError:
            self.enabled, self.limits, self.plan = before
            raise
        self._rebuild()

    def _apply(self, spec: dict[str, Any]) -> None:
        if "plan" in spec:
            plan = spec["plan"]
            if plan not in BREVO_PLAN_LIMITS:
                raise ValueError(f"plan: {plan!r} must be one of {', '.join(BREVO_PLAN_LIMITS)} (Brevo's plans)")
            self.plan = plan
            self.limits.update(BREVO_PLAN_LIMITS[plan])
        for key, value in spec.items():
            if key == "plan":
                continue
            if key == "enabled":
                if not isinstance(value, bool):
                    raise ValueError(f"enabled: {value!r} must be true or false")
                self.enabled = value
            elif key in self.limits:
                if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
                    raise ValueError(f"{key}: {value!r} must be a positive number, or null for no limit")
                self.limits[key] = value
            else:
                raise ValueError(f"{key}: unknown limit; known: enabled, plan, {', '.join(self.limits)}")

    def describe(self) -> dict[str, Any]:
        """The limits in force, with the Brevo plan they started from (``GET /_sandbox/ratelimits``)."""
        return {"enabled": self.enabled, "plan": self.plan, **self.limits}

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


__all__ = [
    "BREVO_PLAN_LIMITS",
    "DEFAULT_BREVO_PLAN",
    "DEFAULT_LIMITS",
    "LimitDecision",
    "RateLimiter",
    "TokenBucket",
    "WindowCounter",
]
