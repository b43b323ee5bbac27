"""Field mapping and type conversion: Customer.io people -> Brevo import rows.

Customer.io returns every attribute value as a string (``"created_at": "1489014595"``). Brevo silently ignores
values whose type does not match the attribute's declared type, and silently ignores unknown attributes
(https://developers.brevo.com/reference/create-contact,
https://developers.brevo.com/reference/import-contacts). So values are converted here to the declared type,
the mapping is checked against Brevo's attribute list before anything is written, and every value that cannot be
converted is reported with a reason (the caller puts it in the ledger) instead of being dropped.

No Airflow and no HTTP imports here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.config import EMAIL_TARGET, MappedField
from airflow_provider_customerio.sync.hashing import content_hash, field_digest

#: Brevo attribute that holds the external id (Brevo stores ``ext_id`` as the EXT_ID attribute).
EXT_ID_ATTRIBUTE = "EXT_ID"
#: Longest text value we send. Brevo documents no limit; Customer.io's own per-value limit is 1000 bytes, so a
#: longer value did not come from a normal Track call and is reported instead of being truncated silently.
MAX_TEXT_BYTES = 1000
MAX_EMAIL_LENGTH = 254
_EMAIL_RE = re.compile(
    r"^[^@\s\"'<>(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off"}


class MappingError(ValueError):
    """The field mapping does not fit the Brevo account (missing attributes, unusable types)."""


class ConversionError(ValueError):
    """A single value could not be converted; ``reason`` is a ledger reason code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Person:
    """A Customer.io person as read from the App API (hydrated profile or export row).

    :param cio_id: Customer.io's immutable internal id (no ``cio_`` prefix).
    :param id: the workspace's customer id, ``None`` when the person has none.
    :param email: the email identifier, if any.
    :param attributes: attribute name -> value (strings, as Customer.io returns them).
    :param unsubscribed: the person unsubscribed from messages.
    :param suppressed: the person is suppressed in Customer.io.
    :param timestamps: attribute name -> when Customer.io last set it (unix seconds), as a profile read reports
        them (an export row carries none).
    """

    cio_id: str
    id: str | None = None
    email: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    unsubscribed: bool = False
    suppressed: bool = False
    timestamps: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BrevoAttribute:
    """One Brevo contact attribute as listed by ``GET /contacts/attributes``."""

    name: str
    type: str = "text"
    category: str = "normal"
    enumeration: Mapping[str, int | None] = field(default_factory=dict)  # label -> value, category attributes

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> BrevoAttribute:
        enum: dict[str, int | None] = {}
        for opt in item.get("enumeration") or []:
            if isinstance(opt, Mapping) and "label" in opt:
                enum[str(opt["label"])] = opt.get("value")
        typ = item.get("type") or ("category" if enum else "text")
        return cls(
            name=str(item["name"]).upper(),
            type=str(typ),
            category=str(item.get("category") or "normal"),
            enumeration=enum,
        )


@dataclass(frozen=True)
class ValueProblem:
    """A value that could not be sent: the person is still synced without it."""

    source: str
    target: str
    reason: str
    message: str


@dataclass(frozen=True)
class MappedRow:
    """A Brevo import row built from one person.

    :param row: the ``jsonBody`` item (``email`` and ``attributes``).
    :param blacklisted: import with ``emailBlacklist`` (unsubscribed or suppressed in Customer.io).
    :param problems: values left out, with reasons (for the ledger).
    """

    cio_id: str
    ext_id: str | None
    email: str | None
    row: dict[str, Any]
    blacklisted: bool
    problems: tuple[ValueProblem, ...] = ()

    def content_hash(self, list_ids: Sequence[int] = ()) -> str:
        """Stable hash of everything written to Brevo for this person."""
        return content_hash({"row": self.row, "blacklisted": self.blacklisted, "lists": sorted(list_ids)})


@dataclass(frozen=True)
class RejectedPerson:
    """A person that cannot be written at all; ``reason`` is a ledger reason code."""

    cio_id: str
    reason: str
    message: str
    email: str | None = None
    ext_id: str | None = None


#: Key of the email in the per-field last-synced digests (the other fields are keyed by their Brevo attribute).
EMAIL_FIELD = "email"


def row_field_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Brevo row (``email`` and ``attributes``) by their per-field key; identifiers excluded."""
    out = {str(k): v for k, v in (row.get("attributes") or {}).items() if k != EXT_ID_ATTRIBUTE}
    if row.get("email"):
        out[EMAIL_FIELD] = row["email"]
    return out


def row_field_digests(row: Mapping[str, Any]) -> dict[str, str]:
    """:func:`field_digest` of each field of a Brevo row (see :func:`row_field_values`)."""
    return {k: field_digest(v) for k, v in row_field_values(row).items()}


# ------------------------------------------------------------------------------------------ conversion


def normalise_email(value: Any) -> str:
    """Return the email trimmed and lower-cased, or raise :class:`ConversionError` (``invalid_email``)."""
    text = str(value).strip().lower()
    if len(text) > MAX_EMAIL_LENGTH or not _EMAIL_RE.match(text):
        raise ConversionError("invalid_email", f"`{value}` is not a valid email address")
    return text


def to_date(value: Any) -> str:
    """Convert a unix timestamp (seconds or milliseconds), ``YYYY-MM-DD`` or ISO-8601 date-time to ``YYYY-MM-DD``
    (UTC)."""
    if isinstance(value, bool):
        raise ConversionError("invalid_date", f"`{value}` is not a date")
    if isinstance(value, (int, float)):
        try:
            num = float(value)
        except OverflowError:  # an int beyond float range
            raise ConversionError("invalid_date", f"`{value}` is out of the range of dates") from None
    else:
        text = str(value).strip()
        try:
            num = float(text)
        except ValueError:
            num = math.nan
            try:
                if len(text) == 10:
                    return date.fromisoformat(text).isoformat()
                dt = parse_iso(text)
            except ValueError:
                raise ConversionError(
                    "invalid_date", f"`{value}` is neither a unix timestamp nor an ISO date"
                ) from None
            return dt.astimezone(timezone.utc).date().isoformat()
    if not math.isfinite(num):
        raise ConversionError("invalid_date", f"`{value}` is not a finite timestamp")
    if abs(num) >= 1e11:  # milliseconds (1e11 s is the year 5138)
        num /= 1000.0
    try:
        return datetime.fromtimestamp(num, tz=timezone.utc).date().isoformat()
    except (OverflowError, OSError, ValueError):
        raise ConversionError("invalid_date", f"`{value}` is out of the range of dates") from None


def to_float(value: Any) -> float:
    """Convert to a finite float."""
    if isinstance(value, bool):
        raise ConversionError("invalid_number", f"`{value}` is not a number")
    try:
        num = float(str(value).strip().replace(",", "") if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConversionError("invalid_number", f"`{value}` is not a number") from None
    except OverflowError:  # an int beyond float range
        raise ConversionError("invalid_number", f"`{value}` is too large for a number attribute") from None
    if not math.isfinite(num):
        raise ConversionError("invalid_number", f"`{value}` is not a finite number")
    return num


def to_bool(value: Any) -> bool:
    """Convert true/false/1/0/yes/no (any case) to a boolean."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConversionError("invalid_boolean", f"`{value}` is not a boolean (true/false)")


def to_text(value: Any) -> str:
    """Convert to text, refusing values over :data:`MAX_TEXT_BYTES`."""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False)
        if isinstance(value, (dict, list))
        else str(value)
    )
    if len(text) * 4 <= MAX_TEXT_BYTES:  # at most 4 bytes per character: short text needs no encoding to measure
        return text
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise ConversionError("oversized_attribute", f"value of {size} bytes is over the {MAX_TEXT_BYTES}-byte limit")
    return text


#: Brevo attributes that are phone identifiers: must be unique and valid numbers with a country code.
PHONE_ATTRIBUTES = frozenset({"SMS", "WHATSAPP", "LANDLINE_NUMBER"})


def to_phone(value: Any) -> str:
    """Normalise a phone number to ``+<digits>`` (E.164). Numbers without a country code (``+`` or ``00``) are
    refused: Brevo cannot tell their country."""
    text = re.sub(r"[\s().-]", "", str(value))
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = text[1:]
    if not text.startswith("+") or not re.fullmatch(r"[0-9]{6,15}", digits):  # ASCII digits only
        raise ConversionError(
            "invalid_phone", f"`{value}` is not a phone number with a country code (E.164, e.g. +14155550123)"
        )
    return text


def convert(value: Any, attribute: BrevoAttribute) -> Any:
    """Convert one Customer.io value to the Brevo attribute's declared type."""
    return converter_for(attribute)(value)


def converter_for(attribute: BrevoAttribute) -> Callable[[Any], Any]:
    """The conversion of values to the Brevo attribute's declared type, chosen once per attribute (the mapper
    converts millions of values)."""
    typ = attribute.type.lower()
    if attribute.name.upper() in PHONE_ATTRIBUTES:
        return to_phone
    if typ == "date":
        return to_date
    if typ in ("float", "number"):
        return to_float
    if typ == "boolean":
        return to_bool
    if typ == "category" or attribute.enumeration:
        return lambda value: to_category(value, attribute)
    if typ == "multiple-choice":
        return to_choices
    return to_text


def to_category(value: Any, attribute: BrevoAttribute) -> Any:
    """The option of a category attribute, by label or value (any case for labels)."""
    text = str(value).strip()
    if text in attribute.enumeration:
        return attribute.enumeration[text]
    for label, val in attribute.enumeration.items():
        if str(val) == text or label.lower() == text.lower():
            return val
    raise ConversionError("invalid_category", f"`{value}` is none of the options {', '.join(attribute.enumeration)}")


def to_choices(value: Any) -> list[str]:
    """A multiple-choice value: a list, a JSON list, or comma-separated text."""
    if isinstance(value, list):
        return [to_text(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, list):
                return [to_text(v) for v in parsed]
        except ValueError:
            pass
    return [to_text(v.strip()) for v in text.split(",") if v.strip()]


# ------------------------------------------------------------------------------------------ mapping


def check_mapping(field_mapping: Iterable[MappedField], attributes: Iterable[BrevoAttribute]) -> list[MappedField]:
    """Return the mapped fields whose Brevo attribute does not exist (``email`` always exists)."""
    names = {a.name.upper() for a in attributes}
    return [f for f in field_mapping if not f.is_email and f.target.upper() not in names]


def missing_attributes_error(missing: Sequence[MappedField]) -> MappingError:
    """The error for attributes missing in Brevo: names each one, and the two fixes."""
    listing = ", ".join(f"{f.target} (from Customer.io `{f.source}`, type {f.create_type})" for f in missing)
    return MappingError(
        f"Brevo has no attribute {listing}. Brevo's import silently ignores unknown attributes, so nothing was "
        "written. Fix: create the attribute(s) in Brevo (Contacts > Settings > Contact attributes), or set "
        "connectors.customerio.people.create_missing_attributes: true to let the sync create them, or remove "
        "the entries from connectors.customerio.field_mapping."
    )


class PersonMapper:
    """Maps :class:`Person` objects to Brevo import rows using ``field_mapping`` and the Brevo attribute list.

    :param field_mapping: the configured mapping.
    :param attributes: Brevo's attributes (after :func:`check_mapping` passed).
    """

    def __init__(self, field_mapping: Sequence[MappedField], attributes: Iterable[BrevoAttribute]) -> None:
        by_name = {a.name.upper(): a for a in attributes}
        self._fields: list[tuple[MappedField, BrevoAttribute | None]] = []
        for f in field_mapping:
            if f.is_email:
                self._fields.append((f, None))
            else:
                attr = by_name.get(f.target.upper())
                if attr is None:
                    raise missing_attributes_error([f])
                self._fields.append((f, attr))
        #: (source, Brevo name, conversion) of the attributes written, chosen once
        self._converters = [(f.source, a.name, converter_for(a)) for f, a in self._fields if a is not None]
        self._email_source = next((f.source for f in field_mapping if f.is_email), "email")
        #: per-field key (Brevo attribute name, ``email``) -> the Customer.io attribute it is mapped from
        self.field_sources: dict[str, str] = {
            (EMAIL_FIELD if attr is None else attr.name): f.source for f, attr in self._fields
        }

    def map(self, person: Person) -> MappedRow | RejectedPerson:
        """Build the import row, or reject the person (no identifier, invalid email)."""
        raw_email = person.email
        if raw_email in (None, ""):
            raw_email = person.attributes.get(self._email_source)
        ext_id = str(person.id) if person.id not in (None, "") else None
        email: str | None = None
        if raw_email not in (None, ""):
            try:
                email = normalise_email(raw_email)
            except ConversionError as exc:
                return RejectedPerson(
                    person.cio_id,
                    exc.reason,
                    f"{exc}: fix the email in Customer.io",
                    email=str(raw_email),
                    ext_id=ext_id,
                )
        if email is None and ext_id is None:
            return RejectedPerson(
                person.cio_id,
                "missing_identifier",
                "the person has neither an id nor an email; Brevo needs one of them",
                ext_id=None,
            )
        attrs: dict[str, Any] = {}
        problems: list[ValueProblem] = []
        values = person.attributes
        for source, name, conv in self._converters:
            if source == "id":
                value: Any = person.id
            elif source == "email":
                value = email
            else:
                value = values.get(source)
            if value is None or value == "":
                continue  # absent in Customer.io: leave Brevo's value alone (emptyContactsAttributes=false)
            try:
                attrs[name] = conv(value)
            except ConversionError as exc:
                problems.append(ValueProblem(source, name, exc.reason, str(exc)))
        if ext_id is not None:
            attrs[EXT_ID_ATTRIBUTE] = ext_id
        row: dict[str, Any] = {"attributes": attrs}
        if email is not None:
            row["email"] = email
        return MappedRow(
            cio_id=person.cio_id,
            ext_id=ext_id,
            email=email,
            row=row,
            blacklisted=bool(person.unsubscribed or person.suppressed),
            problems=tuple(problems),
        )


__all__ = [
    "EMAIL_FIELD",
    "EMAIL_TARGET",
    "EXT_ID_ATTRIBUTE",
    "BrevoAttribute",
    "ConversionError",
    "MappedRow",
    "MappingError",
    "Person",
    "PersonMapper",
    "RejectedPerson",
    "ValueProblem",
    "check_mapping",
    "convert",
    "row_field_digests",
    "row_field_values",
    "missing_attributes_error",
    "normalise_email",
    "to_bool",
    "to_date",
    "to_float",
    "to_phone",
    "to_text",
]
