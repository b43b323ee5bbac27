"""The reverse sync's ports and records: Brevo contacts read (:class:`ContactSource`), Customer.io writes and
profiles (:class:`PeopleWriter`), and Brevo's time forms. Adapters implement the ports over the hooks
(:mod:`airflow_provider_customerio.adapters.reverse`); tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.mapping import EXT_ID_ATTRIBUTE, BrevoAttribute, Person


class ReverseSyncError(RuntimeError):
    """A reverse sync run cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BrevoContact:
    """A Brevo contact as listed by ``GET /contacts``.

    :param id: Brevo's numeric contact id.
    :param email: the contact's email, if any.
    :param attributes: attribute name (upper case) -> value, as Brevo returns them.
    :param email_blacklisted: the contact is blacklisted for email.
    :param modified_at: ``modifiedAt`` as epoch milliseconds (UTC).
    """

    id: int
    email: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    email_blacklisted: bool = False
    modified_at: int = 0

    @property
    def ext_id(self) -> str | None:
        value = self.attributes.get(EXT_ID_ATTRIBUTE)
        return str(value) if value not in (None, "") else None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> BrevoContact:
        """Build from a ``GET /contacts`` item; raises :class:`ReverseSyncError` naming a missing field."""
        if "id" not in item:
            raise ReverseSyncError(f"Brevo returned a contact without `id`: {str(dict(item))[:200]}")
        attrs = {str(k).upper(): v for k, v in (item.get("attributes") or {}).items()}
        if item.get("ext_id") not in (None, "") and EXT_ID_ATTRIBUTE not in attrs:
            attrs[EXT_ID_ATTRIBUTE] = item["ext_id"]
        modified = item.get("modifiedAt") or item.get("createdAt")
        return cls(
            id=int(item["id"]),
            email=item.get("email") or None,
            attributes=attrs,
            email_blacklisted=bool(item.get("emailBlacklisted")),
            modified_at=parse_ms(modified) if modified else 0,
        )


class ContactSource(Protocol):
    """Brevo side (read only)."""

    def list_attributes(self) -> list[BrevoAttribute]: ...

    def iter_modified(self, since: datetime | None) -> Iterator[BrevoContact]:
        """Contacts modified at or after ``since`` (every contact when ``None``), in a stable order (oldest
        created first), reading ``limit=1000`` pages with offsets."""
        ...

    def contact_exists(self, contact_id: int) -> bool:
        """Whether Brevo still has the contact (checked only on a suspected identity clash)."""
        ...


@dataclass(frozen=True)
class BatchError:
    """One rejected operation of a Track v2 batch (from a 207 answer)."""

    index: int
    reason: str
    message: str
    field: str = ""


@dataclass(frozen=True)
class Profile:
    """A Customer.io person as the App API returns it, with the time of its latest attribute change.

    :param person: the profile, built as the Customer.io -> Brevo sync builds it.
    :param changed_at: latest attribute ``timestamps`` value (unix seconds), ``None`` when not reported.
    :param field_times: attribute -> time of its latest change (unix seconds), from the profile's ``timestamps``.
    """

    person: Person
    changed_at: int | None = None
    field_times: Mapping[str, int] = field(default_factory=dict)


class PeopleWriter(Protocol):
    """Customer.io side: Track v2 writes; profiles (App API) to detect conflicts."""

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[BatchError]:
        """``POST /api/v2/batch``; returns the rejected operations (empty when all were applied)."""
        ...

    def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
        """Profiles of up to 100 people by ``cio_id`` (unknown or deleted ids are left out)."""
        ...


def parse_ms(value: Any) -> int:
    """Epoch milliseconds of Brevo's ``YYYY-MM-DDTHH:mm:ss.SSSZ`` (or any ISO date-time; naive = UTC)."""
    if isinstance(value, (int, float)):
        return int(value)
    try:
        dt = parse_iso(str(value))
    except ValueError:
        raise ReverseSyncError(f"Brevo returned modifiedAt = {value!r}, which is not an ISO date-time") from None
    return int(round(dt.timestamp() * 1000))


def format_brevo_time(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:mm:ss.SSSZ`` (UTC), the form ``modifiedSince`` takes."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
