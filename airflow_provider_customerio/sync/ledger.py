"""Rejected-records ledger: one JSONL file per run, one line per rejected record (or value), with a reason code.

Nothing read is dropped silently: a record either reaches its destination or has a line here. The file is
append-only and can be truncated back to a checkpointed offset, so a resumed run does not write a line twice.

No Airflow and no HTTP imports here.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

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
    "delete_failed": "the Brevo contact could not be deleted or blacklisted",
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

_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def safe_name(text: str) -> str:
    """A file-system-safe version of a dag id or run id (``manual__2024-01-01T00:00:00+00:00`` keeps its shape)."""
    return _SAFE.sub("_", text).strip("._") or "run"


class Ledger:
    """Append-only JSONL ledger of rejected records for one run.

    :param path: the ``.jsonl`` file; parent directories are created.
    :param run: free-form run description written into every line (dag_id, run_id, task_id).
    :param truncate_to: byte offset to cut the file back to (resume from a checkpoint); ``None`` appends.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, run: Mapping[str, Any] | None = None, truncate_to: int | None = None
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run = dict(run or {})
        self._fh: IO[str] | None = None
        self.counts: Counter[str] = Counter()
        if truncate_to is not None and self.path.exists():
            with self.path.open("r+b") as fh:
                fh.truncate(truncate_to)
        if self.path.exists():  # resumed run: recount what is already there
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        self.counts[json.loads(line)["reason"]] += 1
                    except (ValueError, KeyError, TypeError):
                        continue

    @classmethod
    def for_run(
        cls, ledger_dir: str | os.PathLike[str], dag_id: str, run_id: str, task_id: str = "", **kwargs: Any
    ) -> Ledger:
        """The ledger at ``<ledger_dir>/<dag_id>/<run_id>[.<task_id>].jsonl``."""
        name = safe_name(run_id) + (f".{safe_name(task_id)}" if task_id else "") + ".jsonl"
        return cls(
            Path(ledger_dir) / safe_name(dag_id) / name,
            run={"dag_id": dag_id, "run_id": run_id, "task_id": task_id},
            **kwargs,
        )

    def _handle(self) -> IO[str]:
        if self._fh is None:
            self._fh = self.path.open("a", encoding="utf-8")
        return self._fh

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
        """Write one ledger line.

        :param record_id: the record's key (Customer.io ``cio_id`` for people).
        :param reason: a code from :data:`REASONS` (others are accepted, but document them there).
        :param message: human-readable reason, with the fix where there is one.
        :param stage: where it was rejected: ``map``, ``pack``, ``import``, ``delete``, ...
        :param identifiers: identifiers to find the record (email, id, ext_id).
        :param detail: anything else useful (the offending attribute, the process id).
        """
        line = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "record_id": record_id,
            "reason": reason,
            "message": message,
            "stage": stage,
            "identifiers": {k: v for k, v in (identifiers or {}).items() if v not in (None, "")},
            **({"detail": dict(detail)} if detail else {}),
            **self.run,
        }
        self._handle().write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self.counts[reason] += 1

    def flush(self) -> int:
        """Flush to disk and return the file size (the offset to checkpoint)."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return self.path.stat().st_size if self.path.exists() else 0

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def record_rejects(self) -> int:
        """Lines for records that were not written at all (value-level problems excluded)."""
        return sum(n for reason, n in self.counts.items() if reason not in VALUE_REASONS)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_ledger(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All lines of a ledger file (for tests and reports)."""
    p = Path(path)
    if not p.exists():
        return []
    with p.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


class RejectThresholdExceeded(RuntimeError):
    """More records were rejected than ``reject_threshold`` allows; the ledger says which and why."""


def check_threshold(*, rejected: int, read: int, threshold: float, ledger_path: str | os.PathLike[str]) -> None:
    """Raise :class:`RejectThresholdExceeded` when ``rejected / read > threshold``."""
    if read <= 0 or rejected <= 0:
        return
    fraction = rejected / read
    if fraction > threshold:
        raise RejectThresholdExceeded(
            f"{rejected} of {read} records rejected ({fraction:.1%}), over the reject_threshold of "
            f"{threshold:.1%}. See the ledger {ledger_path} for each record and its reason; fix the data, or "
            "raise connectors.customerio.people.reject_threshold."
        )


__all__ = [
    "REASONS",
    "VALUE_REASONS",
    "Ledger",
    "RejectThresholdExceeded",
    "check_threshold",
    "read_ledger",
    "safe_name",
]
