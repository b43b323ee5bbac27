"""The sandbox's one fault mechanism: fault rules (``POST /_sandbox/faults``) in one :class:`FaultInjector`.

Request faults are picked by the outer ASGI layer (:class:`~.core.SandboxASGI`) per request: pre-apply kinds
before the vendor sees the request, post-apply kinds after it applied a write. Brevo processing faults (state kinds)
are taken by the Brevo state by name (:meth:`FaultInjector.take`) when a process or batch runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

VENDORS = ("track", "app", "brevo")
#: Faults that hit the request before the vendor applies anything.
PRE_APPLY_KINDS = ("429", "500", "502", "503", "slow", "timeout", "drop", "partial_207")
#: Faults that hit a write AFTER the vendor applied it: the answer is lost (connection reset, a proxy's 5xx, or the
#: client's timeout), which is the case where a retry could double a write; or held (``hold_answer``: the true answer
#: comes ``delay_s`` late, the window in which a test kills the caller that has not heard of its applied write).
POST_APPLY_KINDS = ("applied_drop", "applied_5xx", "applied_timeout", "hold_answer")
#: ``hold_answer`` holds the answer this long when the rule gives no ``delay_s``.
HOLD_ANSWER_S = 5.0
#: Faults inside Brevo's own processing, taken by the Brevo state by name (not per request).
STATE_KINDS = ("import_failure", "import_partial", "events_partial_207", "process_stuck", "object_reject")
FAULT_KINDS = PRE_APPLY_KINDS + POST_APPLY_KINDS + STATE_KINDS
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
    #: Post-apply kinds: how many matching writes the vendor applied (the fault then hit their answer).
    applied: int = 0
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
            "applied": self.applied,
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


__all__ = [
    "FAULT_KINDS",
    "HOLD_ANSWER_S",
    "POST_APPLY_KINDS",
    "PRE_APPLY_KINDS",
    "STATE_KINDS",
    "VENDORS",
    "FaultInjector",
    "FaultRule",
    "parse_fault",
]
