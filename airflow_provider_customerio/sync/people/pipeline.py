"""The pipelined people run: Brevo imports are submitted while Customer.io is still being read.

Brevo processes an account's imports one after the other (its help centre: "Wait for your current import to finish
before starting a new one"), so a run that first reads everything and then imports adds its whole reading time to
Brevo's processing time. Here the extract step submits an import as soon as a full batch is staged, and between two
checkpoints of its reading it looks, without blocking, whether the import in flight has ended (Brevo's notice, else
the growing poll schedule of :class:`~airflow_provider_customerio.sync.processes.ProcessWaiter`): if it has, the next
full batch goes out at once and the finished one is committed after that. Reading, mapping, hashing and staging of the
next batches thus overlap Brevo's processing of the current one.

What makes it resumable is unchanged: rows are staged before they are imported, an import is recorded pending with
its rows before the checkpoint moves past them, and the checkpoint keeps two positions, ``offset`` (the reading) and
``pipe_offset`` (the first staged row not yet in an import). When reading ends, the load step starts at
``pipe_offset`` and packs what is left, the partial last batch included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from airflow_provider_customerio.sync.batching import Batch
from airflow_provider_customerio.sync.people.load import PeopleLoad
from airflow_provider_customerio.sync.people.run import SlotsBusy
from airflow_provider_customerio.sync.processes import Clock, Notices, ProcessState, ProcessWaiter, poll_delays

log = logging.getLogger(__name__)

#: Seconds between two looks at the import in flight while reading (each is a cheap store read at most).
PUMP_EVERY_S = 0.5
#: The offset of the first staged row not yet in an import, in the checkpoint.
PIPE_OFFSET = "pipe_offset"


class EndedImports:
    """Which of a run's pending imports have ended, asked without blocking: :class:`ProcessWaiter` driven by a
    caller that does not sleep (a due poll is made at the first look after its time).

    :param get_process: one ``GET /processes/{id}``.
    :param clock: monotonic time.
    :param notices: Brevo's end-of-process notices (``None``: poll on the schedule only).
    :param notice_deadline_s: seconds after which an import with no notice is polled on the schedule.
    :param delays: the poll schedule (a new one per waiter).
    """

    def __init__(
        self,
        get_process: Callable[[str], ProcessState],
        *,
        clock: Clock,
        notices: Notices | None,
        notice_deadline_s: float | None,
        delays: Callable[[], Iterator[float]],
    ) -> None:
        self.get_process = get_process
        self.clock = clock
        self.notices = notices
        self.notice_deadline_s = notice_deadline_s
        self.delays = delays
        self._waiter: ProcessWaiter | None = None
        self._wake = 0.0
        self._due: tuple[str, ...] = ()

    def look(self, pending: Sequence[str]) -> list[ProcessState]:
        """The processes among ``pending`` found ended now (often none)."""
        if not pending:
            self._waiter = None
            return []
        now = self.clock.monotonic()
        if self._waiter is None:
            self._waiter = ProcessWaiter(
                pending,
                now=now,
                timeout=10.0**9,  # the blocking wait after the reading has the task's timeout
                delays=self.delays(),
                notices=self.notices,
                notice_deadline_s=self.notice_deadline_s,
            )
        self._waiter.retain(pending)
        if now < self._wake:
            return []
        due, self._due = self._due, ()
        ended = self._poll(due) if due else []
        for _ in range(3):  # plan the next look right after a poll, so that delays count from the poll
            if ended:
                break
            step = self._waiter.next_step(now)
            if step.done or step.timed_out:
                break
            if step.sleep > 0:
                self._wake, self._due = now + step.sleep, step.poll
                break
            ended = self._poll(step.poll)
        return ended

    def _poll(self, ids: Iterable[str]) -> list[ProcessState]:
        assert self._waiter is not None
        ended = []
        for pid in ids:
            st = self.get_process(pid)
            self._waiter.record(pid, {}, finished=st.finished)
            if st.finished:
                ended.append(st)
        return ended


class PeoplePipeline(PeopleLoad):
    """The extract step's side of the pipeline: submit full batches while reading, commit what ended."""

    def _pump(self) -> None:
        """Called after each checkpoint of the reading: hand ended imports to :meth:`complete` (which sends the next
        full batch before committing), else send a full batch if a slot is free. Never blocks on Brevo."""
        if not self.pipeline or self._checkpoint.get("dry_run") or self.step != "stage":
            return
        now = self.clock.monotonic()
        if now < self._pump_at:
            return
        self._pump_at = now + PUMP_EVERY_S
        pending = [p.process_id for p in self.state.pending_processes(self.run_key)]
        ended = self._ended_imports().look(pending) if pending else []
        if ended:
            self.complete(ended)  # type: ignore[attr-defined]  # PeopleSync's: sends the next batch, then commits
        else:
            self._send_staged(pending)

    def _ended_imports(self) -> EndedImports:
        ended = self._ended
        if not isinstance(ended, EndedImports):
            ended = self._ended = EndedImports(
                self.sink.get_process,
                clock=self.clock,
                notices=self.process_notices,
                notice_deadline_s=self.notice_deadline_s,
                delays=lambda: poll_delays(initial=self.pipeline_poll_s, factor=2.0, cap=120.0),
            )
        return ended

    def _send_staged(self, pending: Sequence[str]) -> None:
        """Send one full batch of the rows staged since ``pipe_offset``, if a slot is free and enough are staged."""
        limit = self.slots.limit if self.slots is not None else 1
        budget = self._new_packer().max_bytes
        if len(pending) >= limit or self._pipe_bytes < budget * self._pipe_slack:
            return
        offset = int(self._checkpoint.get(PIPE_OFFSET, 0))
        batch, next_offset = self._first_full_batch(offset)
        if batch is None:  # fewer bytes staged than a full import: expect more next time
            self._pipe_slack *= 1.1
            return
        try:
            self._submit_batch(batch, blacklist=False, may_wait=False, offset_key=PIPE_OFFSET, next_offset=next_offset)
        except SlotsBusy:
            return  # another run holds the slot: keep reading, look again later
        self._pipe_rows = max(0, self._pipe_rows - len(batch.items))
        self._pipe_bytes = max(0.0, self._pipe_bytes - batch.nbytes)

    def _first_full_batch(self, offset: int) -> tuple[Batch[tuple[str, str, dict[str, Any]]] | None, int]:
        """The first full import of the ``row`` items staged from ``offset`` on, and the offset after it."""
        packer = self._new_packer()
        for seq, key, _kind, data in self.state.iter_staged(self.run_key, from_seq=offset, kind="row"):
            if not data:
                continue
            for out in packer.add((key.split(":", 1)[1], data["hash"], data["row"])):
                if isinstance(out, Batch):
                    return out, seq  # the item at ``seq`` opens the next batch
                self._ledger_oversize(out, seq, blacklist=False)
        return None, offset


__all__ = ["EndedImports", "PIPE_OFFSET", "PUMP_EVERY_S", "PeoplePipeline"]
