"""Rejected-records ledger: the reason codes, and the reject threshold. The rows themselves live in the shared
store (:class:`airflow_provider_customerio.store.ledger.Ledger`, re-exported here): one row per rejected record
(or value), with a reason code, queryable by run from any machine.

Nothing read is dropped silently: a record either reaches its destination or has a row in the ledger.

No Airflow and no HTTP imports here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_customerio.store.ledger import Ledger, read_ledger


class RejectSink(Protocol):
    """Where a sync records a rejected record: the store's :class:`Ledger` in production, a list in tests."""

    def reject(
        self,
        *,
        record_id: str | None,
        reason: str,
        message: str,
        stage: str,
        identifiers: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...


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

_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def safe_name(text: str) -> str:
    """A file-system-safe version of a dag id or run id (``manual__2024-01-01T00:00:00+00:00`` keeps its shape)."""
    return _SAFE.sub("_", text).strip("._") or "run"


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
            f"{threshold:.1%}. See the {ledger_path} for each record and its reason; fix the data, or "
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
