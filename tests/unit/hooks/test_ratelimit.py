"""Client-side limiters (hooks/ratelimit.py): the per-second token bucket and the hourly budget."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.hooks.ratelimit import SharedWindowLimiter, TokenBucket, WindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_calls_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(25):
        bucket.acquire()
        stamps.append(clock.now)
    # no one-second window [t, t+1) holds more than 10 calls
    for t in stamps:
        assert sum(1 for s in stamps if t <= s < t + 1 - 1e-6) <= 10
    assert stamps[-1] == pytest.approx(2.4)


def test_hourly_budget_lets_the_whole_budget_through_at_once():
    clock = FakeClock()
    window = WindowLimiter(100, 3600.0, clock=clock, sleep=clock.sleep)
    for _ in range(43):  # e.g. one import read per notice
        assert window.acquire() == 0.0
    assert clock.slept == []
    assert window.rate == pytest.approx(100 / 3600)


def test_hourly_budget_never_holds_more_than_its_limit_in_any_window():
    clock = FakeClock()
    window = WindowLimiter(10, 60.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for i in range(35):
        window.acquire()
        stamps.append(clock.now)
        clock.now += 1.0 if i % 7 == 0 else 0.0  # bursts with a little time between some calls
    for t in stamps:  # every window of 60 s starting at a call (the worst placed) holds at most 10 calls
        assert sum(1 for s in stamps if t <= s < t + 60 - 1e-9) <= 10
    # the 11th call waited for the first to leave the window, not for a token rate
    assert stamps[10] == pytest.approx(stamps[0] + 60)


def test_hourly_budget_disabled_never_sleeps():
    clock = FakeClock()
    window = WindowLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(500):
        assert window.acquire() == 0.0
    assert clock.slept == [] and window.rate is None


def test_token_bucket_disabled_never_sleeps():
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        assert bucket.acquire() == 0.0
    assert clock.slept == []


# ------------------------------------------------------------------------------- a budget shared through a ledger
class ListLedger:
    """An in-memory :class:`WindowLedger` of one slot list (the store's ``request_budget`` rows, for the limiter)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, float, float]] = []
        self.slots: dict[str, list[float]] = {}

    def reserve(self, account: str, *, limit: int, window_s: float, now: float) -> float:
        self.calls.append((account, limit, window_s, now))
        used = self.slots.setdefault(account, [])
        if len(used) < limit:
            used.append(now)
            return now
        oldest = min(range(len(used)), key=used.__getitem__)
        used[oldest] = max(now, used[oldest] + window_s)
        return used[oldest]


def test_a_shared_window_sleeps_until_the_ledgers_time_and_two_limiters_spend_one_budget():
    clock = FakeClock()
    ledger = ListLedger()
    a, b = (SharedWindowLimiter(ledger, "brevo:x", 3, 60.0, clock=clock, sleep=clock.sleep, skew_s=0) for _ in range(2))
    assert [a.acquire(), b.acquire(), a.acquire()] == [0.0, 0.0, 0.0]
    assert b.acquire() == 60.0 and clock.now == 60.0  # the fourth call of the pair waits for the first to leave
    assert ledger.calls[-1] == ("brevo:x", 3, 60.0, 0.0)
    assert a.rate == pytest.approx(3 / 60)


def test_a_shared_window_keeps_a_margin_for_clocks_and_arrival_times():
    clock = FakeClock()
    ledger = ListLedger()
    limiter = SharedWindowLimiter(ledger, "brevo:x", 1, 60.0, clock=clock, sleep=clock.sleep, skew_s=5.0)
    assert limiter.acquire() == 0.0 and limiter.acquire() == 65.0  # the window plus the margin
    assert ledger.calls[-1] == ("brevo:x", 1, 65.0, 0.0)


def test_a_shared_window_without_a_limit_never_asks_the_ledger():
    ledger = ListLedger()
    assert SharedWindowLimiter(ledger, "brevo:x", 0).acquire() == 0.0 and ledger.calls == []
    assert SharedWindowLimiter(ledger, "brevo:x", None).rate is None
