"""What every step of one people run shares: its settings, its checkpoint in the state store, its staging
buffers, and the one way it submits an import (in an import slot, fenced by the lease)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.batching import json_size
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.people.ports import ContactSink, PeopleSource, PeopleSyncError
from airflow_provider_customerio.sync.ports import RunLedger, SyncState
from airflow_provider_customerio.sync.processes import Clock, Notices, SystemClock
from airflow_provider_customerio.sync.stale import DEFAULT_SETTLE_S
from airflow_provider_customerio.sync.summary import SyncSummary

log = logging.getLogger(__name__)

#: People whose stored hashes are read in one query.
HASH_CHUNK = 500
#: The pipeline sizes one staged row in this many (JSON), to tell when a full import is staged.
SIZE_SAMPLE_EVERY = 50
#: Rows per import. Brevo documents no row limit; bytes are the real bound. Kept so a process stays short.
MAX_IMPORT_ROWS = 100_000


class SlotsBusy(Exception):
    """Every import slot is taken and this run has imports in flight: wait for them before submitting more."""


class PeopleRun:
    """The state of one people sync run, shared by its steps (:mod:`.extract`, :mod:`.load`, :mod:`.results`):
    the settings (the parameters are those of :class:`~airflow_provider_customerio.sync.people.sync.PeopleSync`),
    the checkpoint under ``run_key``, and the buffers staged between two checkpoints."""

    def __init__(
        self,
        *,
        config: CustomerIOConfig,
        source: PeopleSource | None,
        sink: ContactSink,
        state: SyncState,
        ledger: RunLedger,
        run_key: str,
        clock: Clock | None = None,
        max_import_attempts: int = 3,
        max_import_rows: int = MAX_IMPORT_ROWS,
        checkpoint_every: int = 1000,
        process_notices: Notices | None = None,
        notice_deadline_s: float | None = None,
        settle_s: float = DEFAULT_SETTLE_S,
        now: Callable[[], float] | None = None,
        slots: ImportSlots | None = None,
        slot_timeout: float = 3600.0,
        pipeline: bool = True,
        pipeline_poll_s: float = 5.0,
    ) -> None:
        self._init_pipeline(pipeline, pipeline_poll_s)
        self.settle_s = settle_s
        self.now = now or time.time
        self._settled: list[tuple[str, str]] = []  # (cio_id, field) of own writes read back, to forget
        self._sent_at = 0.0  # when the last import was sent (the reverse sync's stale-read check)
        self.slots = slots
        self.slot_timeout = slot_timeout
        self.process_notices = process_notices
        self.notice_deadline_s = notice_deadline_s
        self.config = config
        self.source = source
        self.sink = sink
        self.state = state
        self.ledger = ledger
        self.run_key = run_key
        self.clock = clock or SystemClock()
        self.max_import_attempts = max_import_attempts
        self.max_import_rows = max_import_rows
        self.checkpoint_every = max(1, checkpoint_every)
        all_contacts = config.lists.get("all_contacts")
        self.list_ids: list[int] = [all_contacts] if all_contacts else []
        self._checkpoint: dict[str, Any] = {}
        self._seen_buf: list[str] = []
        self._stage_buf: list[tuple[str, str, dict[str, Any] | None]] = []
        self.summary = SyncSummary()
        #: two-way sync: write only the fields Customer.io changed since both sides last agreed, so an edit made
        #: in Brevo alone is never overwritten by a stale Customer.io value (the reverse sync carries it over); a
        #: value read older than the reverse sync's own write to Customer.io is a stale read, not a change
        #: (``sync/stale.py``), and what this sync writes to Brevo is kept for the reverse sync's same check
        self.two_way = bool(config.reverse.enabled)

    def _init_pipeline(self, pipeline: bool, poll_s: float) -> None:
        #: submit imports while reading (:mod:`.pipeline`), in runs that read and load in one task
        self.pipeline = pipeline
        self.pipeline_poll_s = poll_s
        self._pump_at = 0.0
        self._pipe_rows = 0  # rows staged since the checkpoint's pipe_offset (a lower bound after a resume)
        self._pipe_bytes = 0.0  # their estimated JSON bytes (sampled sizes)
        self._row_bytes = 0.0  # the mean sampled size of a staged row
        self._pipe_slack = 1.0  # raised when the estimate said "full" and the packer did not
        self._ended: Any = None  # the pipeline's non-blocking look at the imports in flight
        self._sending = True  # complete() sends the next imports (not inside PeopleSync.wait)

    # -------------------------------------------------------------- checkpoint helpers

    def _save(self, **changes: Any) -> None:
        """Persist buffered staging, then the checkpoint (ledger offset and counters included)."""
        if self._seen_buf:
            self.state.mark_seen(self.run_key, self._seen_buf)
            self._seen_buf = []
        if self._stage_buf:
            self.state.stage_items(self.run_key, self._stage_buf)
            self._stage_buf = []
        self._checkpoint.update(changes)
        self._checkpoint["ledger_offset"] = self.ledger.flush()
        self._checkpoint["summary"] = self.summary.to_state()
        self.state.save_checkpoint(self.run_key, self._checkpoint)

    def _attach(self, *, mode: str | None, dry_run: bool) -> None:
        """Open this run's checkpoint, or start a new one (``mode=None``: take whatever checkpoint exists)."""
        cp = self.state.get_checkpoint(self.run_key)
        usable = cp is not None and (mode is None or (cp.get("mode") == mode and bool(cp.get("dry_run")) == dry_run))
        if cp is not None and usable:
            self._checkpoint = cp
            self._recover_offsets()
            self.summary = SyncSummary.from_state(cp.get("summary") or {})
            log.info("Resuming %s at step %s (offset %s)", self.run_key, cp.get("step"), cp.get("offset"))
        else:
            if cp:
                self.state.clear_run(self.run_key)
            self._checkpoint = {"mode": mode or "incremental", "step": "collect", "offset": 0, "dry_run": dry_run}
            self.summary = SyncSummary(mode=mode or "incremental", dry_run=dry_run)
        self.summary.ledger = self.ledger.key

    def _recover_offsets(self) -> None:
        """A try killed after recording an import but before its checkpoint moved past the import's rows: move it
        now (each pending import names the position after its rows, in its step)."""
        for p in self.state.pending_processes(self.run_key):
            opts = p.options or {}
            key = opts.get("offset_key")
            if key and opts.get("step") == self._checkpoint.get("step"):
                self._checkpoint[key] = max(int(self._checkpoint.get(key, 0)), int(opts.get("next_offset", 0)))

    def save_progress(self) -> None:
        """Persist the checkpoint now (counters included), e.g. before a deferral."""
        self._save()

    @property
    def step(self) -> str:
        return str(self._checkpoint.get("step", "collect"))

    def attach(self) -> None:
        """Re-open the checkpoint of this run (e.g. in a deferred task's ``execute_complete``)."""
        if not self._checkpoint:
            self._attach(mode=None, dry_run=False)

    def _src(self) -> PeopleSource:
        if self.source is None:
            raise PeopleSyncError("extract() needs a PeopleSource (Customer.io side)")
        return self.source

    def _note_staged_row(self, data: Mapping[str, Any]) -> None:
        """The pipeline's estimate of the bytes staged and not yet imported: one row in ``SIZE_SAMPLE_EVERY`` is
        sized, the others count as the mean."""
        if self._pipe_rows % SIZE_SAMPLE_EVERY == 0:
            size = json_size(data["row"], compact=True)  # as the packer sizes it
            self._row_bytes = size if not self._row_bytes else 0.8 * self._row_bytes + 0.2 * size
        self._pipe_rows += 1
        self._pipe_bytes += self._row_bytes

    def _pump(self) -> None:
        """After a checkpoint of the reading: the pipeline's turn (:mod:`.pipeline`; nothing here)."""

    def _start_import(
        self, rows: Sequence[Mapping[str, Any]], *, blacklist: bool, may_stop: bool, may_wait: bool = True
    ) -> str:
        """``POST /contacts/import`` in an import slot. ``may_stop``: with no slot free and imports of this run in
        flight, raise :class:`SlotsBusy` (the caller waits for them) instead of waiting for a slot here;
        ``may_wait=False``: raise it too when other runs hold every slot."""

        def send() -> str:
            self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
            self._sent_at = self.now()  # before the import: Brevo applies it later (stale reads, sync/stale.py)
            return str(self.sink.start_import(rows, list_ids=self.list_ids, email_blacklist=blacklist))

        if self.slots is None:
            return send()
        slot = self.slots.try_take()
        if slot is None:
            if (may_stop and self.state.pending_processes(self.run_key)) or not may_wait:
                raise SlotsBusy()
            slot = self.slots.take(timeout=self.slot_timeout)  # all held by other runs: wait for one
        return self.slots.start(slot, send)
