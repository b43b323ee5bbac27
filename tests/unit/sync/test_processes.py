"""The one Brevo process wait: statuses, the sans-IO waiter, the blocking driver and notices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from airflow_provider_customerio.exceptions import ProcessTimeoutError
from airflow_provider_customerio.hooks.brevo_status import BrevoProcessStatus
from airflow_provider_customerio.sync.processes import (
    BrevoProcessTimeout,
    ProcessOutcome,
    ProcessState,
    ProcessWaiter,
    poll_delays,
    wait_for_processes,
)


def wait_for_process_json(ids: Any, get: Any, *, timeout: float, **kwargs: Any) -> dict[str, Any]:
    """The waiter over raw ``GET /processes/{id}`` bodies (the trigger's view): ended = a terminal status."""
    return wait_for_processes(ids, get, timeout=timeout, finished=BrevoProcessStatus.is_terminal, **kwargs)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


class FakeBrevo:
    """``GET /processes/{id}``: each process ends at a given time (``None``: never)."""

    def __init__(self, clock: FakeClock, ends: Mapping[str, float | None]) -> None:
        self.clock = clock
        self.ends = dict(ends)
        self.polls: list[tuple[float, str]] = []

    def get(self, pid: str) -> dict[str, Any]:
        self.polls.append((self.clock.t, pid))
        end = self.ends[pid]
        return {"id": int(pid), "status": "completed" if end is not None and self.clock.t >= end else "in_process"}


class FakeNotices:
    """Notices arrive at given times (a process may end without one)."""

    def __init__(self, clock: FakeClock, at: Mapping[int, float]) -> None:
        self.clock = clock
        self.at = dict(at)
        self.calls: list[list[int]] = []

    def __call__(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        self.calls.append(list(ids))
        return {i: {"status": "completed"} for i in ids if i in self.at and self.clock.t >= self.at[i]}


def test_the_outcome_decides_finished_and_succeeded() -> None:
    assert not ProcessState("1", ProcessOutcome.RUNNING).finished
    assert ProcessState("1", ProcessOutcome.FAILED).finished and not ProcessState("1", ProcessOutcome.FAILED).succeeded
    assert ProcessState("1", ProcessOutcome.SUCCEEDED, status="completed").succeeded
    assert issubclass(BrevoProcessTimeout, ProcessTimeoutError)


def test_without_notices_sleeps_first_on_the_growing_schedule() -> None:
    clock = FakeClock()
    brevo = FakeBrevo(clock, {"1": 13.0, "2": 5.0})
    done = wait_for_process_json(["1", "2"], brevo.get, timeout=600, clock=clock)
    assert set(done) == {"1", "2"}
    assert clock.sleeps == [2.0, 4.0, 8.0]
    assert brevo.polls == [(2, "1"), (2, "2"), (6, "1"), (6, "2"), (14, "1")]


def test_poll_first_and_timeout_keeps_the_pending_ids() -> None:
    clock = FakeClock()
    brevo = FakeBrevo(clock, {"7": None})
    with pytest.raises(BrevoProcessTimeout) as err:
        wait_for_process_json(["7"], brevo.get, timeout=10, clock=clock, poll_first=True, delays=[4.0] * 10)
    assert err.value.pending == ["7"]
    # polled at once, then every 4 s, the last sleep cut to the deadline (polled there once more)
    assert [t for t, _ in brevo.polls] == [0, 4, 8, 10]


def test_a_notified_process_is_polled_exactly_once() -> None:
    clock = FakeClock()
    brevo = FakeBrevo(clock, {"1": 30.0, "2": 45.0})
    notices = FakeNotices(clock, {1: 31.0, 2: 45.5})
    done = wait_for_process_json(["1", "2"], brevo.get, timeout=600, clock=clock, notices=notices)
    assert set(done) == {"1", "2"}
    assert brevo.polls == [
        (31.0, "1"),
        (45.5, "2"),
    ]  # no poll while waiting; one each after its notice (read every 0.25 s)
    assert all(s <= 1.0 for s in clock.sleeps)  # notices are read about every second
    assert notices.calls[0] == [1, 2] and notices.calls[-1] == [2]


def test_no_notice_before_the_deadline_falls_back_to_polling() -> None:
    clock = FakeClock()
    brevo = FakeBrevo(clock, {"1": 5.0, "2": 100.0})
    notices = FakeNotices(clock, {1: 6.0})  # process 2 never sends one
    done = wait_for_process_json(
        ["1", "2"],
        brevo.get,
        timeout=600,
        clock=clock,
        delays=[30.0] * 10,
        notices=notices,
        notice_deadline_s=20,
    )
    assert set(done) == {"1", "2"}
    assert [pid for _t, pid in brevo.polls if pid == "1"] == ["1"]
    polls_2 = [t for t, pid in brevo.polls if pid == "2"]
    assert polls_2 and polls_2[0] >= 20  # nothing polled before the notice deadline
    assert polls_2[-1] >= 100 and len(polls_2) >= 2  # then on the schedule until it ended


def test_notified_but_still_running_goes_back_to_the_schedule() -> None:
    clock = FakeClock()
    brevo = FakeBrevo(clock, {"1": 50.0})
    notices = FakeNotices(clock, {1: 3.0})  # an early (or stale) notice
    wait_for_process_json(["1"], brevo.get, timeout=600, clock=clock, notices=notices, delays=[20.0] * 10)
    times = [t for t, _ in brevo.polls]
    assert times[0] == 3.0 and times[-1] >= 50 and len(times) == 4  # 3, 23, 43, 63


def test_on_finished_replaces_the_pending_ids() -> None:
    clock = FakeClock()
    brevo = FakeBrevo(clock, {"1": 0.0, "9": 0.0})

    def resubmit(ended: list[dict[str, Any]]) -> list[str]:
        return ["9"] if any(p["id"] == 1 for p in ended) else []

    done = wait_for_process_json(["1"], brevo.get, timeout=60, clock=clock, on_finished=resubmit)
    assert set(done) == {"1", "9"}


def test_waiter_needs_one_deadline_and_steps_are_sans_io() -> None:
    with pytest.raises(ValueError):
        ProcessWaiter(["1"], now=0.0)
    waiter = ProcessWaiter(["1"], now=0.0, deadline=5.0, delays=poll_delays(initial=2.0))
    step = waiter.next_step(0.0)
    assert (step.sleep, step.poll) == (2.0, ("1",))
    waiter.record("1", {"status": "queued"}, finished=False)
    assert waiter.pending == ["1"]
    waiter.record("1", {"status": "failed"}, finished=True)
    assert waiter.next_step(2.0).done and waiter.finished["1"]["status"] == "failed"
