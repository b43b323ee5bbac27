"""Brevo background processes (contact imports, object upserts): their outcomes and the one way to wait for them.

Brevo answers a bulk write with a process id and does the work in the background; ``GET /processes/{id}`` tells
how it went. That endpoint is in Brevo's "all other endpoints" bucket: **100 requests per hour** on the General
plan. So every wait in the provider polls sparingly, through one algorithm:

* :class:`ProcessWaiter` is sans-IO: it knows the pending ids, the poll-delay schedule (:func:`poll_delays`) and the
  deadline; :meth:`ProcessWaiter.next_step` says how long to sleep and which ids to poll next,
  :meth:`ProcessWaiter.record` takes what a poll returned.
* :func:`wait_for_processes` drives it synchronously (the imports component,
  :mod:`airflow_provider_customerio.adapters.brevo_imports`);
  :class:`~airflow_provider_customerio.triggers.brevo.BrevoProcessTrigger` drives it in the triggerer's event loop.

Notices. Brevo can call a ``notifyUrl`` when a process ends. When the wait is given ``notices`` (a cheap read of
the callbacks received so far: ``notices(pending_ids) -> {id: notice}``), it does not poll the pending processes
while waiting; it asks ``notices`` every ``notice_interval`` seconds and polls each notified process exactly once,
to read its outcome. A process with no notice after ``notice_deadline_s`` seconds (counted from the start of the
wait) falls back to the growing poll schedule. Without ``notices`` the wait polls on the schedule only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Protocol, TypeVar

from airflow_provider_customerio.exceptions import ProcessTimeoutError

#: ``notices(pending_ids) -> {process_id: notice}``: the end-of-process callbacks received for those ids so far.
Notices = Callable[[Sequence[int]], Mapping[int, Mapping[str, Any]]]

#: Seconds between two reads of ``notices`` while notified waiting is on: one indexed store query each; Brevo runs
#: an account's imports one after the other, so every second between an import's end and the next import is lost.
NOTICE_INTERVAL: Final = 0.25


class ProcessOutcome(Enum):
    """Where a Brevo process stands, as the sync core sees it (the adapters translate Brevo's own status words,
    :class:`~airflow_provider_customerio.hooks.brevo_status.BrevoProcessStatus`, into this)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class BrevoProcessTimeout(ProcessTimeoutError):
    """Brevo processes did not finish within the allowed time. ``pending`` are their ids; whatever they carry
    stays pending in the state store, so re-running the task resumes waiting instead of writing again."""

    def __init__(self, message: str, pending: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.pending = list(pending)


def poll_delays(initial: float = 2.0, factor: float = 2.0, cap: float = 120.0) -> Iterator[float]:
    """Growing poll intervals: ``initial``, then times ``factor`` up to ``cap`` (``/processes`` has 100/hour)."""
    delay = initial
    while True:
        yield delay
        delay = min(cap, delay * factor)


@dataclass(frozen=True)
class ImportReport:
    """What a finished Brevo import process reported.

    :param rejected: identifier (email or ext_id, as imported) -> ledger reason, for the rows Brevo refused.
    :param unidentified: rows refused that the report does not identify, by reason (counts only).
    :param counts: the report's non-zero counters as Brevo names them (``invalid_emails``, ``duplicate_ext_id``…).
    """

    rejected: Mapping[str, str] = field(default_factory=dict)
    unidentified: Mapping[str, int] = field(default_factory=dict)
    counts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessState:
    """State of a Brevo process (``GET /processes/{id}``), as the sync ports return it."""

    process_id: str
    outcome: ProcessOutcome
    error: str | None = None
    report: ImportReport = field(default_factory=ImportReport)
    #: Brevo's own word for the status (for messages only; decisions read ``outcome``).
    status: str = ""

    @property
    def finished(self) -> bool:
        """True once the process has ended (well or not)."""
        return self.outcome is not ProcessOutcome.RUNNING

    @property
    def succeeded(self) -> bool:
        """True when the process ended well."""
        return self.outcome is ProcessOutcome.SUCCEEDED


class Clock(Protocol):
    """Monotonic time and sleep (a fake in tests)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class WaitStep:
    """What to do next: sleep ``sleep`` seconds, then poll ``poll``; or stop (``done`` / ``timed_out``)."""

    sleep: float = 0.0
    poll: tuple[str, ...] = ()
    done: bool = False
    timed_out: bool = False


class ProcessWaiter:
    """The waiting algorithm, without I/O: pending ids, poll schedule, deadline and notices.

    :param process_ids: the processes to wait for (more can be :meth:`add` ed, e.g. resubmissions).
    :param now: the current time, in the clock the driver passes to :meth:`next_step`.
    :param timeout: seconds from ``now`` after which the wait gives up (``deadline`` instead: absolute time).
    :param delays: the poll-delay schedule (default :func:`poll_delays`).
    :param poll_first: poll once right away (the trigger, the hook) instead of sleeping first (the syncs: a
        just-submitted process is rarely done).
    :param notices: see the module docstring; ``None`` (the default) polls on the schedule only.
    :param notice_deadline_s: seconds from the start after which an id without a notice is polled on the schedule
        (default: the whole wait).
    :param notice_interval: seconds between two reads of ``notices``.
    """

    def __init__(
        self,
        process_ids: Iterable[str | int],
        *,
        now: float,
        timeout: float | None = None,
        deadline: float | None = None,
        delays: Iterable[float] | None = None,
        poll_first: bool = False,
        notices: Notices | None = None,
        notice_deadline_s: float | None = None,
        notice_interval: float = NOTICE_INTERVAL,
    ) -> None:
        if (timeout is None) == (deadline is None):
            raise ValueError("give exactly one of timeout and deadline")
        self.start = now
        self.deadline = float(deadline) if deadline is not None else now + float(timeout or 0.0)
        self._delays = iter(delays if delays is not None else poll_delays())
        self._pending: list[str] = []
        self.finished: dict[str, Mapping[str, Any]] = {}
        self._notices = notices
        self._notice_until = now + notice_deadline_s if notice_deadline_s is not None else self.deadline
        self._notice_interval = notice_interval
        self._next_notice_at = now
        #: ids polled on the schedule (all of them without notices); the others wait for a notice
        self._scheduled: set[str] = set()
        self._notified: list[str] = []
        self._next_poll_at = now if poll_first else None
        self._now = now
        self.add(process_ids)

    # ------------------------------------------------------------------------------------------ state

    @property
    def pending(self) -> list[str]:
        """Ids not finished yet, in submission order."""
        return list(self._pending)

    def add(self, process_ids: Iterable[str | int]) -> None:
        """Wait for these processes too (unknown ids only)."""
        for pid in (str(p) for p in process_ids):
            if pid not in self._pending and pid not in self.finished:
                self._pending.append(pid)
                if self._notices is None:
                    self._scheduled.add(pid)

    def retain(self, process_ids: Iterable[str | int]) -> None:
        """Make exactly ``process_ids`` the pending ids (the caller's store decided; new ids are added)."""
        keep = [str(p) for p in process_ids]
        self._pending = [p for p in self._pending if p in keep]
        self._scheduled &= set(self._pending)
        self._notified = [p for p in self._notified if p in self._pending]
        self.add(keep)

    def record(self, process_id: str | int, process: Mapping[str, Any], *, finished: bool) -> None:
        """What ``GET /processes/{id}`` returned, and whether it has ended (the caller reads Brevo's status): an
        ended process finishes the id, otherwise it stays pending (and, notified or not, is polled on the schedule
        from now on)."""
        pid = str(process_id)
        if pid not in self._pending:
            return
        if finished:
            self._pending.remove(pid)
            self._scheduled.discard(pid)
            self.finished[pid] = process
        else:
            self._scheduled.add(pid)

    # ------------------------------------------------------------------------------------------ the algorithm

    def next_step(self, now: float) -> WaitStep:
        """The next thing to do at ``now``. A driver whose clock does not move is assumed to have slept."""
        now = max(now, self._now)
        if not self._pending:
            return WaitStep(done=True)
        self._read_notices(now)
        if self._notified:
            poll, self._notified = tuple(self._notified), []
            self._scheduled.update(poll)  # polled once now; should it still run, the schedule takes over
            self._now = now
            return WaitStep(poll=poll)
        if self._next_poll_at is not None and now >= self._next_poll_at:  # a round is due (``poll_first``)
            self._next_poll_at = None  # the next delay counts from the end of this round
            self._now = now
            return WaitStep(poll=self._scheduled_pending())
        if now >= self.deadline:
            return WaitStep(timed_out=True)
        if self._next_poll_at is None:
            self._next_poll_at = now + next(self._delays)
        wake = min(self._next_poll_at, self.deadline)
        if any(p not in self._scheduled for p in self._pending):
            wake = min(wake, max(now, min(self._next_notice_at, self._notice_until)))
        sleep = max(0.0, wake - now)
        self._now = now + sleep
        if wake < self._next_poll_at and wake < self.deadline:
            return WaitStep(sleep=sleep)  # wake up to read the notices (or to stop waiting for them)
        self._next_poll_at = None
        return WaitStep(sleep=sleep, poll=self._scheduled_pending())

    def _scheduled_pending(self) -> tuple[str, ...]:
        return tuple(p for p in self._pending if p in self._scheduled)

    def _read_notices(self, now: float) -> None:
        waiting = [p for p in self._pending if p not in self._scheduled and p not in self._notified]
        if not waiting:
            return
        if now >= self._notice_until or self._notices is None:
            self._scheduled.update(waiting)  # no notice in time: back to the poll schedule
            return
        if now < self._next_notice_at:
            return
        self._next_notice_at = now + self._notice_interval
        got = self._notices([int(p) for p in waiting])
        arrived = {str(k) for k in got}
        self._notified.extend(p for p in waiting if p in arrived)


T = TypeVar("T")


def wait_for_processes(
    process_ids: Iterable[str | int],
    get_process: Callable[[str], T],
    *,
    timeout: float,
    finished: Callable[[T], bool],
    on_finished: Callable[[list[T]], Iterable[str]] | None = None,
    delays: Iterable[float] | None = None,
    clock: Clock | None = None,
    poll_first: bool = False,
    timeout_message: Callable[[Sequence[str]], str] | None = None,
    notices: Notices | None = None,
    notice_deadline_s: float | None = None,
) -> dict[str, T]:
    """Block until every process has ended; return ``{id: what get_process returned last}`` of the ended ones.

    :param get_process: one ``GET /processes/{id}``; ``finished(result)`` says whether it has ended.
    :param on_finished: called with the processes that ended in a poll round; returns the ids to wait for from
        then on (e.g. the syncs resubmit a failed import), replacing the pending set.
    :param timeout_message: the error message for the still pending ids.
    :param notices: end-of-process notices (see the module docstring); ``None`` polls on the schedule only.
    :param notice_deadline_s: seconds after which an id with no notice is polled on the schedule.
    :raises BrevoProcessTimeout: ids still pending after ``timeout`` seconds.
    """
    clock = clock or SystemClock()
    waiter = ProcessWaiter(
        process_ids,
        now=clock.monotonic(),
        timeout=timeout,
        delays=delays,
        poll_first=poll_first,
        notices=notices,
        notice_deadline_s=notice_deadline_s,
    )
    results: dict[str, T] = {}
    while True:
        step = waiter.next_step(clock.monotonic())
        if step.done:
            return results
        if step.timed_out:
            pending = waiter.pending
            message = (
                timeout_message(pending)
                if timeout_message
                else f"Brevo process(es) {', '.join(pending)} not finished after {timeout:.0f} s."
            )
            raise BrevoProcessTimeout(message, pending)
        if step.sleep > 0:
            clock.sleep(step.sleep)
        ended: list[T] = []
        for pid in step.poll:
            result = get_process(pid)
            waiter.record(pid, {}, finished=finished(result))
            if pid in waiter.finished:
                results[pid] = result
                ended.append(result)
        if ended and on_finished is not None:
            waiter.retain(on_finished(ended))


class PendingProcesses(Protocol):
    """A sync that keeps submitted Brevo processes pending in its state (the people and object syncs)."""

    state: Any
    run_key: str
    sink: Any
    clock: Clock
    process_notices: Notices | None
    notice_deadline_s: float | None

    def _save(self) -> None: ...

    def complete(self, states: Iterable[Any]) -> list[str]: ...


def wait_for_pending(
    sync: PendingProcesses,
    *,
    timeout: float,
    delays: Iterable[float] | None,
    what: str,
    held: str,
    timeout_option: str,
) -> None:
    """Block until every process ``sync`` keeps pending has finished, handing each to ``sync.complete`` as it does.

    :param what: the processes in the timeout message ("import", "object upsert").
    :param held: what stays pending with them ("rows", "records").
    :param timeout_option: the operator argument that sets ``timeout``.
    :raises BrevoProcessTimeout: some are still running after ``timeout`` seconds (what they hold stays pending).
    """

    def timed_out(ids: Sequence[str]) -> str:
        sync._save()
        return (
            f"Brevo {what} process(es) {', '.join(ids)} not finished after {timeout:.0f} s. Their {held} stay "
            f"pending: re-run the task to resume waiting (raise the operator's {timeout_option} if Brevo is slow)."
        )

    wait_for_processes(
        [p.process_id for p in sync.state.pending_processes(sync.run_key)],
        sync.sink.get_process,
        timeout=timeout,
        finished=lambda st: st.finished,
        on_finished=sync.complete,
        delays=delays,
        clock=sync.clock,
        timeout_message=timed_out,
        notices=sync.process_notices,
        notice_deadline_s=sync.notice_deadline_s,
    )


__all__ = [
    "NOTICE_INTERVAL",
    "ProcessOutcome",
    "BrevoProcessTimeout",
    "Clock",
    "ImportReport",
    "Notices",
    "ProcessState",
    "ProcessWaiter",
    "SystemClock",
    "WaitStep",
    "poll_delays",
    "wait_for_processes",
]
