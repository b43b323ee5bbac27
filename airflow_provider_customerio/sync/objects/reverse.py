"""Object data sync Brevo -> Customer.io: Brevo custom object records that come from elsewhere become Customer.io
objects (Track v2 object ``identify`` with ``cio_relationships``), over the ports :class:`~.ports.RecordSource`
and :class:`~.ports.ObjectWriter`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_customerio.store.objects import ObjectStateTable
from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.hashing import content_hash
from airflow_provider_customerio.sync.objects.mapping import TypePlan
from airflow_provider_customerio.sync.objects.plan import configured_plans
from airflow_provider_customerio.sync.objects.ports import BrevoRecord, ObjectSyncError, ObjectWriter, RecordSource
from airflow_provider_customerio.sync.ports import RunLedger, SyncState
from airflow_provider_customerio.sync.summary import SyncSummary

MAX_TRACK_BATCH_BYTES = 500 * 1024 - 1024
MAX_TRACK_OP_BYTES = 32 * 1024
TRACK_BATCH_OVERHEAD_BYTES = len(b'{"batch":[]}')
#: Associated records Brevo lists per association in ``GET /objects/{type}/records?association=true``.
BREVO_LISTED_ASSOCIATIONS = 5


class ReverseObjectSync:
    """Brevo custom object records that come from elsewhere -> Customer.io objects (Track v2 object ``identify``
    with ``cio_relationships``), for the configured types (the inverse of each ``field_mapping``).

    Ownership keeps the two directions from echoing: records written by the forward direction (their ``ext_id``
    is a synced Customer.io object) are skipped here, and objects written here are skipped by the forward
    direction. Relationships are only added: Brevo lists at most 5 associated contacts per record, so a removal
    cannot be told from truncation (records with more than 5 contacts are noted in the summary). Unchanged
    records (content hash) are not sent again; a rejected operation goes to the ledger (``vendor_rejected``).

    :param type_ids: restrict to these Customer.io type ids.
    """

    def __init__(
        self,
        *,
        config: CustomerIOConfig,
        source: RecordSource,
        writer: ObjectWriter,
        state: SyncState,
        objects: ObjectStateTable,
        ledger: RunLedger,
        type_ids: Sequence[str] | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.writer = writer
        self.state = state
        self.objects = objects
        self.ledger = ledger
        self.type_ids = list(type_ids) if type_ids else None
        self.summary = SyncSummary(direction="brevo_objects_to_cio", mode="full")
        self._people: dict[int, Mapping[str, str] | None] = {}
        self.truncated = 0
        self.echoes = 0

    def _person(self, contact_id: int) -> Mapping[str, str] | None:
        if contact_id not in self._people:
            ident = self.state.find_identity(brevo_id=contact_id)
            self._people[contact_id] = (
                {"cio_id": ident.cio_id} if ident is not None else self.source.person_identifiers(contact_id)
            )
        return self._people[contact_id]

    def run(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Read every record of the configured Brevo types and write the new or changed ones to Customer.io."""
        s = self.summary
        s.dry_run = dry_run
        s.ledger = self.ledger.key
        configured = configured_plans(self.config)
        plans = [p for p in configured if not self.type_ids or p.type_id in self.type_ids]
        if not plans:
            raise ObjectSyncError(
                "connectors.customerio.objects.types has no entry for the reverse direction: add "
                "one per object type (its field_mapping is used inverted)."
            )
        for plan in plans:
            inverse = {tgt: src for src, tgt in plan.field_mapping.items()}
            packer: Packer[tuple[str, str, dict[str, Any]]] = Packer(
                max_bytes=MAX_TRACK_BATCH_BYTES,
                max_count=10_000,
                size_of=lambda t: json_size(t[2], compact=True),
                overhead_bytes=TRACK_BATCH_OVERHEAD_BYTES,
                separator_bytes=1,
                max_item_bytes=MAX_TRACK_OP_BYTES,
            )
            for record in self.source.iter_records(plan.brevo_type):
                s.read += 1
                if record.ext_id and self.objects.get(plan.brevo_type, record.ext_id) is not None:
                    self.echoes += 1  # written by the forward direction: Customer.io owns it
                    s.unchanged += 1
                    continue
                item = self._operation(plan, inverse, record)
                if item is None:
                    continue
                self._send(plan, packer.add(item), dry_run)
            self._send(plan, packer.flush(), dry_run)
        s.rejected = self.ledger.record_rejects
        s.rejects_by_reason = self.ledger.counts.copy()
        if self.truncated:
            s.notes.append(
                f"{self.truncated} Brevo record(s) list {BREVO_LISTED_ASSOCIATIONS} associated contacts, "
                "Brevo's listing maximum: contacts beyond it are not related in Customer.io"
            )
        s.finish()
        self.ledger.close()
        out = s.to_xcom()
        out.update(echoes=self.echoes, truncated_associations=self.truncated)
        return out

    def _operation(
        self, plan: TypePlan, inverse: Mapping[str, str], record: BrevoRecord
    ) -> tuple[str, str, dict[str, Any]] | None:
        object_id = record.object_id
        attrs = {inverse[k]: v for k, v in record.attributes.items() if k in inverse and v not in (None, "")}
        people: list[dict[str, Any]] = []
        for cid in sorted(set(record.contact_ids)):
            ident = self._person(cid)
            if ident is None:
                self.ledger.reject(
                    record_id=object_id,
                    reason="related_contact_missing",
                    stage="reverse",
                    message=f"Brevo contact {cid} associated with `{object_id}` has no Customer.io "
                    "identifier (no EXT_ID, email or identity): relationship not written",
                    identifiers={"brevo_record_id": record.id, "brevo_contact_id": cid},
                )
                continue
            people.append({"identifiers": dict(ident)})
        if len(record.contact_ids) >= BREVO_LISTED_ASSOCIATIONS:
            self.truncated += 1
        digest = content_hash({"attributes": attrs, "people": people})
        if self.objects.reverse_hash(plan.brevo_type, object_id) == digest:
            self.summary.unchanged += 1
            return None
        op: dict[str, Any] = {
            "type": "object",
            "action": "identify",
            "identifiers": {"object_type_id": plan.type_id, "object_id": object_id},
            "attributes": attrs,
        }
        if people:
            op["cio_relationships"] = people
        return object_id, digest, op

    def _send(
        self,
        plan: TypePlan,
        outputs: list[Batch[tuple[str, str, dict[str, Any]]] | Oversize[tuple[str, str, dict[str, Any]]]],
        dry_run: bool,
    ) -> None:
        s = self.summary
        for out in outputs:
            if isinstance(out, Oversize):
                self.ledger.reject(
                    record_id=out.item[0],
                    reason="oversized_record",
                    stage="reverse",
                    message=f"{out.message} (Track v2 accepts at most 32 KB per operation)",
                )
                continue
            if dry_run:
                s.updated += len(out.items)
                for object_id, _digest, _op in out.items:
                    known = self.objects.reverse_hash(plan.brevo_type, object_id) is not None
                    s.plan_add("updates" if known else "creates", items=[f"{plan.brevo_type}/{object_id}"])
                continue
            self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
            errors = dict(self.writer.send_batch([op for _, _, op in out.items]))
            s.imports += 1
            done: list[tuple[str, str]] = []
            for index, (object_id, digest, _op) in enumerate(out.items):
                if index in errors:
                    self.ledger.reject(
                        record_id=object_id,
                        reason="vendor_rejected",
                        stage="reverse",
                        message=f"Customer.io rejected the object identify: {errors[index]}",
                    )
                    continue
                if self.objects.reverse_hash(plan.brevo_type, object_id) is None:
                    s.created += 1
                else:
                    s.updated += 1
                done.append((object_id, digest))
            self.objects.set_reverse_hashes(plan.brevo_type, done)
