"""Writing to Customer.io: Track v2 ``/api/v2/batch`` operations, packed just under 500 KB with no operation over
32 KB; a 207 answer's per-operation errors go to the ledger (transient ones are re-sent first); what was applied is
committed to the sync state per person."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import msgspec

from airflow_provider_customerio.store.state import BREVO_TO_CIO, CIO_TO_BREVO, TO_CIO
from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.ports import RejectSink, RunLedger, SyncState
from airflow_provider_customerio.sync.reverse.mapping import UNSUBSCRIBED, ReverseRecord
from airflow_provider_customerio.sync.reverse.ports import BatchError, PeopleWriter
from airflow_provider_customerio.sync.reverse.summary import ReverseSummary
from airflow_provider_customerio.sync.stale import BLACKLIST_FIELD

log = logging.getLogger(__name__)

#: Track v2 limits (documented): body < 500 KB, one operation <= 32 KB.
TRACK_BATCH_LIMIT_BYTES = 500 * 1024
TRACK_OPERATION_LIMIT_BYTES = 32 * 1024
#: "just under" the limit: room for the envelope and for any difference in JSON spacing.
TRACK_BATCH_BUDGET_BYTES = TRACK_BATCH_LIMIT_BYTES - 2 * 1024
TRACK_BATCH_OVERHEAD_BYTES = len('{"batch":[]}')
#: Operations per batch: Customer.io documents no count limit; bytes are the real bound.
TRACK_BATCH_MAX_OPS = 5000
#: 207 per-operation reasons that mean "try again" (the vendor applied nothing for that operation).
TRANSIENT_REASONS = frozenset({"internal", "timeout", "unavailable", "temporary", "rate_limited"})
_ENC = msgspec.json.Encoder()


@dataclass
class InFlight:
    """A Track batch sent on another thread (:meth:`TrackWriter.submit`), not settled yet."""

    items: list[Pending]
    sent_at: float
    future: Future[list[BatchError]]


@dataclass
class Pending:
    """A decided write waiting for its batch."""

    record: ReverseRecord
    cio_id: str | None
    op: dict[str, Any]
    attempts: int = 0
    #: per-field digests both sides hold once the operation is applied
    agreed: dict[str, str] = field(default_factory=dict)
    #: a field of this contact lost a conflict: its snapshot is not committed (re-decided until settled)
    lost: bool = False
    #: bytes of ``op`` as compact JSON (measured once, :func:`op_bytes`)
    nbytes: int = 0


class TrackWriter:
    """Builds the Track operations of decided contacts, sends them in packed batches and commits what Customer.io
    applied (snapshots, forward hashes, per-field digests, identity map, own writes).

    :param state: the sync state shared with the Customer.io -> Brevo sync.
    :param writer: the Customer.io port.
    :param ledger: the run's ledger.
    :param summary: the run's summary (counts batches, updates, unsubscribes, suppressions).
    :param field_keys: Customer.io attribute -> its key in the per-field sync state.
    :param email_key: the Customer.io attribute mapped to Brevo's email.
    :param batch_budget_bytes: byte budget of one Track batch.
    :param max_attempts: sends of an operation that keeps failing transiently before it is ledgered.
    :param now: wall time in unix seconds (the times of own writes).
    :param rejects: where the contacts no operation can be built for are rejected, when they are decided (default:
        the ledger; the run holds them until the contacts' cut, see :class:`~.inflight.HeldRejects`).
    """

    def __init__(
        self,
        *,
        state: SyncState,
        writer: PeopleWriter,
        ledger: RunLedger,
        summary: ReverseSummary,
        field_keys: Mapping[str, str],
        email_key: str,
        batch_budget_bytes: int,
        max_attempts: int,
        now: Callable[[], float],
        rejects: RejectSink | None = None,
    ) -> None:
        self.state = state
        self.writer = writer
        self.ledger = ledger
        self.rejects = rejects if rejects is not None else ledger
        self.summary = summary
        self.field_keys = field_keys
        self.email_key = email_key
        self.batch_budget_bytes = batch_budget_bytes
        self.max_attempts = max_attempts
        self.now = now

    def operation(self, rec: ReverseRecord, cio_id: str | None, changed: set[str]) -> dict[str, Any] | None:
        if cio_id and self.email_key in changed:
            identifiers = {"cio_id": cio_id}  # Customer.io changes an email only for a person named by cio_id
        elif rec.customer_id:
            identifiers = {"id": rec.customer_id}
        elif cio_id:
            identifiers = {"cio_id": cio_id}
        elif rec.email:
            identifiers = {"email": rec.email}
        elif rec.phone:
            identifiers = {"phone": rec.phone}
        else:
            self.rejects.reject(
                record_id=rec.key,
                reason="missing_identifier",
                stage="map",
                message="the Brevo contact has no EXT_ID, no known Customer.io person, no valid email "
                "and no SMS number: Customer.io cannot identify it. Add one in Brevo.",
                identifiers=rec.identities,
            )
            return None
        op: dict[str, Any] = {"type": "person", "action": "identify", "identifiers": identifiers}
        attrs = {k: v for k, v in rec.attributes.items() if k in changed}
        if attrs:
            op["attributes"] = attrs  # no "timestamp": Customer.io stamps the current time (backfill safety)
        return op

    def _new_packer(self) -> Packer[Pending]:
        return Packer(
            max_bytes=self.batch_budget_bytes,
            max_count=TRACK_BATCH_MAX_OPS,
            size_of=op_bytes,
            overhead_bytes=TRACK_BATCH_OVERHEAD_BYTES,
            separator_bytes=1,
            max_item_bytes=TRACK_OPERATION_LIMIT_BYTES,
        )

    def pack(self, pending: list[Pending]) -> list[list[Pending]]:
        """The batches of ``pending`` (an operation over the 32 KB limit is ledgered instead)."""
        packer = self._new_packer()
        outputs: list[Batch[Pending] | Oversize[Pending]] = []
        for item in pending:
            outputs.extend(packer.add(item))
        outputs.extend(packer.flush())
        batches: list[list[Pending]] = []
        for out in outputs:
            if isinstance(out, Oversize):
                self.ledger.reject(
                    record_id=out.item.record.key,
                    reason=out.reason,
                    stage="pack",
                    message=f"{out.message} (Track v2 operation limit); trim the contact's attributes in Brevo",
                    identifiers=out.item.record.identities,
                )
            else:
                batches.append(out.items)
        return batches

    def write(self, pending: list[Pending]) -> None:
        """Send ``pending`` in packed batches, here; re-send the operations that failed transiently."""
        queue = pending
        while queue:
            retry: list[Pending] = []
            for items in self.pack(queue):
                retry.extend(self._send(items))
            queue = retry

    def submit(self, items: list[Pending], pool: Executor) -> InFlight:
        """Send one packed batch on ``pool``'s thread (only the HTTP call: nothing else leaves this thread); settle
        it with :meth:`settle`."""
        sent_at = self.now()  # before the batch: Customer.io applies it later (the people sync's stale-read check)
        self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
        return InFlight(items, sent_at, pool.submit(self.writer.send_batch, [p.op for p in items]))

    def settle(self, flight: InFlight) -> ReverseSummary:
        """Wait for a submitted batch and settle it as :meth:`write` settles its batches (commit what was applied,
        ledger the permanent rejects, re-send the transient ones, here). Returns what it wrote (``batches``,
        ``updated``, ``unsubscribed``, ``suppressed``, ``notes``) in a summary of its own: the caller adds it to the
        run's summary and to the checkpoint of the batch's cut."""
        live, self.summary = self.summary, ReverseSummary(conflict_policy=self.summary.conflict_policy)
        try:
            self.write(self._applied(flight.items, flight.future.result(), flight.sent_at))
            return self.summary
        finally:
            self.summary = live

    def _send(self, items: list[Pending]) -> list[Pending]:
        """Send one batch; commit what was applied, ledger the permanent rejects, return the ones to re-send."""
        sent_at = self.now()  # before the batch: Customer.io applies it later (the people sync's stale-read check)
        self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
        return self._applied(items, self.writer.send_batch([p.op for p in items]), sent_at)

    def _applied(self, items: list[Pending], errors: list[BatchError], sent_at: float) -> list[Pending]:
        """Settle a sent batch by its answer: commit what was applied, ledger the permanent rejects, return the
        ones to re-send."""
        self.summary.batches += 1
        by_index = {e.index: e for e in errors}
        ok: list[Pending] = []
        retry: list[Pending] = []
        for i, item in enumerate(items):
            err = by_index.get(i)
            if err is None:
                ok.append(item)
                continue
            item.attempts += 1
            if err.reason in TRANSIENT_REASONS and item.attempts < self.max_attempts:
                retry.append(item)
                continue
            self.ledger.reject(
                record_id=item.record.key,
                reason="vendor_rejected",
                stage="track_batch",
                message=f"Customer.io rejected the operation: {err.reason}"
                f"{' on ' + err.field if err.field else ''}: {err.message}"
                + (f" (after {item.attempts} attempts)" if err.reason in TRANSIENT_REASONS else ""),
                identifiers=item.record.identities,
                detail={"vendor_reason": err.reason, "field": err.field, "identifiers": item.op.get("identifiers")},
            )
        unknown = [e for e in errors if not 0 <= e.index < len(items)]
        for e in unknown:
            self.summary.notes.append(f"Track batch error without a valid batch_index: {e.reason}: {e.message}")
        self.commit(ok, written_at=sent_at)
        if retry:
            log.warning("Track batch: %d operation(s) failed transiently; re-sending them", len(retry))
        return retry

    def commit(self, items: list[Pending], written_at: float | None = None) -> None:
        s = self.summary
        with self.state.transaction():
            if written_at is not None:
                self.state.record_own_writes(TO_CIO, self._own_writes(items), written_at)
            self.state.set_hashes(
                BREVO_TO_CIO, [(p.record.key, p.record.snapshot().encode()) for p in items if not p.lost]
            )
            forward = [(p.cio_id, p.record.forward_hash) for p in items if p.cio_id]
            if forward:
                self.state.set_hashes(CIO_TO_BREVO, forward)
            self.state.set_field_digests((p.cio_id, p.agreed) for p in items if p.cio_id and p.agreed)
            for p in items:
                if "attributes" in p.op:
                    s.updated += 1  # Track identify is an upsert: it does not say whether it created the person
                    if UNSUBSCRIBED in p.op["attributes"]:
                        s.unsubscribed += 1
                elif p.op.get("action") == "suppress":
                    s.suppressed += 1
                if p.cio_id:
                    self.state.upsert_identity(
                        p.cio_id, brevo_id=p.record.contact.id, email=p.record.email, ext_id=p.record.customer_id
                    )

    def _own_writes(self, items: list[Pending]) -> list[tuple[str, str, Any]]:
        """``(cio_id, field, value)`` of the fields the applied operations wrote (Brevo's canonical values)."""
        out: list[tuple[str, str, Any]] = []
        for p in items:
            if not p.cio_id or p.op.get("action") != "identify":
                continue
            for name in p.op.get("attributes") or {}:
                if name == UNSUBSCRIBED:
                    out.append((p.cio_id, BLACKLIST_FIELD, True))
                    continue
                key = self.field_keys.get(name)
                if key is not None and key in p.record.brevo_fields:
                    out.append((p.cio_id, key, p.record.brevo_fields[key]))
        return out


def op_bytes(p: Pending) -> int:
    """Bytes of ``p``'s operation in the batch body (compact UTF-8 JSON as msgspec writes it, the Track hook's
    encoder; never more than :func:`~airflow_provider_customerio.sync.batching.json_size` plus a byte for a
    non-finite number), measured once."""
    if not p.nbytes:
        try:
            p.nbytes = len(_ENC.encode(p.op))
        except (TypeError, msgspec.EncodeError):  # a value msgspec cannot write: the hook sends the standard form
            p.nbytes = json_size(p.op, compact=True)
    return p.nbytes


def op_size(p: Pending) -> int:
    """Bytes ``p`` adds to a batch (its compact JSON and a separator)."""
    return op_bytes(p) + 1
