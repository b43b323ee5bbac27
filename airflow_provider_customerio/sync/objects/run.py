"""The state of one Customer.io -> Brevo object run that its steps share (:class:`ForwardRun`): the ports, the
store, the limits, the checkpoint and the summary. :class:`~.forward.ObjectSync` is a :class:`ForwardRun`; the step
modules (:mod:`.load`, :mod:`.gone`, :mod:`.outcome`, :mod:`.verify`) take one."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.store.objects import ObjectStateTable
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.objects.mapping import MAX_ASSOCIATIONS_PER_RECORD, TypePlan
from airflow_provider_customerio.sync.objects.ports import ContactRef, ObjectSink, ObjectSource, ObjectSyncError
from airflow_provider_customerio.sync.ports import RunLedger, SyncState
from airflow_provider_customerio.sync.processes import Clock, Notices, SystemClock
from airflow_provider_customerio.sync.summary import SyncSummary

DIRECTION = "cio_objects_to_brevo"
#: Brevo's bounds of ``POST /objects/{type}/batch/upsert``.
MAX_RECORDS_PER_UPSERT = 1000
MAX_UPSERT_BYTES = 1024 * 1024
#: ``{"records":[`` + ``]}``: the envelope around the records, as the hook serialises it (compact JSON).
UPSERT_OVERHEAD_BYTES = len(b'{"records":[]}')

#: Ledger reason codes of this capability (in addition to :data:`ledger.REASONS`).
OBJECT_REASONS: Mapping[str, str] = {
    "not_found": "Customer.io no longer has the object (deleted between the listing and the read)",
    "no_mapped_value": "none of the mapped attributes has a value; Brevo needs at least one attribute per record",
    "related_contact_missing": "a person related to the object is not a Brevo contact (yet): the link is retried "
    "by the next run",
    "oversized_record": "the record alone is over Brevo's 1 MB request limit",
    "oversized_attribute": "an attribute value is over the size limit (value left out, object synced)",
    "upsert_failed": "Brevo's object upsert process failed (retried, then given up)",
    "delete_failed": "Brevo's object delete process failed (retried, then given up; retried by the next run)",
}


def verified_keys_watermark(brevo_type: str) -> str:
    """Watermark name holding the attribute keys confirmed to exist on a Brevo type (a JSON list)."""
    return f"objects.{brevo_type}.verified_attributes"


class ForwardRun:
    """What the steps of one object run share.

    :param config: the ``connectors.customerio`` configuration.
    :param source: the Customer.io port.
    :param sink: the Brevo port.
    :param state: the state store (checkpoints, pending processes, watermarks, identity map).
    :param objects: the object sync's table (:class:`ObjectStateTable`, in the same database).
    :param ledger: this run's ledger.
    :param run_key: ``dag_id/run_id/task_id``; keys the checkpoint.
    :param type_ids: restrict the run to these Customer.io type ids (default: all configured).
    :param max_records: records per upsert (Brevo: at most 1000).
    :param max_bytes: bytes per upsert body (Brevo: at most 1 MB).
    :param max_associations: links (and unlinks) per record and associated type (Brevo: 10).
    :param max_upsert_attempts: submissions of a batch whose process failed before its rows are ledgered.
    :param verify_pages: pages of records read back (newest first) to confirm attribute keys.
    :param clock: time source for waiting (tests pass a fake).
    :param process_notices: end-of-process notices for the wait (see :mod:`..processes`); ``None`` polls.
    :param notice_deadline_s: seconds after which a process with no notice is polled on the schedule.
    """

    def __init__(
        self,
        *,
        config: CustomerIOConfig,
        source: ObjectSource,
        sink: ObjectSink,
        state: SyncState,
        objects: ObjectStateTable,
        ledger: RunLedger,
        run_key: str,
        type_ids: Sequence[str] | None = None,
        max_records: int = MAX_RECORDS_PER_UPSERT,
        max_bytes: int = MAX_UPSERT_BYTES,
        max_associations: int = MAX_ASSOCIATIONS_PER_RECORD,
        max_upsert_attempts: int = 3,
        verify_pages: int = 2,
        clock: Clock | None = None,
        process_notices: Notices | None = None,
        notice_deadline_s: float | None = None,
    ) -> None:
        self.process_notices = process_notices
        self.notice_deadline_s = notice_deadline_s
        if not 1 <= max_records <= MAX_RECORDS_PER_UPSERT:
            raise ObjectSyncError(
                f"max_records must be between 1 and {MAX_RECORDS_PER_UPSERT} (Brevo's limit), got {max_records}."
            )
        if not UPSERT_OVERHEAD_BYTES < max_bytes <= MAX_UPSERT_BYTES:
            raise ObjectSyncError(
                f"max_bytes must be between {UPSERT_OVERHEAD_BYTES + 1} and {MAX_UPSERT_BYTES} "
                f"(Brevo's 1 MB limit), got {max_bytes}."
            )
        if not 1 <= max_associations <= MAX_ASSOCIATIONS_PER_RECORD:
            raise ObjectSyncError(
                f"max_associations must be between 1 and {MAX_ASSOCIATIONS_PER_RECORD}, got {max_associations}."
            )
        self.config = config
        self.source = source
        self.sink = sink
        self.state = state
        self.objects = objects
        self.ledger = ledger
        self.run_key = run_key
        self.type_ids = list(type_ids) if type_ids else None
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_associations = max_associations
        self.max_upsert_attempts = max_upsert_attempts
        self.verify_pages = verify_pages
        self.clock = clock or SystemClock()
        self.summary = SyncSummary(direction=DIRECTION, mode="full")
        #: This run's checkpoint (the step reached, offsets, counters, what to verify), saved by :meth:`_save`.
        self.checkpoint: dict[str, Any] = {}
        #: The run's types by Customer.io type id.
        self.plans: dict[str, TypePlan] = {}
        #: Brevo contact of each related person, resolved once per run (``None``: not a Brevo contact).
        self.contacts: dict[str, ContactRef | None] = {}

    # -------------------------------------------------------------- checkpoint helpers

    def _save(self, **changes: Any) -> None:
        """Save the checkpoint with ``changes``, the ledger's offset and the summary so far."""
        self.checkpoint.update(changes)
        self.checkpoint["ledger_offset"] = self.ledger.flush()
        self.checkpoint["summary"] = self.summary.to_state()
        self.state.save_checkpoint(self.run_key, self.checkpoint)

    @property
    def counters(self) -> dict[str, int]:
        """Association counters of the run (links and unlinks sent)."""
        counters: dict[str, int] = self.checkpoint.setdefault("counters", {"links": 0, "unlinks": 0, "records": 0})
        return counters

    def verified_keys(self, brevo_type: str) -> list[str]:
        """The attribute keys of a Brevo type confirmed to exist (by a probe or a read-back)."""
        raw = self.state.get_watermark(verified_keys_watermark(brevo_type))
        try:
            return list(json.loads(raw)) if raw else []
        except ValueError:
            return []

    def set_verified_keys(self, brevo_type: str, keys: Iterable[str]) -> None:
        self.state.set_watermark(verified_keys_watermark(brevo_type), json.dumps(sorted(set(keys))))
