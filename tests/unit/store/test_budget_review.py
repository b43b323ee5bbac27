"""Review (issue 26): two hooks sharing Brevo's hourly budget through the store never exceed it in any sliding
hour (random interleavings, limit changes, threads on separate engines)."""

from __future__ import annotations

import bisect
import random
import threading
from pathlib import Path

from airflow_provider_customerio.hooks.ratelimit import SharedWindowLimiter
from airflow_provider_customerio.store.sync_store import SyncStore

HOUR = 3600.0


def most_in_any_window(times, window=HOUR):
    times = sorted(times)
    # any sliding window [t, t + window) with the most calls starts at a call
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t


def limiter(budget, clock, sent, limit, skew=0.0):
    def sleep(s):
        clock.t += s  # this hook's task sleeps; the wall moves on for it

    def now():
        return clock.t + skew

    lim = SharedWindowLimiter(budget, "brevo:acct", limit, HOUR, clock=now, sleep=sleep)

    def call():
        lim.acquire()
        sent.append(clock.t)  # the true time the call goes out

    return call


def test_two_hooks_random_interleaving_never_exceed_the_plan_in_any_sliding_hour(tmp_path: Path) -> None:
    budget = SyncStore.at(tmp_path / "s.db").request_budget()
    rnd = random.Random(7)
    sent: list[float] = []
    clock = Clock()
    hooks = [limiter(budget, clock, sent, 100), limiter(budget, clock, sent, 100)]
    for _ in range(1200):
        clock.t += rnd.choice([0.0] * 6 + [1.0, 17.0, 250.0, rnd.uniform(0, 900)])
        rnd.choice(hooks)()
    assert most_in_any_window(sent) == 100


def test_a_plan_raised_while_another_hook_still_has_the_old_one(tmp_path: Path) -> None:
    """General (100) and Advanced (200) hooks at once: never above the larger of the two."""
    budget = SyncStore.at(tmp_path / "s.db").request_budget()
    rnd = random.Random(3)
    sent: list[float] = []
    clock = Clock()
    hooks = [limiter(budget, clock, sent, 100), limiter(budget, clock, sent, 200)]
    for _ in range(2000):
        clock.t += rnd.choice([0.0, 1.0, 40.0])
        rnd.choice(hooks)()
    assert most_in_any_window(sent) <= 200


def test_threads_on_separate_engines_at_the_same_instant(tmp_path: Path) -> None:
    SyncStore.at(tmp_path / "s.db")
    got: list[float] = []
    lock = threading.Lock()

    def worker():
        budget = SyncStore.at(tmp_path / "s.db").request_budget()
        mine = [budget.reserve("brevo:t", limit=20, window_s=HOUR, now=5000.0 + i) for i in range(30)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 120 and most_in_any_window(got) == 20


def test_machines_whose_clocks_differ_by_a_second(tmp_path: Path) -> None:
    """Brevo counts by its own clock: two machines 1 s apart (within what NTP is allowed to drift) share the
    budget. The design's bound assumes one clock; this measures what a small skew does."""
    budget = SyncStore.at(tmp_path / "s.db").request_budget()
    sent: list[float] = []
    clock = Clock()
    behind = limiter(budget, clock, sent, 100, skew=-1.0)
    ahead = limiter(budget, clock, sent, 100, skew=+1.0)
    for _ in range(100):
        behind()  # the first hour's calls from the machine whose clock is behind
    for _ in range(100):
        ahead()  # the next ones from the machine whose clock is ahead
    assert most_in_any_window(sent) <= 100
