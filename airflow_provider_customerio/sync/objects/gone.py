"""Objects synced before that Customer.io no longer lists: deleted in Brevo, or kept and flagged
(``connectors.customerio.objects.delete_policy``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from airflow_provider_customerio.store.objects import SyncedObject
from airflow_provider_customerio.sync.objects.mapping import TypePlan
from airflow_provider_customerio.sync.objects.ports import ObjectSyncError
from airflow_provider_customerio.sync.objects.run import MAX_RECORDS_PER_UPSERT, ForwardRun

log = logging.getLogger(__name__)

#: ``objects.delete_policy``: an object deleted in Customer.io is deleted in Brevo, or kept and flagged.
DELETE_POLICIES = ("delete", "flag")
#: The attribute a kept object is flagged with (create it, boolean, on the Brevo object type to use ``flag``).
DELETED_FLAG = "deleted_in_customerio"
#: Object state hash of a flagged object (not flagged again by the next run).
FLAGGED_HASH = "flagged:deleted_in_customerio"
_NO_STATE = SyncedObject("", {})


def remove_gone(run: ForwardRun, plans: Sequence[TypePlan]) -> None:
    """Objects synced before that Customer.io no longer lists (deleted there) follow ``objects.delete_policy``:
    ``delete`` (default) deletes their Brevo records (``POST /objects/{type}/batch/delete``, 1000 per request,
    committed when Brevo's process finished); ``flag`` keeps them and sets ``deleted_in_customerio: true`` on
    them (an attribute to create on the Brevo object type; once flagged, an object is not flagged again).
    Counted in the summary (``gone``, ``deleted``; a dry run lists them in ``plan.deletes``)."""
    policy = run.config.objects.delete_policy
    if policy not in DELETE_POLICIES:
        raise ObjectSyncError(
            f"connectors.customerio.objects.delete_policy `{policy}` is unknown: use one of "
            f"{', '.join(DELETE_POLICIES)}."
        )
    seen: dict[str, set[str]] = {}
    for _seq, _key, _kind, data in run.state.iter_staged(run.run_key, kind="object"):
        if data:
            seen.setdefault(str(data["type_id"]), set()).add(str(data["object_id"]))
    total = 0
    dry_run = run.summary.dry_run
    for plan in plans:
        listed = seen.get(plan.type_id, set())
        gone = [
            oid
            for oid in run.objects.iter_object_ids(plan.brevo_type)
            if oid not in listed and not run.objects.owned_by_brevo(plan.brevo_type, oid)
        ]
        if policy == "flag":
            gone = [oid for oid in gone if (run.objects.get(plan.brevo_type, oid) or _NO_STATE).hash != FLAGGED_HASH]
        total += len(gone)
        if not gone:
            continue
        if dry_run:
            kind = "deletes" if policy == "delete" else "flags"
            run.summary.plan_add(kind, len(gone), items=[f"{plan.brevo_type}/{oid}" for oid in gone])
            continue
        for i in range(0, len(gone), MAX_RECORDS_PER_UPSERT):
            chunk = gone[i : i + MAX_RECORDS_PER_UPSERT]
            if policy == "delete":
                submit_deletes(run, plan.brevo_type, chunk, attempt=1)
            else:
                _submit_flags(run, plan.brevo_type, chunk)
    run.counters["gone"] = total
    if total:
        what = "deleted in Brevo" if policy == "delete" else f"kept in Brevo, flagged `{DELETED_FLAG}`"
        note = f"{total} object(s) synced before are no longer in Customer.io: {what} (objects.delete_policy)"
        run.summary.notes.append(note)
        log.info("%s", note)


def submit_deletes(run: ForwardRun, brevo_type: str, object_ids: Sequence[str], *, attempt: int) -> None:
    """Delete up to 1000 Brevo records by ``ext_id``; pending until the process finished (:mod:`.outcome`)."""
    run.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
    pid = str(run.sink.delete_records(brevo_type, object_ids))
    rows = [
        (f"{brevo_type}\x1f{oid}", "", {"op": "delete", "brevo_type": brevo_type, "object_id": oid})
        for oid in object_ids
    ]
    run.state.add_pending(run.run_key, pid, rows, attempt=attempt, options={"brevo_type": brevo_type})
    run._save()
    log.info("Submitted Brevo object delete %s (%s): %d records", pid, brevo_type, len(object_ids))


def _submit_flags(run: ForwardRun, brevo_type: str, object_ids: Sequence[str]) -> None:
    """Set :data:`DELETED_FLAG` on up to 1000 Brevo records; their state hash becomes :data:`FLAGGED_HASH`."""
    records = [{"identifiers": {"ext_id": oid}, "attributes": {DELETED_FLAG: True}} for oid in object_ids]
    run.state.check_lease()
    pid = str(run.sink.upsert(brevo_type, records))
    rows = [
        (
            f"{brevo_type}\x1f{oid}",
            FLAGGED_HASH,
            {
                "brevo_type": brevo_type,
                "object_id": oid,
                "record": rec,
                "linked": {},
                "unlinked": [],
                "hash": FLAGGED_HASH,
                "flag": True,
            },
        )
        for oid, rec in zip(object_ids, records)
    ]
    run.state.add_pending(run.run_key, pid, rows, options={"brevo_type": brevo_type})
    run.summary.imports += 1
    run._save()
