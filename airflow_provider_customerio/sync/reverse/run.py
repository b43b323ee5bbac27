"""The orchestration of one reverse run (:class:`ReverseSync`): read Brevo's changed contacts page by page,
decide each one (echo, unchanged, clash, per-field conflicts), write the changes and checkpoint."""

from __future__ import annotations

import copy
import logging
import time
from collections import ChainMap, Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import closing
from datetime import timedelta
from typing import Any

from airflow_provider_customerio.store.state import BREVO_TO_CIO, CIO_TO_BREVO, TO_BREVO
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.hashing import value_digests
from airflow_provider_customerio.sync.mapping import (
    BrevoAttribute,
    MappingError,
    PersonMapper,
    check_mapping,
)
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.ports import RunLedger, SyncState
from airflow_provider_customerio.sync.reverse.conflicts import ConflictResolver, Decision
from airflow_provider_customerio.sync.reverse.identity import IdentityResolver
from airflow_provider_customerio.sync.reverse.inflight import Cut, HeldRejects
from airflow_provider_customerio.sync.reverse.mapping import (
    UNSUBSCRIBED,
    ReverseMapper,
    ReverseRecord,
    Snapshot,
    with_brevo_fields,
)
from airflow_provider_customerio.sync.reverse.pipeline import read_ahead
from airflow_provider_customerio.sync.reverse.ports import BrevoContact, ContactSource, PeopleWriter, ReverseSyncError
from airflow_provider_customerio.sync.reverse.summary import CONFLICT_POLICIES, DEFAULT_CONFLICT_POLICY, ReverseSummary
from airflow_provider_customerio.sync.reverse.write import (
    TRACK_BATCH_BUDGET_BYTES,
    TRACK_BATCH_LIMIT_BYTES,
    Pending,
    TrackWriter,
    op_size,
)
from airflow_provider_customerio.sync.stale import BLACKLIST_FIELD, DEFAULT_SETTLE_S, settle
from airflow_provider_customerio.sync.summary import check_threshold

log = logging.getLogger(__name__)

#: Contacts decided together (Brevo is read 1000 per page regardless): the sync state is read once per page (a few
#: queries), so a larger page costs fewer queries per contact. Decided operations accumulate until the next page
#: would overflow a batch (a page of 250 makes about 70 KB of Track operations, a seventh of a batch); then they are
#: sent and the run is checkpointed.
PAGE_SIZE = 250
WATERMARK = "brevo_to_cio:window_end"
#: How far before its window a run reads Brevo: one earlier run's worth of contacts that Brevo listed late (read
#: lag) or stamped by a coarser clock. Re-read contacts are compared, not re-written ("unchanged").
READ_OVERLAP = timedelta(minutes=10)


class ReverseSync:
    """One contacts sync run Brevo -> Customer.io.

    :param config: the ``connectors.customerio`` configuration.
    :param source: the Brevo port.
    :param writer: the Customer.io port.
    :param state: the state store shared with the Customer.io -> Brevo sync (same file!).
    :param ledger: this run's ledger.
    :param run_key: ``dag_id/run_id/task_id``; keys the checkpoint.
    :param conflict_policy: overrides ``connectors.customerio.reverse.conflict_policy``.
    :param max_attempts: sends of an operation that keeps failing transiently before it is ledgered.
    :param page_size: contacts decided together; their operations are sent (and the run checkpointed) once
        the next page would overflow the batch budget.
    :param batch_budget_bytes: byte budget of one Track batch (default: just under 500 KB).
    :param settle_s: seconds an own write decides stale reads before it expires (``sync.stale``).
    :param now: wall time in unix seconds (tests pass a fake); the times of own writes.
    """

    def __init__(
        self,
        *,
        config: CustomerIOConfig,
        source: ContactSource,
        writer: PeopleWriter,
        state: SyncState,
        ledger: RunLedger,
        run_key: str,
        conflict_policy: str | None = None,
        max_attempts: int = 3,
        page_size: int = PAGE_SIZE,
        batch_budget_bytes: int = TRACK_BATCH_BUDGET_BYTES,
        read_overlap: timedelta = READ_OVERLAP,
        settle_s: float = DEFAULT_SETTLE_S,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.settle_s = settle_s
        self.now = now or time.time
        policy = conflict_policy or config.reverse.conflict_policy or DEFAULT_CONFLICT_POLICY
        if policy not in CONFLICT_POLICIES:
            raise ReverseSyncError(
                f"conflict_policy `{policy}` is unknown: set connectors.customerio.reverse.conflict_policy (or the "
                f"param) to one of {', '.join(CONFLICT_POLICIES)}."
            )
        if not 1 <= page_size <= 100_000:
            raise ReverseSyncError(f"page_size must be between 1 and 100000, got {page_size}")
        self.config = config
        self.source = source
        self.writer = writer
        self.state = state
        self.ledger = ledger
        self.run_key = run_key
        self.policy = policy
        self.max_attempts = max(1, max_attempts)
        self.read_overlap = max(timedelta(0), read_overlap)
        self.page_size = page_size
        self.batch_budget_bytes = min(batch_budget_bytes, TRACK_BATCH_LIMIT_BYTES)
        all_contacts = config.lists.get("all_contacts")
        self.list_ids: list[int] = [all_contacts] if all_contacts else []
        self.summary = ReverseSummary(conflict_policy=policy)
        self._checkpoint: dict[str, Any] = {}
        #: cio_id -> Brevo contact id of the people decided since the last batch (the identity map has the rest)
        self._claimed: dict[str, int] = {}
        #: the rejects of contacts decided after the last cut, held until their own cut (:mod:`.inflight`)
        self._held = HeldRejects(ledger)
        #: the batch in flight (sent on ``_pool``'s thread) and the checkpoint of its cut
        self._cut_in_flight: Cut | None = None
        self._pool: Executor | None = None
        self._field_keys: dict[str, str] = {}
        self._identity = IdentityResolver(state, source, self._held)
        # set up by run() (:meth:`_setup`), once Brevo's attributes and the run's summary are known
        self._conflicts: ConflictResolver
        self._track: TrackWriter

    # -------------------------------------------------------------- checkpoint

    @staticmethod
    def load_checkpoint(state: SyncState, run_key: str) -> dict[str, Any] | None:
        """The checkpoint of an unfinished run with this key (the operator truncates the ledger to its
        ``ledger_offset`` before resuming)."""
        return state.get_checkpoint(run_key)

    def _save(self, summary: ReverseSummary | None = None, **changes: Any) -> None:
        self._checkpoint.update(changes)
        self._checkpoint["ledger_offset"] = self.ledger.flush()
        self._checkpoint["summary"] = (summary or self.summary).to_state()
        self.state.save_checkpoint(self.run_key, self._checkpoint)

    # -------------------------------------------------------------- entry point

    def run(self, *, window: RunWindow | None, dry_run: bool = False) -> ReverseSummary:
        """Run (or resume) the sync over ``window`` (``None``: every contact, a full pass) and return the summary.

        :raises RejectThresholdExceeded: more records rejected than ``people.reject_threshold`` allows.
        """
        self._start(window, dry_run)
        mapper = self._setup(self.source.list_attributes())
        if not dry_run:
            self.state.expire_own_writes(TO_BREVO, self.now() - self.settle_s)
        raw = self._read(window, mapper, dry_run)
        return self._finish(window, raw, dry_run)

    def _start(self, window: RunWindow | None, dry_run: bool) -> None:
        """Resume the checkpoint of an unfinished run of the same mode, or start afresh."""
        mode = "incremental" if window is not None else "full"
        cp = self.state.get_checkpoint(self.run_key)
        if cp and cp.get("mode") == mode and not dry_run:
            self._checkpoint = cp
            self.summary = ReverseSummary.from_state(cp.get("summary") or {})
            log.info("Resuming %s after %s contacts", self.run_key, cp.get("position"))
        else:
            if cp:
                self.state.clear_run(self.run_key)
            self._checkpoint = {"mode": mode, "position": 0}
            self.summary = ReverseSummary(mode=mode, dry_run=dry_run, conflict_policy=self.policy)
        self.summary.ledger = self.ledger.key
        if window is not None:
            self.summary.window_start, self.summary.window_end = window.start.isoformat(), window.end.isoformat()

    def _read(self, window: RunWindow | None, mapper: ReverseMapper, dry_run: bool) -> int:
        """Read, decide and write the window's contacts page by page; return how many Brevo listed."""
        end_ms = int(window.end.timestamp() * 1000) if window is not None else None
        read_from = window.start - self.read_overlap if window is not None else None
        start_ms = int(read_from.timestamp() * 1000) if read_from is not None else None

        position = int(self._checkpoint.get("position", 0))
        page: list[BrevoContact] = []
        carry: list[Pending] = []  # decided operations not sent yet, packed into the next batch(es)
        carry_bytes = 0
        raw = 0
        # the next pages are read (rate-limit waits, network, decoding) and the last batch is sent while this thread
        # decides and writes (:mod:`.pipeline`, :mod:`.inflight`)
        with (
            closing(read_ahead(self.source.iter_modified(read_from), name=f"brevo-read {self.run_key}")) as contacts,
            ThreadPoolExecutor(1, thread_name_prefix=f"track-send {self.run_key}") as self._pool,
        ):
            for contact in contacts:
                raw += 1
                if raw <= position:
                    continue
                if end_ms is not None and contact.modified_at >= end_ms:
                    continue  # changed again after the window: the next run reads it
                if start_ms is not None and contact.modified_at < start_ms:
                    continue
                page.append(contact)
                if len(page) >= self.page_size:
                    decided = self._process_page(page, mapper, dry_run)
                    page = []
                    added = sum(op_size(p) for p in decided)
                    carry.extend(decided)
                    carry_bytes += added
                    if carry_bytes + added > self.batch_budget_bytes:
                        # the next page would not fit: a cut (everything up to here is decided)
                        self._cut(carry, raw, dry_run)
                        carry, carry_bytes = [], 0
            if page:
                carry.extend(self._process_page(page, mapper, dry_run))
            self._settle()
            self._held.release()
            self._flush(carry, dry_run)
        self._pool = None
        return raw

    def _cut(self, carry: list[Pending], position: int, dry_run: bool) -> None:
        """Everything read up to ``position`` is decided: settle the batch in flight (and checkpoint its cut), ledger
        the rejects held since, then send ``carry``: all its batches but the last here, the last on the send
        thread while the next contacts are decided (see :mod:`.inflight`)."""
        self._settle()
        self._held.release()
        if dry_run or self._pool is None:
            self._flush(carry, dry_run)
            if not dry_run:
                self._save(position=position)
            return
        batches = self._track.pack(carry)
        for items in batches[:-1]:
            self._track.write(items)
        if not batches:
            self._save(position=position)
            return
        flight = self._track.submit(batches[-1], self._pool)
        snapshot = copy.deepcopy(self.summary.to_state())
        self._cut_in_flight = Cut(flight, position, snapshot, claims=self._claimed)
        self._claimed = {}

    def _settle(self) -> None:
        """Settle the batch in flight, if any, and checkpoint its cut (its counters plus what the batch wrote)."""
        cut, self._cut_in_flight = self._cut_in_flight, None
        if cut is None:
            return
        wrote = self._track.settle(cut.flight)
        self.summary.add_writes(wrote)
        at_cut = ReverseSummary.from_state(cut.summary)
        at_cut.add_writes(wrote)
        self._save(summary=at_cut, position=cut.position)

    def _finish(self, window: RunWindow | None, raw: int, dry_run: bool) -> ReverseSummary:
        """Checkpoint the end, move the watermark, count the ledger and check the reject threshold."""
        s = self.summary
        s.finish()
        if not dry_run:
            self._save(position=raw)
            if window is not None:
                self.state.set_watermark(WATERMARK, window.end.isoformat())
            self.state.clear_run(self.run_key)
        self.ledger.flush()
        s.rejected = self.ledger.record_rejects
        s.value_rejects = self.ledger.total - self.ledger.record_rejects
        s.rejects_by_reason = Counter(self.ledger.counts)
        log.info("Brevo -> Customer.io: %s", s.to_xcom())
        check_threshold(
            rejected=s.rejected,
            read=s.read,
            threshold=self.config.people.reject_threshold,
            ledger_path=self.ledger.location,
        )
        return s

    # -------------------------------------------------------------- setup

    def _setup(self, attributes: list[BrevoAttribute]) -> ReverseMapper:
        """Check the mapping against Brevo's attributes; build the mapper, the conflict resolver and the writer."""
        missing = check_mapping(self.config.field_mapping, attributes)
        if missing:
            names = ", ".join(f"{f.target} (from `{f.source}`)" for f in missing)
            raise MappingError(
                f"Brevo has no attribute {names}: the reverse sync cannot read what is not there. Create the "
                "attribute(s) in Brevo, run the Customer.io -> Brevo sync with "
                "connectors.customerio.people.create_missing_attributes: true, or remove the entries from "
                "connectors.customerio.field_mapping."
            )
        mapper = ReverseMapper(self.config.field_mapping, attributes, self.list_ids)
        self._field_keys = mapper.field_keys
        self._conflicts = ConflictResolver(
            state=self.state,
            writer=self.writer,
            summary=self.summary,
            policy=self.policy,
            forward_mapper=PersonMapper(self.config.field_mapping, attributes),
            field_keys=mapper.field_keys,
            list_ids=self.list_ids,
            now=self.now,
            settle_s=self.settle_s,
        )
        self._track = TrackWriter(
            state=self.state,
            writer=self.writer,
            ledger=self.ledger,
            rejects=self._held,
            summary=self.summary,
            field_keys=mapper.field_keys,
            email_key=mapper.email_source or "email",
            batch_budget_bytes=self.batch_budget_bytes,
            max_attempts=self.max_attempts,
            now=self.now,
        )
        return mapper

    # -------------------------------------------------------------- one page

    def _process_page(self, contacts: list[BrevoContact], mapper: ReverseMapper, dry_run: bool) -> list[Pending]:
        """Decide one page: commit echoes, ledger clashes and problems, resolve conflicts; return the writes."""
        records = [mapper.map(c) for c in contacts]
        self.summary.read += len(records)
        resolved: list[tuple[ReverseRecord, str | None]] = []
        # the people of the batch in flight stay claimed until it is settled
        claimed = ChainMap(self._claimed, self._cut_in_flight.claims) if self._cut_in_flight else self._claimed
        for rec, cio_id in zip(records, self._identity.resolve_all(records, claimed)):
            if cio_id is False:
                continue
            resolved.append((rec, cio_id))  # type: ignore[arg-type]
        resolved = self._settle_stale(resolved, mapper, dry_run)
        decided = self._changed(resolved, dry_run)
        decisions = self._conflicts.decide_fields([(rec, cid, changed) for rec, cid, changed in decided if cid])
        pending: list[Pending] = []
        for rec, cio_id, changed in decided:
            pending.extend(self._pending(rec, cio_id, changed, decisions.get(rec.contact.id), dry_run))
        return pending

    def _changed(
        self, resolved: list[tuple[ReverseRecord, str | None]], dry_run: bool
    ) -> list[tuple[ReverseRecord, str | None, set[str]]]:
        """The records with their changed fields; echoes of the forward sync and unchanged contacts are left out
        (echoes are committed: their snapshot, per-field digests and identity)."""
        s = self.summary
        snapshots = self.state.get_hashes(BREVO_TO_CIO, [r.key for r, _ in resolved])
        known = [cid for _, cid in resolved if cid]
        forward_hashes = self.state.get_hashes(CIO_TO_BREVO, known) if known else {}
        decided: list[tuple[ReverseRecord, str | None, set[str]]] = []
        echo_commits: list[tuple[ReverseRecord, str]] = []
        for rec, cio_id in resolved:
            if cio_id and forward_hashes.get(cio_id) == rec.forward_hash:
                s.echoes += 1
                s.unchanged += 1
                echo_commits.append((rec, cio_id))
                continue
            current = rec.snapshot()
            previous = Snapshot.decode(snapshots.get(rec.key))
            if previous is not None and previous.overall == current.overall:
                s.unchanged += 1
                continue
            decided.append((rec, cio_id, current.changed(previous)))
        if echo_commits and not dry_run:
            self._commit_echoes(echo_commits)
        return decided

    def _commit_echoes(self, echo_commits: list[tuple[ReverseRecord, str]]) -> None:
        with self.state.transaction():
            self.state.set_hashes(BREVO_TO_CIO, [(r.key, r.snapshot().encode()) for r, _ in echo_commits])
            self.state.set_field_digests((cid, value_digests(r.brevo_fields, 16)) for r, cid in echo_commits)
            for rec, cid in echo_commits:
                self.state.upsert_identity(cid, brevo_id=rec.contact.id)

    def _pending(
        self, rec: ReverseRecord, cio_id: str | None, changed: set[str], decision: Decision | None, dry_run: bool
    ) -> list[Pending]:
        """The writes of one decided contact (none when nothing is left to write)."""
        s = self.summary
        if decision is None:  # a person both sides never synced: every changed field flows
            decision = Decision(write=set(changed), agreed=self._agreed(rec, changed))
        if decision.dropped:
            return []
        op = self._track.operation(rec, cio_id, decision.write)
        if op is None:
            return []
        if decision.lost and "attributes" not in op:
            s.unchanged += 1  # every changed field lost its conflict: nothing to write, decided again next run
            return []
        for problem in rec.problems:
            self._held.reject(
                record_id=rec.key,
                reason=problem.reason,
                stage="map",
                message=f"{problem.source} -> {problem.target}: {problem.message}; the contact "
                "was synced without this value",
                identifiers=rec.identities,
                detail={"attribute": problem.source},
            )
        item = Pending(rec, cio_id, op, agreed=decision.agreed, lost=decision.lost)
        if "attributes" not in op:
            # nothing to write (e.g. only the identifier changed, or both sides agree): remember the new state
            if not dry_run:
                self._track.commit([item])
            s.unchanged += 1
            return []
        pending = [item]
        if self.config.reverse.suppress_unsubscribed and UNSUBSCRIBED in op.get("attributes", {}):
            # opt-in: the blacklisted contact is also suppressed in Customer.io (deleted, identifier blocked)
            suppress = {"type": "person", "action": "suppress", "identifiers": dict(op["identifiers"])}
            pending.append(Pending(rec, cio_id, suppress, lost=decision.lost))
        return pending

    def _settle_stale(
        self, resolved: list[tuple[ReverseRecord, str | None]], mapper: ReverseMapper, dry_run: bool
    ) -> list[tuple[ReverseRecord, str | None]]:
        """The records with the people sync's own writes in place of the values Brevo read stale: a contact whose
        ``modifiedAt`` is not later than an import that wrote a field, and that shows another value, was read
        before Brevo applied the import; that value is no Brevo change (``sync.stale``)."""
        cids = [cid for _, cid in resolved if cid]
        own = self.state.get_own_writes(TO_BREVO, cids) if cids else {}
        if not own:
            return resolved
        out: list[tuple[ReverseRecord, str | None]] = []
        settled: list[tuple[str, str]] = []
        for rec, cid in resolved:
            writes = own.get(cid) if cid else None
            if not writes:
                out.append((rec, cid))
                continue
            modified = rec.contact.modified_at / 1000 if rec.contact.modified_at else None
            times = dict.fromkeys(writes, modified)  # Brevo has one time per contact
            values = {**rec.brevo_fields, BLACKLIST_FIELD: rec.contact.email_blacklisted}
            result = settle(values, writes, times.get, now=self.now(), settle_s=self.settle_s)
            settled.extend((str(cid), key) for key in result.settled)
            if result.corrections:
                self.summary.stale_reads += len(result.corrections)
                log.info(
                    "Brevo contact %s read before the import that wrote %s; kept Customer.io's value (a stale read)",
                    rec.contact.id,
                    ", ".join(sorted(result.corrections)),
                )
                rec = mapper.map(with_brevo_fields(rec.contact, result.corrections))
            out.append((rec, cid))
        if settled and not dry_run:
            self.state.forget_own_writes(TO_BREVO, settled)
        return out

    def _agreed(self, rec: ReverseRecord, names: Iterable[str]) -> dict[str, str]:
        """Per-field digests of Brevo's values of ``names`` (what both sides hold once they are written)."""
        values: dict[str, Any] = {}
        for name in names:
            key = self._field_keys.get(name)
            if key is not None and key in rec.brevo_fields:
                values[key] = rec.brevo_fields[key]
        return value_digests(values, 16)  # field_digest of each

    def _flush(self, pending: list[Pending], dry_run: bool) -> None:
        self._claimed = {}  # from here on the identity map knows who stands for whom (memory stays flat)
        if dry_run:
            writes = [p for p in pending if "attributes" in p.op]
            self.summary.updated += len(writes)  # dry run: "would write"
            # Track identify is an upsert: a contact no Customer.io person stands for yet would be created
            creates = [p.record.key for p in writes if p.cio_id is None]
            updates = [p.cio_id for p in writes if p.cio_id is not None]
            self.summary.plan_add("creates", len(creates), items=creates)
            self.summary.plan_add("updates", len(updates), items=updates)
            unsubscribes = [p.cio_id or p.record.key for p in writes if UNSUBSCRIBED in p.op["attributes"]]
            self.summary.plan_add("unsubscribes", len(unsubscribes), items=unsubscribes)
            suppressions = [p.cio_id or p.record.key for p in pending if p.op.get("action") == "suppress"]
            self.summary.plan_add("suppressions", len(suppressions), items=suppressions)
        elif pending:
            self._track.write(pending)
