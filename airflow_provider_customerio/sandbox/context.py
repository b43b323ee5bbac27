"""What every route of the sandbox shares: the credentials, the two vendor states, the clock, the request log, the
fault injector and the rate limiter (:class:`SandboxContext`, on ``app.state.ctx``).

Its own module so the ASGI layer (:mod:`.core`), the control routes and the server all import it, and it imports
none of them.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from typing import Any

from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from airflow_provider_customerio.sandbox.clock import SandboxClock, parse_lag
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState
from airflow_provider_customerio.sandbox.faults import FaultInjector
from airflow_provider_customerio.sandbox.ratelimit import RateLimiter
from airflow_provider_customerio.sandbox.seed import SeedParams, seed_world

# Fixed, obviously fake credentials. The Brevo key deliberately does NOT look like a real "xkeysib-<hex>" key.
SITE_ID = "sandbox-site"
TRACK_API_KEY = "sandbox-track-key"
APP_API_KEY = "sandbox-app-key"
BREVO_API_KEY = "sandbox-brevo-key"


class SandboxContext:
    """Everything the routes share: credentials, the two vendor states, log, faults and limiter."""

    def __init__(
        self, seed_people: int = 0, rate_limits: bool = True, processing: dict[str, Any] | None = None
    ) -> None:
        #: the start state's processing settings (``--import-rate`` and friends), applied by every reset:
        #: Brevo ``processes/settings`` keys and Customer.io ``export_*`` settings
        self.processing = dict(processing or {})
        self.site_id = SITE_ID
        self.track_api_key = TRACK_API_KEY
        self.app_api_key = APP_API_KEY
        self.brevo_api_key = BREVO_API_KEY
        self.seed_people = seed_people
        self.clock = SandboxClock()
        self.faults = FaultInjector()  # one fault mechanism: request faults and Brevo processing faults
        self.cio = CustomerIOState(clock=self.clock)
        self.brevo = BrevoState(BREVO_API_KEY, faults=self.faults, sandbox_clock=self.clock)
        self.log = RequestLog()
        self.limiter = RateLimiter(enabled=rate_limits)
        self.info: dict[str, Any] = {}

    def seed(self, params: SeedParams) -> dict[str, Any]:
        return seed_world(self.cio, self.brevo, params)

    def lag(self) -> dict[str, float]:
        """Read lag per surface, in sandbox-clock seconds (0 = consistent at once, the default)."""
        out = {"brevo_events": self.brevo.lag["events"], "brevo_contacts": self.brevo.lag["contacts"]}
        out.update(cio_activities=self.cio.lag["activities"], cio_segments=self.cio.lag["segments"])
        return {**out, "cio_people": self.cio.lag["people"]}

    def set_lag(self, spec: Any) -> dict[str, float]:
        lag = parse_lag(spec, self.lag())
        self.brevo.set_lag(events=lag["brevo_events"], contacts=lag["brevo_contacts"])
        self.cio.lag.update(activities=lag["cio_activities"], segments=lag["cio_segments"])
        self.cio.set_people_lag(lag["cio_people"])
        return self.lag()

    def background(self) -> None:
        """Run the background work that is due on the sandbox clock (called before each request is served)."""
        self.cio.publish_people()  # the writes of the requests served so far start their people lag
        self.cio.run_due()
        self.brevo.run_due()

    def reset(self) -> dict[str, Any] | None:
        """Back to the start state: empty (or re-seeded with ``seed_people``) worlds, no faults, no log."""
        self.cio.reset()
        self.brevo.reset()
        self.brevo.seed(random.Random(0))
        brevo_keys = {k: v for k, v in self.processing.items() if not k.startswith("export_")}
        if brevo_keys:
            self.brevo.set_process_settings(brevo_keys)
        self.cio.settings.update({k: v for k, v in self.processing.items() if k.startswith("export_")})
        self.log.clear()
        self.faults.clear()
        self.limiter.reset()
        self.clock.reset()
        if self.seed_people > 0:
            return self.seed(SeedParams(people=self.seed_people))
        return None


class RequestLog:
    """Bounded in-memory log of vendor requests (newest last) for test assertions, with unbounded counts of every
    request answered since the last :meth:`clear` per vendor and status (:meth:`counts`; the log keeps only the
    newest ``maxlen``, the counts miss none: a benchmark's 429s are counted even past a full log)."""

    def __init__(self, maxlen: int = 50_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0
        self._counts: Counter[tuple[str, int]] = Counter()

    def add(self, entry: dict[str, Any]) -> None:
        self._seq += 1
        entry["seq"] = self._seq
        self._entries.append(entry)
        self._counts[(str(entry.get("vendor")), int(entry.get("status") or 0))] += 1

    def clear(self) -> None:
        self._entries.clear()
        self._counts.clear()

    def counts(self) -> dict[str, Any]:
        """``{"total": n, "by_status": {"429": n, ...}, "by_vendor": {"brevo": {"200": n, ...}}}`` since the last
        clear (status 0: a connection the sandbox dropped)."""
        by_status: Counter[str] = Counter()
        by_vendor: dict[str, dict[str, int]] = {}
        for (vendor, status), n in sorted(self._counts.items()):
            by_status[str(status)] += n
            by_vendor.setdefault(vendor, {})[str(status)] = n
        return {"total": sum(by_status.values()), "by_status": dict(by_status), "by_vendor": by_vendor}

    def entries(self, vendor: str | None = None, path_contains: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self._entries
            if (vendor is None or e["vendor"] == vendor) and (path_contains is None or path_contains in e["path"])
        ]


__all__ = ["APP_API_KEY", "BREVO_API_KEY", "SITE_ID", "TRACK_API_KEY", "RequestLog", "SandboxContext"]
