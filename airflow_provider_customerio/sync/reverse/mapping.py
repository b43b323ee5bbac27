"""Brevo contact -> Customer.io attributes: the inverse of ``field_mapping`` (:class:`ReverseMapper`), the value
conversions, and what this direction remembers per contact (:class:`Snapshot`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.config import MappedField
from airflow_provider_customerio.sync.hashing import (
    content_hash,
    native_hash,
    native_values,
    strings_hash,
    value_digests,
)
from airflow_provider_customerio.sync.mapping import (
    EMAIL_FIELD,
    EXT_ID_ATTRIBUTE,
    BrevoAttribute,
    ConversionError,
    MappingError,
    ValueProblem,
    convert,
    normalise_email,
    row_field_values,
    to_bool,
    to_float,
    to_text,
)
from airflow_provider_customerio.sync.reverse.ports import BrevoContact
from airflow_provider_customerio.sync.stale import split_fields

#: Name of the pseudo-field that carries Brevo's email blacklist into Customer.io.
UNSUBSCRIBED = "unsubscribed"
#: Converted values a mapper remembers per attribute: the first ones seen (an attribute with few values, a plan or a
#: date, is then always remembered; one with a value per contact, an id, stops growing there): memory stays flat.
MEMO_SIZE = 4096
_MEMO_TYPES = (str, int, float, bool)
_SKIP = object()


def to_unix_timestamp(value: Any) -> int:
    """A Brevo date (``YYYY-MM-DD``, or an ISO date-time) as Customer.io's unix timestamp (seconds; a bare date is
    midnight UTC)."""
    if isinstance(value, bool):
        raise ConversionError("invalid_date", f"`{value}` is not a date")
    if isinstance(value, (int, float)):
        num = float(value)
        return int(num / 1000 if abs(num) >= 1e11 else num)
    text = str(value).strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())
        dt = parse_iso(text)
    except ValueError:
        raise ConversionError("invalid_date", f"`{value}` is not a date (YYYY-MM-DD)") from None
    return int(dt.timestamp())


def to_customerio(value: Any, attribute: BrevoAttribute) -> Any:
    """Convert one Brevo value to Customer.io's conventions, by the Brevo attribute's declared type."""
    typ = attribute.type.lower()
    if typ == "date":
        return to_unix_timestamp(value)
    if typ in ("float", "number"):
        num = to_float(value)
        return int(num) if num.is_integer() and abs(num) < 2**53 else num
    if typ == "boolean":
        return to_bool(value)
    if attribute.enumeration:
        for label, val in attribute.enumeration.items():
            if val == value or str(val) == str(value) or label == value:
                return label
        raise ConversionError(
            "invalid_category", f"`{value}` is none of the options {', '.join(attribute.enumeration)}"
        )
    if typ == "multiple-choice" and isinstance(value, list):
        return [to_text(v) for v in value]
    return to_text(value)


@dataclass(frozen=True)
class ReverseRecord:
    """One Brevo contact mapped to Customer.io.

    :param customer_id: the Customer.io ``id`` known to Brevo (``EXT_ID``, else the attribute mapped from ``id``).
    :param attributes: Customer.io attribute -> value (identifier ``id`` excluded).
    :param forward_hash: the hash the Customer.io -> Brevo sync would have stored had it written exactly what Brevo
        now holds (see :meth:`MappedRow.content_hash`): equal to the stored ``cio_to_brevo`` hash means "echo".
    :param brevo_fields: Brevo's values in their canonical Brevo form, by per-field key (Brevo attribute name,
        ``email``): compared with the per-field last-synced digests and with Customer.io's values.
    """

    contact: BrevoContact
    customer_id: str | None
    email: str | None
    phone: str | None
    attributes: Mapping[str, Any]
    forward_hash: str
    problems: tuple[ValueProblem, ...] = ()
    brevo_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Key of this contact in the ``brevo_to_cio`` hashes."""
        return f"brevo:{self.contact.id}"

    @property
    def identities(self) -> dict[str, Any]:
        return {"brevo_contact_id": self.contact.id, "email": self.email, "id": self.customer_id, "phone": self.phone}

    def snapshot(self) -> Snapshot:
        """The record's snapshot, computed once (the run compares it, then commits it)."""
        snap: Snapshot | None = self.__dict__.get("_snapshot")
        if snap is None:
            fields = value_digests(self.attributes, 10)
            snap = Snapshot(
                overall=strings_hash(
                    {"id": self.customer_id, "email": self.email, "phone": self.phone, "fields": fields}
                ),
                fields=fields,
            )
            self.__dict__["_snapshot"] = snap  # a cache, not a field: equality and the frozen fields are untouched
        return snap


@dataclass(frozen=True)
class Snapshot:
    """What this direction last wrote for a contact: an overall hash plus one digest per field (stored in the
    ``brevo_to_cio`` hash column as ``overall|name=digest,...``)."""

    overall: str
    fields: Mapping[str, str]

    def encode(self) -> str:
        return self.overall + "|" + ",".join(f"{k}={v}" for k, v in sorted(self.fields.items()))

    @classmethod
    def decode(cls, text: str | None) -> Snapshot | None:
        if not text or "|" not in text:
            return None
        overall, _, rest = text.partition("|")
        fields: dict[str, str] = {}
        for part in rest.split(","):
            name, sep, digest = part.rpartition("=")
            if sep:
                fields[name] = digest
        return cls(overall, fields)

    def changed(self, other: Snapshot | None) -> set[str]:
        """Fields of ``self`` whose value differs from ``other`` (all of them without ``other``)."""
        if other is None:
            return set(self.fields)
        return {k for k, v in self.fields.items() if other.fields.get(k) != v}


class ReverseMapper:
    """The inverse of ``field_mapping``: Brevo contact -> Customer.io attributes.

    :param field_mapping: the configured mapping (Customer.io attribute -> Brevo attribute).
    :param attributes: Brevo's attribute list (types drive the conversion).
    :param list_ids: the lists the forward sync adds people to (part of its content hash).
    """

    def __init__(
        self, field_mapping: Sequence[MappedField], attributes: Iterable[BrevoAttribute], list_ids: Sequence[int] = ()
    ) -> None:
        by_name = {a.name.upper(): a for a in attributes}
        self.fields: list[tuple[MappedField, BrevoAttribute | None]] = []
        for f in field_mapping:
            if f.is_email:
                self.fields.append((f, None))
                continue
            attr = by_name.get(f.target.upper())
            if attr is None:
                raise MappingError(
                    f"Brevo has no attribute {f.target} (mapped from Customer.io `{f.source}` in "
                    "connectors.customerio.field_mapping). Create it in Brevo (Contacts > Settings > Contact "
                    "attributes) or remove the entry."
                )
            self.fields.append((f, attr))
        self.email_source = next((f.source for f in field_mapping if f.is_email), None)
        self.id_targets = [f.target.upper() for f in field_mapping if f.source == "id" and not f.is_email]
        self.phone_target = next((f.target.upper() for f in field_mapping if f.source == "phone"), "SMS")
        self.list_ids = list(list_ids)
        self._sorted_lists = sorted(self.list_ids)
        self._lists_native = native_values(self._sorted_lists)
        self._memos: dict[str, dict[tuple[type, Any], tuple[Any, Any, tuple[str, str] | None]]] = {
            attr.name: {} for _, attr in self.fields if attr is not None
        }
        #: Customer.io attribute -> its key in the per-field sync state
        self.field_keys: dict[str, str] = {
            f.source: (EMAIL_FIELD if attr is None else attr.name) for f, attr in self.fields if f.source != "id"
        }

    def map(self, contact: BrevoContact) -> ReverseRecord:
        """Map one contact. Values that cannot be converted are left out and reported in ``problems``."""
        email: str | None = None
        if contact.email:
            try:
                email = normalise_email(contact.email)
            except ConversionError:
                email = None
        customer_id = contact.ext_id
        if customer_id is None:
            for target in self.id_targets:
                value = contact.attributes.get(target)
                if value not in (None, ""):
                    customer_id = str(value)
                    break
        phone_raw = contact.attributes.get(self.phone_target)
        phone = str(phone_raw).strip() if phone_raw not in (None, "") else None

        attrs: dict[str, Any] = {}
        fwd_attrs: dict[str, Any] = {}
        problems: list[ValueProblem] = []
        values = contact.attributes
        memos = self._memos
        for f, attr in self.fields:
            if attr is None:
                if email is not None:
                    attrs[f.source] = email
                continue
            value = values.get(attr.name)
            if value is None or value == "":
                continue
            converted = memos[attr.name].get((type(value), value)) if type(value) in _MEMO_TYPES else None
            fwd, cio, problem = converted or self._convert(f, attr, value)
            if fwd is not _SKIP:  # what the forward sync would have sent for this value (its canonical Brevo form)
                fwd_attrs[attr.name] = fwd
            if cio is not _SKIP:
                attrs[f.source] = cio
            elif problem is not None:
                problems.append(ValueProblem(f.target, f.source, problem[0], problem[1]))
        if contact.email_blacklisted:
            attrs[UNSUBSCRIBED] = True
        if contact.ext_id is not None:
            fwd_attrs[EXT_ID_ATTRIBUTE] = contact.ext_id
        row: dict[str, Any] = {"attributes": fwd_attrs}
        if email is not None:
            row["email"] = email
        # MappedRow.content_hash of this row (what the forward sync stores), through the fast encoder
        payload = {"row": row, "blacklisted": contact.email_blacklisted, "lists": self._sorted_lists}
        native = self._lists_native and type(email) in (str, type(None)) and native_values(fwd_attrs.values())
        forward = native_hash(payload) if native else content_hash(payload)
        return ReverseRecord(
            contact=contact,
            customer_id=customer_id,
            email=email,
            phone=phone,
            attributes=attrs,
            forward_hash=forward,
            problems=tuple(problems),
            brevo_fields=row_field_values(row),
        )

    def _convert(self, f: MappedField, attr: BrevoAttribute, value: Any) -> tuple[Any, Any, tuple[str, str] | None]:
        """``value`` in its canonical Brevo form (the forward sync's) and as Customer.io's (``_SKIP`` where it
        cannot be converted, or is the identifier), with the reason it cannot; remembered per attribute for scalar
        values (a million contacts share a few thousand plans, dates, job titles)."""
        key = (type(value), value) if type(value) in _MEMO_TYPES else None
        try:
            fwd = convert(value, attr)
        except ConversionError:
            fwd = _SKIP
        cio: Any = _SKIP
        problem: tuple[str, str] | None = None
        if f.source != "id":  # an identifier, never written as an attribute
            try:
                cio = to_customerio(value, attr)
            except ConversionError as exc:
                problem = (exc.reason, str(exc))
        out = (fwd, cio, problem)
        memo = self._memos[attr.name]
        if key is not None and len(memo) < MEMO_SIZE and type(fwd) is not list and type(cio) is not list:
            memo[key] = out  # (lists are not shared between records)
        return out


def with_brevo_fields(contact: BrevoContact, values: Mapping[str, Any]) -> BrevoContact:
    """``contact`` with the fields of ``values`` (per-field keys, canonical Brevo form) set to them."""
    attrs, email, blacklisted = split_fields(values, contact.attributes, contact.email, contact.email_blacklisted)
    return dataclasses.replace(contact, attributes=attrs, email=email, email_blacklisted=blacklisted)
