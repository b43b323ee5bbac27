"""The people sync Customer.io -> Brevo, one run: :class:`PeopleSync` and the blocking helpers around it.

The steps live next to it (:mod:`.extract`, :mod:`.load`, :mod:`.results`, over the shared state of
:mod:`.run`); the flow of a run is described in :mod:`airflow_provider_customerio.sync.people`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator

from airflow_provider_customerio.store.state import CIO_TO_BREVO, TO_CIO
from airflow_provider_customerio.sync.people.extract import PeopleExtract
from airflow_provider_customerio.sync.people.pipeline import PIPE_OFFSET, PeoplePipeline
from airflow_provider_customerio.sync.people.plan import seed_export_cost
from airflow_provider_customerio.sync.people.ports import PeopleSyncError
from airflow_provider_customerio.sync.people.results import PeopleImportResults
from airflow_provider_customerio.sync.people.run import SlotsBusy
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.processes import ProcessState, wait_for_pending
from airflow_provider_customerio.sync.summary import SyncSummary, check_threshold

log = logging.getLogger(__name__)

#: The steps :meth:`PeopleSync.load` works through (it may stop in one of them to let its imports finish).
LOAD_STEPS = ("load", "load_blacklisted", "deletes")


class PeopleSync(PeoplePipeline, PeopleExtract, PeopleImportResults):
    """One people sync run Customer.io -> Brevo, in two phases that may run in two tasks (two pools).

    - :meth:`extract` (Customer.io side): collect the changes, read and map the people, skip the unchanged,
      ledger the rejects, and stage the rows to write and the deletes in the state DB.
    - :meth:`load` (Brevo side): pack the staged rows into imports, apply the deletes; then :meth:`wait` (or defer
      and :meth:`complete`), and :meth:`finish`.

    :param config: the ``connectors.customerio`` configuration.
    :param source: the Customer.io port (only :meth:`extract` uses it).
    :param sink: the Brevo port.
    :param state: the state store.
    :param ledger: this run's ledger.
    :param run_key: ``dag_id/run_id/<sync name>``; keys the checkpoint shared by both phases.
    :param clock: time source for waiting (tests pass a fake).
    :param max_import_attempts: submissions of a batch whose process failed before its rows are ledgered.
    :param max_import_rows: row bound of one import.
    :param checkpoint_every: source records between two checkpoints of :meth:`extract`.
    :param process_notices: end-of-process notices for :meth:`wait` (see ``sync/processes.py``); ``None`` polls.
    :param notice_deadline_s: seconds after which a process with no notice is polled on the schedule.
    :param settle_s: two-way sync: seconds an own write decides stale reads before it expires (``sync/stale.py``).
    :param now: wall time in unix seconds (tests pass a fake); the times of own writes.
    :param slots: the Brevo account's import slots (``None``: no limit on imports in flight).
    :param slot_timeout: seconds to wait for a slot other runs hold.
    """

    # -------------------------------------------------------------- entry points

    def extract(self, *, mode: str, window: RunWindow | None, dry_run: bool = False) -> SyncSummary:
        """Customer.io side (resumable): steps ``collect`` and ``stage``; ends at step ``load``."""
        self._src()
        # A checkpoint already past extraction (a retried extract task) is kept as it is.
        self._attach(mode=mode, dry_run=dry_run)
        if window is not None:
            self.summary.window_start = window.start.isoformat()
            self.summary.window_end = window.end.isoformat()
        if self.step not in ("collect", "stage"):
            return self.summary
        mapper = self._prepare_mapper(dry_run)
        if self.step == "collect":
            if mode == "incremental":
                if window is None:
                    raise PeopleSyncError("incremental mode needs a window")
                self._collect(window)  # stages the people of own writes, expired ones too: read once more
            else:
                self._checkpoint["full_token"] = self._src().start_full()
                if not dry_run:  # a first estimate of what an incremental run's export waits (sync/people/plan.py)
                    seed_export_cost(self.state, self._checkpoint["full_token"])
            if self.two_way and not dry_run:
                # after staging: a person whose write expired unconfirmed is read again and what is read counts
                # (a Customer.io edit stamped in the second of the write was held as stale until now)
                self.state.expire_own_writes(TO_CIO, self.now() - self.settle_s)
            self._save(step="stage", offset=0)
        self._stage(mapper, mode, dry_run)
        if mode == "full" and not dry_run:
            self._stage_full_deletes()
        # the load step packs what the pipeline has not sent yet (:mod:`.pipeline`)
        self._save(step="load", offset=int(self._checkpoint.get(PIPE_OFFSET, 0)))
        return self.summary

    def load(self) -> list[str]:
        """Brevo side (resumable): submit the staged rows as imports, apply the deletes. Returns the process ids
        to wait for (then call :meth:`wait`, or defer and call :meth:`complete`). With every import slot taken
        and imports of this run in flight, it stops early (:attr:`loaded` is false): wait for those, then call
        it again."""
        if not self._checkpoint:  # a separate load task: open the checkpoint the extract task left
            self._attach(mode=None, dry_run=False)
        if self.step in ("collect", "stage"):
            raise PeopleSyncError(f"{self.run_key}: nothing extracted yet (step {self.step}); run extract() first.")
        dry_run = bool(self._checkpoint.get("dry_run"))
        try:
            if self.step == "load":
                self._load_rows("row", blacklist=False, dry_run=dry_run)
                self._save(step="load_blacklisted", offset=0)
            if self.step == "load_blacklisted":
                self._load_rows("blacklist_row", blacklist=True, dry_run=dry_run)
                self._save(step="deletes", offset=0)
        except SlotsBusy:
            pending = [p.process_id for p in self.state.pending_processes(self.run_key)]
            log.info("Brevo import slot(s) all taken; waiting for import process(es) %s first", ", ".join(pending))
            return pending
        if self.step == "deletes":
            self._deletes(dry_run)
            self._save(step="wait", offset=0)
        return [p.process_id for p in self.state.pending_processes(self.run_key)]

    @property
    def loaded(self) -> bool:
        """True once :meth:`load` has submitted every import (what is left is waiting for them)."""
        return self.step not in ("collect", "stage", *LOAD_STEPS)

    def run(self, *, mode: str, window: RunWindow | None, dry_run: bool = False) -> list[str]:
        """Both phases in one go; returns the process ids to wait for."""
        self.extract(mode=mode, window=window, dry_run=dry_run)
        return self.load()

    def wait(self, *, timeout: float, delays: Iterable[float] | None = None) -> None:
        """Block until every pending import process is finished, handling each as it finishes.

        :raises BrevoProcessTimeout: some are still running after ``timeout`` seconds (their rows stay pending).
        """

        self._sending = False  # this wait only waits: wait_and_load sends the next imports, each on a fresh schedule
        try:
            wait_for_pending(
                self, timeout=timeout, delays=delays, what="import", held="rows", timeout_option="import_timeout"
            )
        finally:
            self._sending = True

    def complete(self, states: Iterable[ProcessState]) -> list[str]:
        """Handle finished processes (e.g. reported by the trigger). Returns the process ids still pending
        (including resubmissions of failed ones and the next imports sent).

        Brevo runs one import at a time, so the next import goes out as soon as a slot is free: failed ones are
        resubmitted first, then the next batch is sent (while reading, the pipeline's; after it, :meth:`load`'s),
        and only then are the ended imports committed (their rows' hashes and identities)."""
        states = [st for st in states if st.finished]
        if self.slots is not None:  # the processes ended: their slots are free for the next import, any run's
            self.slots.release([st.process_id for st in states])
        pending = {p.process_id: p for p in self.state.pending_processes(self.run_key)}
        ended = [(pending[str(st.process_id)], st) for st in states if str(st.process_id) in pending]
        for p, st in ended:
            if not st.succeeded:
                self._failed_process(p.process_id, p.attempt, p.options, st.error)
        if self._sending:
            self._send_next({str(p.process_id) for p, _st in ended})
        for p, st in ended:
            if st.succeeded:
                self._commit_process(p.process_id, st.report, p.options)
        self._save()
        return [p.process_id for p in self.state.pending_processes(self.run_key)]

    def _send_next(self, ended: set[str]) -> None:
        """Send what may go out now that the ``ended`` imports ended (the pipeline's next batch, or
        :meth:`load`'s)."""
        if self.step == "stage":
            in_flight = [p.process_id for p in self.state.pending_processes(self.run_key)]
            self._send_staged([pid for pid in in_flight if pid not in ended])
        elif self.step in LOAD_STEPS:
            self.load()

    def finish(self) -> SyncSummary:
        """Close the run: watermark, threshold check, cleanup. Returns the summary."""
        if self.state.pending_processes(self.run_key):
            raise PeopleSyncError("finish() called while imports are pending; call wait() or complete() first.")
        s = self.summary
        s.rejected = self.ledger.record_rejects - self.ledger.counts.get("not_found", 0)
        s.value_rejects = self.ledger.total - self.ledger.record_rejects
        s.rejects_by_reason = self.ledger.counts.copy()
        s.people_count = self.state.count_hashes(CIO_TO_BREVO)
        s.finish()
        self.ledger.close()
        if not s.dry_run:
            if s.mode == "incremental" and s.window_end:
                self.state.set_watermark("people.cio_to_brevo.until", s.window_end)
            self.state.set_watermark("people.cio_to_brevo.last_sync", s.last_sync or "")
        self.state.clear_run(self.run_key)
        check_threshold(
            rejected=s.rejected,
            read=s.read,
            threshold=self.config.people.reject_threshold,
            ledger_path=self.ledger.location,
        )
        return s


def run_blocking(
    sync: PeopleSync,
    *,
    mode: str,
    window: RunWindow | None,
    dry_run: bool = False,
    timeout: float = 3600.0,
    delays: Iterable[float] | None = None,
) -> SyncSummary:
    """Run a whole sync without deferral: load, wait for every import (loading more as slots free up), finish."""
    sync.run(mode=mode, window=window, dry_run=dry_run)
    wait_and_load(sync, timeout=timeout, delays=delays)
    return sync.finish()


def wait_and_load(sync: PeopleSync, *, timeout: float, delays: Iterable[float] | None = None) -> None:
    """Wait for the pending imports; while :meth:`PeopleSync.load` stopped early (import slots all taken), load
    the next imports and wait again. ``delays`` (if given) are copied per wait."""
    schedule = list(itertools.islice(delays, 64)) if delays is not None else None

    def fresh() -> Iterator[float] | None:  # each wait starts the schedule afresh; the last delay repeats
        return itertools.chain(schedule, itertools.repeat(schedule[-1])) if schedule else None

    while True:
        sync.wait(timeout=timeout, delays=fresh())
        if sync.loaded:
            return
        sync.load()
