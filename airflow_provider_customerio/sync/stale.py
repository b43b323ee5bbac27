"""Stale reads in the two-way people sync: a value read older than this provider's own write is not a change.

Both vendors apply writes asynchronously. Customer.io answers a Track call once it has accepted it and processes
it after ("minimal validation to ensure as close to real-time processing as possible",
https://docs.customer.io/api/track/), so App API reads and exports may show a person as they were before the
write; Brevo applies an import when its background process runs (https://developers.brevo.com/reference/import-contacts),
and a contact read may trail it (the sandbox's ``brevo_contacts`` lag). The per-field two-way merge compares what it
reads with the value both sides last agreed on; a stale read differs from it and would look like a change on the
side read, and the sync would write the old value back over the edit it had just carried over: silent data loss.

So each direction keeps, in the shared store, the writes it made and has not yet seen read back
(:meth:`~airflow_provider_customerio.store.state.StateStore.record_own_writes`, per person and field: the value in
its canonical Brevo form, and when it was sent), and the other direction judges every value it reads of such a
field (:func:`judge`):

* the read shows the value written: **confirmed**, the record goes;
* it shows something else, and the read carries a time (Customer.io's per-attribute ``timestamps``, Brevo's
  ``modifiedAt``) later than the write: a **newer change** made after it (it counts as a change), the record goes;
* it shows something else and no later time (an export carries none): a **stale** read. The value is taken to be
  the one written (not a change), and the record stays until a read confirms it;
* the write is older than ``settle_s`` (default one hour) and was never read back: **expired**. The vendor
  evidently did not take it (e.g. a refused attribute change); what is read counts again, the record goes.

Whole seconds: Customer.io stamps whole seconds, so a value stamped in the second of the write is taken as older
(stale) until a read confirms it or the write expires; it is never taken as a change too early. No Airflow and no
HTTP imports here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.store.state import OwnWrite
from airflow_provider_customerio.sync.hashing import field_digest
from airflow_provider_customerio.sync.mapping import EMAIL_FIELD, MappedRow, row_field_values

#: Seconds after which a write never read back stops deciding (the vendor did not take it).
DEFAULT_SETTLE_S = 3600.0
#: Key of the email blacklist among the own writes (Brevo's ``emailBlacklisted``, Customer.io's ``unsubscribed``);
#: the other keys are those of the per-field state (Brevo attribute names, ``email``).
BLACKLIST_FIELD = "emailBlacklisted"

CONFIRMED = "confirmed"
NEWER = "newer"
STALE = "stale"
EXPIRED = "expired"


def judge(read_value: Any, read_time: float | None, own: OwnWrite, *, now: float, settle_s: float) -> str:
    """The verdict on one value read of a field this provider wrote (see the module docstring).

    :param read_value: the value read, in its canonical Brevo form (``None``: the field is absent).
    :param read_time: when the vendor says the value was set (unix seconds), ``None`` when the read does not say.
    :param own: the write not yet read back.
    """
    if read_value is not None and field_digest(read_value) == field_digest(own.value):
        return CONFIRMED
    if now - own.written_at > settle_s:
        return EXPIRED
    if read_time is not None and read_time > own.written_at:
        return NEWER
    return STALE


@dataclass
class Settlement:
    """The judgement of one person's read: the values to use instead of stale ones, and the records to forget."""

    corrections: dict[str, Any] = field(default_factory=dict)
    settled: list[str] = field(default_factory=list)


def settle(
    values: Mapping[str, Any],
    own: Mapping[str, OwnWrite],
    read_time: Callable[[str], float | None],
    *,
    now: float,
    settle_s: float = DEFAULT_SETTLE_S,
) -> Settlement:
    """Judge the fields of one read that have an own write.

    :param values: the read's fields by per-field key (canonical Brevo form; see ``mapping.row_field_values``).
    :param own: the person's own writes not yet read back, by per-field key.
    :param read_time: per-field key -> when the vendor says the value read was set (``None``: not said).
    """
    out = Settlement()
    for key, write in own.items():
        verdict = judge(values.get(key), read_time(key), write, now=now, settle_s=settle_s)
        if verdict == STALE:
            out.corrections[key] = write.value
        else:
            out.settled.append(key)
    return out


def read_values(mapped: MappedRow) -> dict[str, Any]:
    """The fields of a mapped row by own-write key (its per-field values and the email blacklist)."""
    return {**row_field_values(mapped.row), BLACKLIST_FIELD: mapped.blacklisted}


def split_fields(
    values: Mapping[str, Any], attributes: Mapping[str, Any], email: Any, blacklisted: bool
) -> tuple[dict[str, Any], Any, bool]:
    """Set ``values`` (own-write keys) on a record's parts: its attributes, email and email blacklist."""
    attrs = dict(attributes)
    for key, value in values.items():
        if key == BLACKLIST_FIELD:
            blacklisted = bool(value)
        elif key == EMAIL_FIELD:
            email = value
        else:
            attrs[key] = value
    return attrs, email, blacklisted


def with_fields(mapped: MappedRow, corrections: Mapping[str, Any]) -> MappedRow:
    """``mapped`` with the fields of ``corrections`` (own-write keys) set to the given values."""
    if not corrections:
        return mapped
    row = dict(mapped.row)
    attrs, email, blacklisted = split_fields(corrections, row.get("attributes") or {}, mapped.email, mapped.blacklisted)
    if EMAIL_FIELD in corrections:
        row["email"] = email
    row["attributes"] = attrs
    return dataclasses.replace(mapped, row=row, email=email, blacklisted=blacklisted)


__all__ = [
    "BLACKLIST_FIELD",
    "CONFIRMED",
    "DEFAULT_SETTLE_S",
    "EXPIRED",
    "NEWER",
    "STALE",
    "Settlement",
    "split_fields",
    "judge",
    "read_values",
    "settle",
    "with_fields",
]
