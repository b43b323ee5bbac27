"""The sandbox clock: the time that background work (import processes, exports, segment rebuilds) and read lag run
on, independent of how often a client polls.

By default it is the wall clock, so a sandbox left alone behaves like the vendors. Tests make it deterministic:
``PUT /_sandbox/clock {"frozen": true, "tick_s": 0.5}`` stops wall time and moves the clock by ``tick_s`` on every
vendor request served instead (work progresses because the world is busy, never because a test slept), and
``POST /_sandbox/clock/advance {"seconds": 60}`` jumps it forward, e.g. to let a lagging read catch up.
"""

from __future__ import annotations

import time
from typing import Any


class SandboxClock:
    """Seconds since the epoch as the sandbox sees them: wall time (or a frozen instant) plus an offset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.offset = 0.0
        self.frozen_at: float | None = None
        self.tick_s = 0.0

    def now(self) -> float:
        base = self.frozen_at if self.frozen_at is not None else time.time()
        return base + self.offset

    def advance(self, seconds: float) -> float:
        """Jump forward (never back); returns the new time."""
        self.offset += max(0.0, seconds)
        return self.now()

    def tick(self) -> None:
        """One vendor request was served: move by ``tick_s`` (0 by default)."""
        if self.tick_s:
            self.offset += self.tick_s

    def configure(self, spec: Any) -> None:
        """``{"frozen": bool, "tick_s": float >= 0}``; ``ValueError`` names the field and the fix."""
        if not isinstance(spec, dict):
            raise ValueError('clock body must be a JSON object, e.g. {"frozen": true, "tick_s": 0.5}')
        for key, value in spec.items():
            if key == "frozen":
                if not isinstance(value, bool):
                    raise ValueError(f"frozen: {value!r} must be true or false")
                if value and self.frozen_at is None:
                    self.frozen_at = time.time()
                elif not value and self.frozen_at is not None:
                    self.offset += self.frozen_at - time.time()  # keep the sandbox time continuous
                    self.frozen_at = None
            elif key == "tick_s":
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"tick_s: {value!r} must be a number of seconds >= 0")
                self.tick_s = float(value)
            else:
                raise ValueError(f"{key}: unknown clock setting; known: frozen, tick_s")

    def describe(self) -> dict[str, Any]:
        return {"now": self.now(), "frozen": self.frozen_at is not None, "tick_s": self.tick_s, "offset": self.offset}


def parse_lag(spec: Any, known: dict[str, float]) -> dict[str, float]:
    """Validate a read-lag body ``{surface: seconds}`` against the known surfaces; returns the merged settings."""
    if not isinstance(spec, dict):
        raise ValueError('lag body must be a JSON object, e.g. {"brevo_events": 30}')
    out = dict(known)
    for key, value in spec.items():
        if key not in known:
            raise ValueError(f"{key}: unknown surface; known: {', '.join(known)}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{key}: {value!r} must be a number of seconds >= 0")
        out[key] = float(value)
    return out
