"""Finished Brevo processes of a Customer.io -> Brevo object run: commit what Brevo applied, resubmit or ledger
what failed.

Brevo answers an upsert with 202 and refuses records later, in the background; a finished process names the
records it refused in its ``error`` (``records[i]``, the position in the upsert body). Those are ledgered
(``vendor_rejected``) and written again by the next run; the rest of the process is committed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from airflow_provider_customerio.store.staging import PendingRow
from airflow_provider_customerio.sync.objects.gone import submit_deletes
from airflow_provider_customerio.sync.objects.run import ForwardRun

log = logging.getLogger(__name__)

_REFUSED_RE = re.compile(r"records\[(\d+)\][^:]*:\s*([^;]*)")


def refused_records(error: str | None) -> dict[int, str]:
    """Records a finished upsert process refused, ``{position in the upsert body: reason}``, from its ``error``."""
    if not error:
        return {}
    return {int(m.group(1)): m.group(2).strip() for m in _REFUSED_RE.finditer(error)}


def commit(run: ForwardRun, process_id: str, error: str | None = None) -> None:
    """A finished process: ledger the records Brevo refused in it (written again next run), commit the others
    (hash and linked set, or forget a deleted object) and drop it from the pending processes."""
    c = run.counters
    refused = refused_records(error)
    rows = list(run.state.iter_pending_rows(run.run_key, process_id))
    for index in sorted(i for i in refused if i < len(rows)):
        # Brevo accepted the upsert (202) and refused this record in the background: ledger it and forget its
        # hash, so the next run writes it again.
        item = rows[index].row
        run.ledger.reject(
            record_id=item["object_id"],
            reason="vendor_rejected",
            stage="upsert",
            message=f"Brevo refused the record in upsert process {process_id}: {refused[index]}",
            identifiers={"ext_id": item["object_id"]},
            detail={"process_id": process_id},
        )
        run.objects.invalidate(item["brevo_type"], [item["object_id"]])
    with run.objects.transaction():
        for index, row in enumerate(rows):
            if index in refused:
                continue
            item = row.row
            if item.get("op") == "delete":
                run.objects.forget(item["brevo_type"], [item["object_id"]])
                run.summary.deleted += 1
                continue
            if item.get("flag"):
                c["flagged"] = c.get("flagged", 0) + 1
            run.objects.apply(
                item["brevo_type"],
                item["object_id"],
                linked=item.get("linked") or {},
                unlinked=item.get("unlinked") or [],
                hash=item.get("hash"),
            )
            c["links"] += len(item.get("linked") or {})
            c["unlinks"] += len(item.get("unlinked") or [])
    run.state.drop_pending(run.run_key, process_id)


def failed(run: ForwardRun, process_id: str, attempt: int, error: str | None) -> None:
    """A failed process: resubmit its rows (up to ``run.max_upsert_attempts`` submissions), then ledger them."""
    rows = list(run.state.iter_pending_rows(run.run_key, process_id))
    if not rows:
        run.state.drop_pending(run.run_key, process_id)
        return
    if rows[0].row.get("op") == "delete":
        _delete_failed(run, process_id, attempt, error, rows)
        return
    brevo_type = rows[0].row["brevo_type"]
    if attempt < run.max_upsert_attempts:
        log.warning(
            "Brevo object upsert process %s failed (%s); resubmitting its %d records, attempt %d/%d",
            process_id,
            error,
            len(rows),
            attempt + 1,
            run.max_upsert_attempts,
        )
        run.state.check_lease()
        new_pid = str(run.sink.upsert(brevo_type, [r.row["record"] for r in rows]))
        run.summary.imports += 1
        with run.state.transaction():
            run.state.add_pending(
                run.run_key,
                new_pid,
                [(r.person_key, r.hash, r.row) for r in rows],
                attempt=attempt + 1,
                options={"brevo_type": brevo_type},
            )
            run.state.drop_pending(run.run_key, process_id)
        return
    for r in rows:
        run.ledger.reject(
            record_id=r.row["object_id"],
            reason="upsert_failed",
            stage="upsert",
            message=f"Brevo object upsert process {process_id} failed {attempt} times ({error}); "
            "the object will be written again by the next run",
            identifiers={"ext_id": r.row["object_id"]},
            detail={"process_id": process_id},
        )
    run.objects.invalidate(brevo_type, [r.row["object_id"] for r in rows])
    run.state.drop_pending(run.run_key, process_id)


def _delete_failed(
    run: ForwardRun, process_id: str, attempt: int, error: str | None, rows: Sequence[PendingRow]
) -> None:
    """A failed delete process: resubmitted, then ledgered (the objects stay known: the next run deletes them)."""
    brevo_type = rows[0].row["brevo_type"]
    ids = [r.row["object_id"] for r in rows]
    with run.state.transaction():
        run.state.drop_pending(run.run_key, process_id)
        if attempt < run.max_upsert_attempts:
            log.warning("Brevo object delete process %s failed (%s); resubmitting", process_id, error)
            submit_deletes(run, brevo_type, ids, attempt=attempt + 1)
            return
    for oid in ids:  # still known and still gone from Customer.io: the next run deletes it again
        run.ledger.reject(
            record_id=oid,
            reason="delete_failed",
            stage="delete",
            message=f"Brevo object delete process {process_id} failed {attempt} times ({error}); "
            "the next run deletes the record again",
            identifiers={"ext_id": oid},
            detail={"process_id": process_id},
        )
