"""Client-side rate limits: a request waits on a :class:`Limiter` before it is sent, so a task never exceeds its
share of a vendor's rate limit. :class:`TokenBucket` for per-second limits, :class:`WindowLimiter` for budgets a
vendor counts per hour, :class:`SharedWindowLimiter` for such a budget shared by every task and machine through a
:class:`WindowLedger` (the sync store's, injected where tasks build their hooks)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    """What a request waits on before it is sent: :class:`TokenBucket` or :class:`WindowLimiter`."""

    rate: float | None

    def acquire(self) -> float: ...


class TokenBucket:
    """Thread-safe token bucket: at most ``rate`` acquisitions per second, ``burst`` at once.

    The default burst of 1 spaces calls evenly, which keeps any one-second window at or under ``rate``.

    :param rate: tokens added per second; ``None`` or ``0`` disables limiting.
    :param burst: bucket capacity.
    """

    def __init__(
        self,
        rate: float | None,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available. Returns the seconds waited."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            wait = (1.0 - self._tokens) / self.rate
            self._tokens = 0.0
            self._last = now + wait
        self._sleep(wait)
        return wait


class WindowLimiter:
    """Thread-safe hourly budget: at most ``limit`` acquisitions in any ``window_s`` seconds (a sliding log).

    For budgets a vendor counts per hour, such as Brevo's 100 requests per hour of "all other endpoints": calls go
    as soon as the budget allows (43 import reads after 43 notices go at once), and no window of ``window_s``
    seconds, fixed or rolling, ever holds more than ``limit``. A token bucket with a small burst would space the
    same 43 reads 36 s apart although the vendor allows them together.

    :param limit: acquisitions per window; ``None`` or ``0`` disables limiting.
    :param window_s: the window's length in seconds.
    """

    def __init__(
        self,
        limit: float | None,
        window_s: float = 3600.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = max(1, int(limit)) if limit and limit > 0 else 0
        self.window_s = window_s
        #: the long-run rate (per second), as :attr:`TokenBucket.rate`
        self.rate = self.limit / window_s if self.limit else None
        self._times: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one place in the window, sleeping until one is free. Returns the seconds waited."""
        if not self.limit:
            return 0.0
        with self._lock:
            now = self._clock()
            while self._times and self._times[0] <= now - self.window_s:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return 0.0
            # the oldest call leaves the window at `at`: this call takes its place then
            at = self._times.popleft() + self.window_s
            self._times.append(at)
            wait = at - now
        self._sleep(wait)
        return wait


class WindowLedger(Protocol):
    """Where the hooks of every task and machine record the calls of one account's sliding-window budget.

    The sync store's :class:`~airflow_provider_customerio.store.budget.RequestBudgetTable` is one: hooks do not
    import the store, the task that builds a hook hands it one (:meth:`BrevoHook.share_hourly_budget
    <airflow_provider_customerio.hooks.brevo.BrevoHook.share_hourly_budget>`).
    """

    def reserve(self, account: str, *, limit: int, window_s: float, now: float) -> float:
        """Record one call of ``account`` and return when it may be sent (``now`` when the last ``window_s``
        seconds hold fewer than ``limit`` calls, else when the oldest of them leaves the window)."""
        ...


class SharedWindowLimiter:
    """An hourly budget like :class:`WindowLimiter`, kept in a :class:`WindowLedger` that many hooks share: at most
    ``limit`` acquisitions in any ``window_s`` seconds by all of them together.

    :param ledger: the shared record of calls.
    :param account: the account's name in the ledger (a digest, never the API key).
    :param limit: acquisitions per window; ``None`` or ``0`` disables limiting.
    :param window_s: the window's length in seconds.
    :param clock: seconds since the epoch; wall time, so that machines agree (not ``time.monotonic``).
    :param skew_s: seconds added to the window: machines' clocks and the calls' arrival at the vendor differ a
        little, and a call that lands a second early in the vendor's hour would be one too many.
    """

    def __init__(
        self,
        ledger: WindowLedger,
        account: str,
        limit: float | None,
        window_s: float = 3600.0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        skew_s: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self.account = account
        self.skew_s = skew_s
        self.limit = max(1, int(limit)) if limit and limit > 0 else 0
        self.window_s = window_s
        #: the long-run rate (per second), as :attr:`TokenBucket.rate`
        self.rate = self.limit / window_s if self.limit else None
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> float:
        """Reserve one call in the shared window, sleeping until it may go. Returns the seconds waited."""
        if not self.limit:
            return 0.0
        now = self._clock()
        window = self.window_s + self.skew_s
        wait = self.ledger.reserve(self.account, limit=self.limit, window_s=window, now=now) - now
        if wait <= 0:
            return 0.0
        self._sleep(wait)
        return wait
