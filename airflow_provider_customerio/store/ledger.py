"""Rejected records, in the shared store: one row per rejected record (or value), with its reason.

Nothing read is dropped silently: a record either reaches its destination or has a row here, queryable by run,
reason and record key from any machine (and by the UI). Rows are numbered per ledger (``seq``); a resumed run
cuts its ledger back to the checkpointed count, so it never writes a row twice. :func:`export_rejects` writes a
run's rows to JSONL or CSV for people who want files.

The reason codes are documented here (:data:`REASONS`). No Airflow, no HTTP.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store._sql import insert_rows
from airflow_provider_customerio.store.engine import read_connection
from airflow_provider_customerio.store.state import StoreBase

FLUSH_EVERY = 500
EXPORT_COLUMNS = (
    "ts",
    "dag_id",
    "run_id",
    "task_id",
    "record_id",
    "reason",
    "stage",
    "message",
    "identifiers",
    "detail",
)


def ledger_key(dag_id: str, run_id: str, task_id: str = "") -> str:
    """``dag_id/run_id[/task_id]``: the ledger of one task run."""
    return "/".join(p for p in (dag_id, run_id, task_id) if p)


#: Reason codes, documented for users of the ledger.
REASONS: Mapping[str, str] = {
    "missing_identifier": "the person has neither an id nor an email",
    "invalid_email": "the email is not a valid address",
    "oversized_attribute": "an attribute value is over the size limit (value left out, person synced)",
    "oversized_record": "the whole record is over the request size limit",
    "invalid_date": "a value for a date attribute is not a date (value left out, person synced)",
    "invalid_number": "a value for a float attribute is not a number (value left out, person synced)",
    "invalid_boolean": "a value for a boolean attribute is not a boolean (value left out, person synced)",
    "invalid_category": "a value is not one of the category options (value left out, person synced)",
    "invalid_phone": "a phone value has no country code or is not a number (value left out, person synced)",
    "duplicate_in_batch": "the same email appears twice in one import; the later one was imported",
    "import_invalid": "Brevo's import process reported the row as invalid",
    "import_duplicate": "Brevo's import process reported the row's identifier as a duplicate",
    "import_failed": "Brevo's import process failed for the whole batch (retried, then given up)",
    "import_timeout": "Brevo's import process did not finish within the timeout",
    "delete_failed": "the Brevo contact (or custom object record) could not be deleted or blacklisted",
    "not_found": "Customer.io no longer has the person (deleted between the change and the read)",
    "identity_clash": "the identifier belongs to another contact on the other side",
    "vendor_rejected": "the vendor rejected the record",
    "import_unverified": "Brevo's import report counted rejected rows without naming them; the batch is re-checked "
    "and re-sent by the next run",
    "unmapped_event": "the event is not in event_mapping and events.unmapped is `skip`",
    "invalid_event_name": "the event name is not a valid Brevo event name and is not mapped",
    "malformed_event": "the stored event cannot be read (no metric/name, not JSON)",
    "no_mapped_value": "none of the mapped attributes has a value; Brevo needs at least one attribute per record",
    "related_contact_missing": "a person related to the object is not a Brevo contact yet; the link is retried by "
    "the next run",
    "upsert_failed": "Brevo's object upsert process failed (retried, then given up)",
}

#: Reasons that only leave out a value; the record itself was written.
VALUE_REASONS = frozenset(
    {"oversized_attribute", "invalid_date", "invalid_number", "invalid_boolean", "invalid_category", "invalid_phone"}
)


class Ledger(StoreBase):
    """The rejected records of one task run.

    :param target: the store (an engine or a SQLite file path).
    :param run: ``{"dag_id", "run_id", "task_id"}`` of the run (``adhoc`` when absent).
    :param truncate_to: the checkpointed row count to cut the ledger back to (resume); ``None`` appends.
    """

    def __init__(
        self,
        target: Engine | str | os.PathLike[str],
        *,
        run: Mapping[str, Any] | None = None,
        truncate_to: int | None = None,
    ) -> None:
        super().__init__(target)
        run = dict(run or {})
        self.run = {
            "dag_id": str(run.get("dag_id") or "adhoc"),
            "run_id": str(run.get("run_id") or "adhoc"),
            "task_id": str(run.get("task_id") or ""),
        }
        self.key = ledger_key(self.run["dag_id"], self.run["run_id"], self.run["task_id"])
        self.counts: Counter[str] = Counter()
        self._buffer: list[dict[str, Any]] = []
        t = s.rejected_record
        with self._write() as conn:
            if truncate_to is not None:
                conn.execute(t.delete().where(t.c.ledger_key == self.key, t.c.seq >= int(truncate_to)))
            for reason, n in conn.execute(
                sa.select(t.c.reason, sa.func.count()).where(t.c.ledger_key == self.key).group_by(t.c.reason)
            ):
                self.counts[reason] = int(n)
            self._next = int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(t.c.seq), -1) + 1).where(t.c.ledger_key == self.key)
                ).scalar()
                or 0
            )

    @classmethod
    def for_run(
        cls, target: Engine | str | os.PathLike[str], dag_id: str, run_id: str, task_id: str = "", **kwargs: Any
    ) -> Ledger:
        """The ledger of ``dag_id/run_id[/task_id]``."""
        return cls(target, run={"dag_id": dag_id, "run_id": run_id, "task_id": task_id}, **kwargs)

    @property
    def location(self) -> str:
        """Where to find the rows: the ledger key and the store (no secrets)."""
        return f"ledger {self.key} (table {s.rejected_record.name} in {super().location})"

    def reject(
        self,
        *,
        record_id: str | None,
        reason: str,
        message: str,
        stage: str,
        identifiers: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one rejected record.

        :param record_id: the record's key (Customer.io ``cio_id`` for people).
        :param reason: a code from :data:`REASONS`.
        :param message: human-readable reason, with the fix where there is one.
        :param stage: where it was rejected: ``map``, ``pack``, ``import``, ``delete``, ...
        :param identifiers: identifiers to find the record (email, id, ext_id).
        :param detail: anything else useful (the offending attribute, the process id).
        """
        ids = {k: v for k, v in (identifiers or {}).items() if v not in (None, "")}
        self._buffer.append(
            {
                "ledger_key": self.key,
                "seq": self._next,
                **self.run,
                "ts": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "record_id": None if record_id is None else str(record_id)[: s.KEY],
                "reason": reason,
                "stage": stage,
                "message": message,
                "identifiers": json.dumps(ids, ensure_ascii=False, default=str) if ids else None,
                "detail": json.dumps(dict(detail), ensure_ascii=False, default=str) if detail else None,
            }
        )
        self._next += 1
        self.counts[reason] += 1
        if len(self._buffer) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> int:
        """Commit the buffered rows; return the ledger's row count (the offset to checkpoint)."""
        if self._buffer:
            with self._write() as conn:
                insert_rows(conn, s.rejected_record, self._buffer)
            self._buffer = []
        return self._next

    def close(self) -> None:
        self.flush()
        super().close()

    def __enter__(self) -> Ledger:
        return self

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def record_rejects(self) -> int:
        """Rows for records that were not written at all (value-level problems excluded)."""
        return sum(n for reason, n in self.counts.items() if reason not in VALUE_REASONS)


def _as_dict(row: Any) -> dict[str, Any]:
    out = {k: row[k] for k in EXPORT_COLUMNS if k not in ("identifiers", "detail")}
    out["identifiers"] = json.loads(row["identifiers"]) if row["identifiers"] else {}
    if row["detail"]:
        out["detail"] = json.loads(row["detail"])
    return out


def run_reject_counts(engine: Engine, dag_id: str, run_id: str) -> dict[str, int]:
    """The rejected records of one DAG run per reason, every task of it (index ``(dag_id, run_id)``)."""
    t = s.rejected_record
    q = sa.select(t.c.reason, sa.func.count()).where(t.c.dag_id == dag_id, t.c.run_id == run_id).group_by(t.c.reason)
    with read_connection(engine) as conn:
        return {str(r): int(n) for r, n in conn.execute(q)}


def iter_rejects(
    target: Ledger | Engine | str | os.PathLike[str],
    key: str | None = None,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    reason: str | None = None,
    page: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Rejected records in order, read in pages: of one ledger (``key``, or a :class:`Ledger` as ``target``), or
    filtered by dag, run and reason."""
    if isinstance(target, Ledger):
        target.flush()
        key = key or target.key
        target = target.engine
    store = StoreBase(target)
    t = s.rejected_record
    last = 0
    try:
        while True:
            q = sa.select(t).where(t.c.id > last)
            for col, val in (("ledger_key", key), ("dag_id", dag_id), ("run_id", run_id), ("reason", reason)):
                if val is not None:
                    q = q.where(t.c[col] == val)
            with store._read() as conn:
                rows = conn.execute(q.order_by(t.c.id).limit(page)).mappings().all()
            if not rows:
                return
            for r in rows:
                yield _as_dict(r)
            last = int(rows[-1]["id"])
    finally:
        store.close()


def read_ledger(
    target: Ledger | Engine | str | os.PathLike[str], key: str | None = None, **filters: Any
) -> list[dict[str, Any]]:
    """All rejected records of a ledger (or of the store, filtered); for tests and reports."""
    return list(iter_rejects(target, key, **filters))


def export_rejects(
    target: Engine | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fmt: str = "jsonl",
    **filters: Any,
) -> int:
    """Write rejected records to ``out`` as JSONL (one object a line) or CSV; return how many."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"format {fmt!r}: use jsonl or csv")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(EXPORT_COLUMNS)) if fmt == "csv" else None
        if writer is not None:
            writer.writeheader()
        for rec in iter_rejects(target, **filters):
            if writer is not None:
                writer.writerow(
                    {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v) for k, v in rec.items()}
                )
            else:
                fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


__all__ = [
    "REASONS",
    "VALUE_REASONS",
    "Ledger",
    "export_rejects",
    "iter_rejects",
    "ledger_key",
    "read_ledger",
    "run_reject_counts",
]
