"""People sync Customer.io -> Brevo: the orchestration, over ports.

The sync talks to two small ports, :class:`PeopleSource` (Customer.io) and :class:`ContactSink` (Brevo). The
operator adapts the hooks to them; tests use in-memory fakes. No Airflow and no HTTP imports here.

Flow of one run (each step checkpointed in the state store under ``dag_id/run_id/task_id``):

1. ``collect`` (incremental): read the activity feed for the window (newest first, stop at the first item older
   than the window start) and stage the changed ``cio_id`` s in the state DB, once per person, the latest change
   winning (update or delete).
2. ``load``: stream the people (hydrate the staged ids <= 100 per call, or stream the full export), map them,
   skip those whose content hash is unchanged, ledger the rejects, and pack the rest by bytes into Brevo imports.
   Each submitted import is recorded with its rows, then the checkpoint moves past it.
3. ``deletes``: apply ``delete_policy`` to deleted people (full mode: people known
   from earlier runs but absent from the export).
4. ``wait``: wait for the import processes (the operator may defer this), read each process report, ledger the
   rows it rejected, and commit the hashes and identities of the rest. A failed process is resubmitted up to
   ``max_import_attempts`` times, then its rows are ledgered.

With import slots (:mod:`.import_slots`, one import in flight per Brevo account by default), ``load`` stops
when every slot is taken and this run has imports in flight: the caller waits for them (``wait`` or the trigger,
then ``complete``) and calls ``load`` again, until :attr:`PeopleSync.loaded`; :func:`run_blocking` does so.

Attributes are written with the current time (Brevo has no per-value timestamp); the reverse direction must
likewise write Customer.io attributes without a historical ``_timestamp`` (docs/vendor-behaviour.md).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_customerio.store.state import CIO_TO_BREVO, TO_BREVO, TO_CIO, OwnWrite
from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.mapping import (
    EXT_ID_ATTRIBUTE,
    BrevoAttribute,
    MappedRow,
    Person,
    PersonMapper,
    RejectedPerson,
    check_mapping,
    field_digest,
    missing_attributes_error,
    row_field_digests,
    row_field_values,
)
from airflow_provider_customerio.sync.ports import RunLedger, SyncState
from airflow_provider_customerio.sync.processes import (
    Clock,
    ImportReport,
    Notices,
    ProcessState,
    SystemClock,
    wait_for_pending,
)
from airflow_provider_customerio.sync.stale import BLACKLIST_FIELD, DEFAULT_SETTLE_S, read_values, settle, with_fields
from airflow_provider_customerio.sync.summary import SyncSummary, check_threshold

log = logging.getLogger(__name__)


HYDRATE_CHUNK = 100
#: People whose stored hashes are read in one query.
HASH_CHUNK = 500
#: Rows per import. Brevo documents no row limit; bytes are the real bound. Kept so a process stays short.
MAX_IMPORT_ROWS = 100_000
#: ``{"jsonBody": [...], "listIds": [...], "updateExistingContacts": true, ...}`` around the rows.
IMPORT_OVERHEAD_BYTES = 1024
BREVO_IMPORT_LIMIT_BYTES = 10 * 1024 * 1024


class PeopleSyncError(RuntimeError):
    """A people sync run cannot go on; the message says why and what to do."""


class _SlotsBusy(Exception):
    """Every import slot is taken and this run has imports in flight: wait for them before submitting more."""


#: The steps :meth:`PeopleSync.load` works through (it may stop in one of them to let its imports finish).
LOAD_STEPS = ("load", "load_blacklisted", "deletes")


# ------------------------------------------------------------------------------------------ ports


@dataclass(frozen=True)
class Change:
    """A person changed in Customer.io: ``kind`` is ``upsert`` or ``delete``."""

    cio_id: str
    kind: str
    timestamp: int = 0
    email: str | None = None
    id: str | None = None


class PeopleSource(Protocol):
    """Customer.io side of the people sync."""

    def iter_changes(self, since: datetime, until: datetime) -> Iterator[Change]:
        """Changes with ``since <= timestamp < until``, newest first."""
        ...

    def hydrate(self, cio_ids: Sequence[str]) -> list[Person]:
        """Profiles of up to 100 people by ``cio_id`` (unknown ids are left out)."""
        ...

    def start_full(self) -> dict[str, Any]:
        """Begin a full read (e.g. create the export) and return a JSON-safe token to stream it."""
        ...

    def iter_full(self, token: Mapping[str, Any]) -> Iterator[Person]:
        """Stream every person of the full read ``token``, in a stable order."""
        ...


class ContactSink(Protocol):
    """Brevo side of the people sync."""

    def list_attributes(self) -> list[BrevoAttribute]: ...

    def create_attribute(self, name: str, type: str) -> None: ...

    def start_import(self, rows: Sequence[Mapping[str, Any]], *, list_ids: Sequence[int], email_blacklist: bool) -> str:
        """Submit one import (``POST /contacts/import`` with ``jsonBody``); return the process id."""
        ...

    def get_process(self, process_id: str) -> ProcessState: ...

    def delete_contact(self, identifier: str, identifier_type: str) -> bool:
        """Delete; ``False`` when Brevo has no such contact."""
        ...

    def blacklist_contact(self, identifier: str, identifier_type: str) -> bool:
        """Set ``emailBlacklisted``; ``False`` when Brevo has no such contact."""
        ...


# ------------------------------------------------------------------------------------------ the run


@dataclass(frozen=True)
class RunWindow:
    """The window of an incremental run ``[start, end)`` (UTC)."""

    start: datetime
    end: datetime


def resolve_window(
    *,
    mode: str,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    since: str | datetime | None,
    now: datetime,
    watermark: str | None,
) -> RunWindow | None:
    """Decide the incremental window. ``None`` for full mode.

    Precedence: ``since`` (manual runs) -> ``[since, data_interval_end or now)``; else the data interval; else
    (a manual run with no data interval) the stored watermark -> ``[watermark, now)``; else an error that names
    both fixes. The full mode needs no window.
    """
    if mode == "full":
        return None
    if mode != "incremental":
        raise PeopleSyncError(f"mode `{mode}` is unknown: use `incremental` or `full`.")
    if since not in (None, ""):
        start = parse_since(since)
        end = data_interval_end if data_interval_end is not None and data_interval_end > start else now
        return RunWindow(start, end)
    if data_interval_start is not None and data_interval_end is not None:
        if data_interval_end <= data_interval_start:
            raise PeopleSyncError(
                f"the data interval [{data_interval_start.isoformat()}, {data_interval_end.isoformat()}) is empty: "
                "schedule the DAG with CronDataIntervalTimetable (cron presets give zero-width intervals in Airflow "
                "3), or pass `since`."
            )
        return RunWindow(data_interval_start, data_interval_end)
    if watermark:
        return RunWindow(parse_since(watermark), now)
    raise PeopleSyncError(
        "this run has no data interval (a manual run without a logical date) and no `since`: trigger it with "
        "the param `since` (e.g. 2024-01-01), or with mode `full`."
    )


def parse_since(value: str | datetime) -> datetime:
    """Parse ``since``: a date (``2024-01-01``) or an ISO date-time; naive values are UTC."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        try:
            dt = parse_iso(text)
        except ValueError:
            raise PeopleSyncError(
                f"`since` = `{value}` is not a date: write it as YYYY-MM-DD or an ISO date-time."
            ) from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


class PeopleSync:
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
    :param process_notices: end-of-process notices for :meth:`wait` (see :mod:`.processes`); ``None`` polls.
    :param notice_deadline_s: seconds after which a process with no notice is polled on the schedule.
    :param settle_s: two-way sync: seconds an own write decides stale reads before it expires (:mod:`.stale`).
    :param now: wall time in unix seconds (tests pass a fake); the times of own writes.
    :param slots: the Brevo account's import slots (``None``: no limit on imports in flight).
    :param slot_timeout: seconds to wait for a slot other runs hold.
    """

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
    ) -> None:
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
        #: (:mod:`.stale`), and what this sync writes to Brevo is kept for the reverse sync's same check
        self.two_way = bool(config.reverse.enabled)

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
            self.summary = SyncSummary.from_state(cp.get("summary") or {})
            log.info("Resuming %s at step %s (offset %s)", self.run_key, cp.get("step"), cp.get("offset"))
        else:
            if cp:
                self.state.clear_run(self.run_key)
            self._checkpoint = {"mode": mode or "incremental", "step": "collect", "offset": 0, "dry_run": dry_run}
            self.summary = SyncSummary(mode=mode or "incremental", dry_run=dry_run)
        self.summary.ledger = self.ledger.key

    def save_progress(self) -> None:
        """Persist the checkpoint now (counters included), e.g. before a deferral."""
        self._save()

    @property
    def step(self) -> str:
        return str(self._checkpoint.get("step", "collect"))

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
            if self.two_way and not dry_run:
                # after staging: a person whose write expired unconfirmed is read again and what is read counts
                # (a Customer.io edit stamped in the second of the write was held as stale until now)
                self.state.expire_own_writes(TO_CIO, self.now() - self.settle_s)
            self._save(step="stage", offset=0)
        self._stage(mapper, mode, dry_run)
        if mode == "full" and not dry_run:
            self._stage_full_deletes()
        self._save(step="load", offset=0)
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
        except _SlotsBusy:
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

    def _start_import(self, rows: Sequence[Mapping[str, Any]], *, blacklist: bool, may_stop: bool) -> str:
        """``POST /contacts/import`` in an import slot. ``may_stop``: with no slot free and imports of this run in
        flight, raise :class:`_SlotsBusy` (the caller waits for them) instead of waiting for a slot here."""

        def send() -> str:
            self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
            self._sent_at = self.now()  # before the import: Brevo applies it later (stale reads, sync/stale.py)
            return str(self.sink.start_import(rows, list_ids=self.list_ids, email_blacklist=blacklist))

        if self.slots is None:
            return send()
        slot = self.slots.try_take()
        if slot is None:
            if may_stop and self.state.pending_processes(self.run_key):
                raise _SlotsBusy()
            slot = self.slots.take(timeout=self.slot_timeout)  # all held by other runs: wait for one
        return self.slots.start(slot, send)

    def run(self, *, mode: str, window: RunWindow | None, dry_run: bool = False) -> list[str]:
        """Both phases in one go; returns the process ids to wait for."""
        self.extract(mode=mode, window=window, dry_run=dry_run)
        return self.load()

    def attach(self) -> None:
        """Re-open the checkpoint of this run (e.g. in a deferred task's ``execute_complete``)."""
        if not self._checkpoint:
            self._attach(mode=None, dry_run=False)

    def wait(self, *, timeout: float, delays: Iterable[float] | None = None) -> None:
        """Block until every pending import process is finished, handling each as it finishes.

        :raises BrevoProcessTimeout: some are still running after ``timeout`` seconds (their rows stay pending).
        """

        wait_for_pending(
            self, timeout=timeout, delays=delays, what="import", held="rows", timeout_option="import_timeout"
        )

    def complete(self, states: Iterable[ProcessState]) -> list[str]:
        """Handle finished processes (e.g. reported by the trigger). Returns the process ids still pending
        (including resubmissions of failed ones)."""
        states = list(states)
        if self.slots is not None:  # the processes ended: their slots are free for the next import, any run's
            self.slots.release([st.process_id for st in states if st.finished])
        pending = {p.process_id: p for p in self.state.pending_processes(self.run_key)}
        for st in states:
            p = pending.get(str(st.process_id))
            if p is None or not st.finished:
                continue
            if st.succeeded:
                self._commit_process(p.process_id, st.report, p.options)
            else:
                self._failed_process(p.process_id, p.attempt, p.options, st.error)
        self._save()
        return [p.process_id for p in self.state.pending_processes(self.run_key)]

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

    # -------------------------------------------------------------- extract steps

    def _prepare_mapper(self, dry_run: bool) -> PersonMapper:
        attributes = self.sink.list_attributes()
        missing = check_mapping(self.config.field_mapping, attributes)
        if missing:
            if not self.config.people.create_missing_attributes or dry_run:
                raise missing_attributes_error(missing)
            for f in missing:
                log.info(
                    "Creating Brevo attribute %s (%s) for Customer.io attribute %s", f.target, f.create_type, f.source
                )
                self.sink.create_attribute(f.target, f.create_type)
                self.summary.notes.append(f"created Brevo attribute {f.target} ({f.create_type})")
            attributes = self.sink.list_attributes()
            still = check_mapping(self.config.field_mapping, attributes)
            if still:
                raise missing_attributes_error(still)
        return PersonMapper(self.config.field_mapping, attributes)

    def _src(self) -> PeopleSource:
        if self.source is None:
            raise PeopleSyncError("extract() needs a PeopleSource (Customer.io side)")
        return self.source

    def _collect(self, window: RunWindow) -> None:
        source = self._src()

        def items() -> Iterator[tuple[str, str, dict[str, Any] | None]]:
            for ch in source.iter_changes(window.start, window.end):
                yield ch.cio_id, ch.kind, {"email": ch.email, "id": ch.id, "ts": ch.timestamp}

        n = self.state.stage_items(self.run_key, items())
        log.info("Activity feed: %d people changed in [%s, %s)", n, window.start.isoformat(), window.end.isoformat())
        if self.two_way:
            # people written by the reverse sync and not yet read back are read again until they are (a stale read
            # of them is not a change, so nothing else would bring them back once the read catches up)
            recheck = list(self.state.iter_own_write_people(TO_CIO))
            added = self.state.stage_items(self.run_key, ((cid, "upsert", None) for cid in recheck))
            if added:
                log.info("Reading again %d people whose last write from Brevo was not yet read back", added)

    def _people_stream(self, mode: str, offset: int) -> Iterator[tuple[int, Person | None, str]]:
        """Yield ``(position, person or None if gone, cio_id)`` from ``offset`` on."""
        source = self._src()
        if mode == "full":
            token = self._checkpoint.get("full_token") or {}
            for pos, person in enumerate(source.iter_full(token)):
                if pos >= offset:
                    yield pos, person, person.cio_id
            return
        chunk: list[tuple[int, str]] = []

        def flush() -> Iterator[tuple[int, Person | None, str]]:
            found = {p.cio_id: p for p in source.hydrate([cid for _, cid in chunk])}
            for seq, cid in chunk:
                yield seq, found.get(cid), cid

        for seq, cid, _kind, _data in self.state.iter_staged(self.run_key, from_seq=offset, kind="upsert"):
            chunk.append((seq, cid))
            if len(chunk) >= HYDRATE_CHUNK:
                yield from flush()
                chunk = []
        if chunk:
            yield from flush()

    def _stage(self, mapper: PersonMapper, mode: str, dry_run: bool) -> None:
        offset = int(self._checkpoint.get("offset", 0))
        s = self.summary
        track_seen = mode == "full" and not dry_run
        since_save = 0
        chunk: list[tuple[int, Person | None, str]] = []

        def flush() -> None:
            nonlocal since_save
            # one read of the stored hashes per chunk, not one per person (the store may be a network away)
            known = [cid for _, p, cid in chunk if p is not None]
            stored = self.state.get_hashes(CIO_TO_BREVO, known)
            baselines = self.state.get_field_digests(known) if self.two_way else {}
            own = self.state.get_own_writes(TO_CIO, known) if self.two_way else {}
            for pos, person, cio_id in chunk:
                self._stage_one(
                    mapper,
                    person,
                    cio_id,
                    s,
                    track_seen,
                    dry_run,
                    stored.get(cio_id),
                    baselines.get(cio_id),
                    own.get(cio_id),
                )
                since_save += 1
                if since_save >= self.checkpoint_every and not dry_run:
                    self._save(offset=pos + 1)  # everything up to pos is persisted
                    since_save = 0
            if self._settled and not dry_run:
                self.state.forget_own_writes(TO_CIO, self._settled)
            self._settled = []
            chunk.clear()

        for item in self._people_stream(mode, offset):
            chunk.append(item)
            if len(chunk) >= min(HASH_CHUNK, self.checkpoint_every):
                flush()
        flush()

    def _stage_one(
        self,
        mapper: PersonMapper,
        person: Person | None,
        cio_id: str,
        s: SyncSummary,
        track_seen: bool,
        dry_run: bool,
        stored_hash: str | None,
        baseline: Mapping[str, str] | None = None,
        own: Mapping[str, OwnWrite] | None = None,
    ) -> None:
        s.read += 1
        if person is None:
            self._settled.extend((cio_id, key) for key in own or ())  # gone from Customer.io: nothing to read back
            self.ledger.reject(
                record_id=cio_id,
                reason="not_found",
                stage="hydrate",
                message="Customer.io returned no profile for this id (deleted since the change?)",
            )
            return
        if track_seen:
            self._seen_buf.append(cio_id)
        mapped = mapper.map(person)
        if isinstance(mapped, RejectedPerson):
            self.ledger.reject(
                record_id=mapped.cio_id,
                reason=mapped.reason,
                message=mapped.message,
                stage="map",
                identifiers={"email": mapped.email, "id": mapped.ext_id},
            )
            return
        if own:
            mapped = self._settle_stale(mapper, person, mapped, own)
        digest = mapped.content_hash(self.list_ids)
        if stored_hash == digest:
            s.unchanged += 1
            return
        for problem in mapped.problems:
            self.ledger.reject(
                record_id=mapped.cio_id,
                reason=problem.reason,
                stage="map",
                message=f"{problem.source} -> {problem.target}: {problem.message}; the person "
                "was synced without this value",
                identifiers={"email": mapped.email, "id": mapped.ext_id},
                detail={"attribute": problem.target},
            )
        if dry_run:
            if mapped.blacklisted:
                s.blacklisted += 1
                s.plan_add("blacklists", items=[mapped.cio_id])
            else:
                s.updated += 1  # dry run: "would write"
            s.plan_add("updates" if stored_hash is not None else "creates", items=[mapped.cio_id])
            return
        # Brevo's import blacklists per request, not per row: blacklisted rows go in imports of their own.
        kind = "blacklist_row" if mapped.blacklisted else "row"
        row = trim_to_changed_fields(mapped.row, baseline) if baseline else mapped.row
        self._stage_buf.append((f"{kind}:{mapped.cio_id}", kind, {"hash": digest, "row": row}))

    def _settle_stale(
        self, mapper: PersonMapper, person: Person, mapped: MappedRow, own: Mapping[str, OwnWrite]
    ) -> MappedRow:
        """``mapped`` with the reverse sync's own writes in place of the values read stale (:mod:`.stale`); the
        writes read back (or superseded, or expired) are noted to be forgotten."""

        def read_time(key: str) -> float | None:
            source = "unsubscribed" if key == BLACKLIST_FIELD else mapper.field_sources.get(key)
            return person.timestamps.get(source) if source is not None else None

        result = settle(read_values(mapped), own, read_time, now=self.now(), settle_s=self.settle_s)
        self._settled.extend((mapped.cio_id, key) for key in result.settled)
        if not result.corrections:
            return mapped
        self.summary.stale_reads += len(result.corrections)
        log.info(
            "%s: Customer.io read older than the write from Brevo for %s; kept Brevo's value (a stale read, not a "
            "change)",
            mapped.cio_id,
            ", ".join(sorted(result.corrections)),
        )
        return with_fields(mapped, result.corrections)

    def _stage_full_deletes(self) -> None:
        """Full sync: people known from earlier runs but absent from Customer.io now are staged as deletes."""
        self._save()
        known = self.state.count_hashes(CIO_TO_BREVO)
        if not known:
            return
        gone = list(self.state.iter_unseen(self.run_key, CIO_TO_BREVO))
        if gone and len(gone) > max(10, known // 2):
            self.summary.notes.append(
                f"full sync: {len(gone)} of {known} known people are absent from Customer.io; not deleting that "
                "many at once (safety brake). Check the export, then delete through incremental runs."
            )
            log.warning("%s", self.summary.notes[-1])
            return
        self.state.stage_items(self.run_key, ((cid, "delete", None) for cid in gone))

    # -------------------------------------------------------------- load steps

    def _new_packer(self) -> Packer[tuple[str, str, dict[str, Any]]]:
        budget = min(self.config.people.import_batch_bytes, BREVO_IMPORT_LIMIT_BYTES)
        return Packer(
            max_bytes=budget,
            max_count=self.max_import_rows,
            size_of=lambda t: json_size(t[2]),
            overhead_bytes=IMPORT_OVERHEAD_BYTES,
            separator_bytes=2,
        )

    def _load_rows(self, kind: str, *, blacklist: bool, dry_run: bool) -> None:
        if dry_run:
            return
        packer = self._new_packer()
        offset = int(self._checkpoint.get("offset", 0))
        last = offset - 1
        for seq, key, _kind, data in self.state.iter_staged(self.run_key, from_seq=offset, kind=kind):
            last = seq
            if not data:
                continue
            cio_id = key.split(":", 1)[1]
            # batches completed by this add hold only items before `seq`
            self._emit(packer.add((cio_id, data["hash"], data["row"])), blacklist=blacklist, next_offset=seq)
        self._emit(packer.flush(), blacklist=blacklist, next_offset=last + 1)

    def _emit(
        self,
        outputs: list[Batch[tuple[str, str, dict[str, Any]]] | Oversize[tuple[str, str, dict[str, Any]]]],
        *,
        blacklist: bool,
        next_offset: int,
    ) -> None:
        for out in outputs:
            if isinstance(out, Oversize):
                if next_offset <= int(self._checkpoint.get("oversize_seen", -1)):
                    continue  # ledgered before load() stopped for a slot and started again from the checkpoint
                self._checkpoint["oversize_seen"] = next_offset  # the oversize item is the one at ``next_offset``
                cio_id, _h, row = out.item
                self.ledger.reject(
                    record_id=cio_id,
                    reason=out.reason,
                    stage="pack",
                    message=out.message,
                    identifiers={"email": row.get("email"), "id": (row.get("attributes") or {}).get("EXT_ID")},
                )
                continue
            rows = [r for _, _, r in out.items]
            pid = self._start_import(rows, blacklist=blacklist, may_stop=True)
            options = {"email_blacklist": blacklist, "written_at": self._sent_at}
            self.state.add_pending(self.run_key, pid, out.items, options=options)
            self.summary.imports += 1
            log.info("Submitted Brevo import process %s: %d rows, %d bytes", pid, len(out.items), out.nbytes)
            self._save(offset=next_offset)

    def _deletes(self, dry_run: bool) -> None:
        policy = self.config.people.delete_policy
        offset = int(self._checkpoint.get("offset", 0))
        for seq, cio_id, kind, data in self.state.iter_staged(self.run_key, from_seq=offset):
            if kind != "delete":
                continue
            self._delete_one(cio_id, kind, data or {}, policy, dry_run)
            if not dry_run:
                self._save(offset=seq + 1)

    def _delete_one(self, cio_id: str, kind: str, data: Mapping[str, Any], policy: str, dry_run: bool) -> None:
        ident = self.state.get_identity(cio_id)
        ext_id = (ident.ext_id if ident else None) or data.get("id")
        email = (ident.email if ident else None) or data.get("email")
        if ext_id:
            identifier, id_type = str(ext_id), "ext_id"
        elif email:
            identifier, id_type = str(email).strip().lower(), "email_id"
        else:
            self.summary.notes.append(f"{kind} of {cio_id}: no Brevo identifier known, nothing to do")
            if not dry_run:
                self.state.delete_hashes(CIO_TO_BREVO, [cio_id])
            return
        action = policy
        if action == "ignore":
            return
        if dry_run:
            if action == "delete":
                self.summary.deleted += 1
                self.summary.plan_add("deletes", items=[cio_id])
            else:
                self.summary.blacklisted += 1
                self.summary.plan_add("blacklists", items=[cio_id])
            return
        try:
            if action == "delete":
                if self.sink.delete_contact(identifier, id_type):
                    self.summary.deleted += 1
                self.state.forget_identity(cio_id)
            elif self.sink.blacklist_contact(identifier, id_type):
                self.summary.blacklisted += 1
        except Exception as exc:
            self.ledger.reject(
                record_id=cio_id,
                reason="delete_failed",
                stage="delete",
                message=f"{action} failed: {exc.__class__.__name__}: {str(exc)[:200]}",
                identifiers={id_type: identifier},
            )
            return
        self.state.delete_hashes(CIO_TO_BREVO, [cio_id])

    # -------------------------------------------------------------- process results

    def _commit_process(self, process_id: str, report: ImportReport, options: Mapping[str, Any] | None = None) -> None:
        s = self.summary
        commit_all = not report.unidentified
        written_at = float((options or {}).get("written_at") or self.now())
        blacklist = [(BLACKLIST_FIELD, True)] if (options or {}).get("email_blacklist") else []
        for unnamed_reason, count in report.unidentified.items():
            self.ledger.reject(
                record_id=None,
                reason=unnamed_reason,
                stage="import",
                message=f"Brevo's import process {process_id} refused {count} row(s) without naming "
                "them; the batch will be compared again next run",
                detail={"process_id": process_id, "count": count},
            )
        with self.state.transaction():
            rows = self.state.iter_pending_rows(self.run_key, process_id)
            while chunk := list(itertools.islice(rows, HASH_CHUNK)):
                # one read of the stored hashes and one identity write per chunk, not per row
                known = self.state.get_hashes(CIO_TO_BREVO, [pr.person_key for pr in chunk])
                hashes: list[tuple[str, str]] = []
                fields: list[tuple[str, dict[str, str]]] = []
                identities: list[tuple[str, str | None, str | None]] = []
                own: list[tuple[str, str, Any]] = []
                for pr in chunk:
                    row = pr.row
                    email = row.get("email")
                    ext_id = (row.get("attributes") or {}).get("EXT_ID")
                    reason = report.rejected.get(email or "") or report.rejected.get(str(ext_id or ""))
                    if reason:
                        self.ledger.reject(
                            record_id=pr.person_key,
                            reason=reason,
                            stage="import",
                            message=f"Brevo import process {process_id} refused the row ({reason})",
                            identifiers={"email": email, "id": ext_id},
                            detail={"process_id": process_id},
                        )
                        continue
                    if pr.person_key in known:
                        s.updated += 1
                    else:
                        s.created += 1
                    if commit_all:
                        hashes.append((pr.person_key, pr.hash))
                        fields.append((pr.person_key, row_field_digests(row)))
                        if self.two_way:  # what Brevo will show once read: the reverse sync's stale-read check
                            written = [*row_field_values(row).items(), *blacklist]
                            own.extend((pr.person_key, k, v) for k, v in written)
                    identities.append((pr.person_key, email, str(ext_id) if ext_id else None))
                self.state.upsert_identities(identities)
                self.state.set_hashes(CIO_TO_BREVO, hashes)
                self.state.set_field_digests(fields)
                self.state.record_own_writes(TO_BREVO, own, written_at)
            self.state.drop_pending(self.run_key, process_id)

    def _failed_process(self, process_id: str, attempt: int, options: Mapping[str, Any], error: str | None) -> None:
        rows = list(self.state.iter_pending_rows(self.run_key, process_id))
        if attempt < self.max_import_attempts:
            log.warning(
                "Brevo import process %s failed (%s); resubmitting its %d rows, attempt %d/%d",
                process_id,
                error,
                len(rows),
                attempt + 1,
                self.max_import_attempts,
            )
            new_pid = self._start_import(
                [r.row for r in rows], blacklist=bool(options.get("email_blacklist")), may_stop=False
            )
            self.summary.imports += 1
            options = {**options, "written_at": self._sent_at}
            with self.state.transaction():
                self.state.add_pending(
                    self.run_key,
                    new_pid,
                    [(r.person_key, r.hash, r.row) for r in rows],
                    attempt=attempt + 1,
                    options=options,
                )
                self.state.drop_pending(self.run_key, process_id)
            return
        for r in rows:
            self.ledger.reject(
                record_id=r.person_key,
                reason="import_failed",
                stage="import",
                message=f"Brevo import process {process_id} failed {attempt} times ({error}); the "
                "person will be retried by the next run",
                identifiers={"email": r.row.get("email"), "id": (r.row.get("attributes") or {}).get("EXT_ID")},
                detail={"process_id": process_id},
            )
        self.state.drop_pending(self.run_key, process_id)


def trim_to_changed_fields(row: Mapping[str, Any], baseline: Mapping[str, str]) -> dict[str, Any]:
    """The row without the fields whose value both sides last agreed on (``baseline``: per-field digests); the
    identifiers (email, ``EXT_ID``) always stay. Brevo's import leaves the attributes a row omits untouched."""
    attrs = {
        k: v
        for k, v in (row.get("attributes") or {}).items()
        if k == EXT_ID_ATTRIBUTE or baseline.get(str(k)) != field_digest(v)
    }
    out = {k: v for k, v in row.items() if k != "attributes"}
    out["attributes"] = attrs
    return out


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


__all__ = [
    "Change",
    "Clock",
    "ContactSink",
    "ImportReport",
    "PeopleSource",
    "PeopleSync",
    "PeopleSyncError",
    "ProcessState",
    "RunWindow",
    "SystemClock",
    "parse_since",
    "resolve_window",
    "run_blocking",
    "wait_and_load",
]
