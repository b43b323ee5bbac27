"""The object sync's ports, the values that cross them, and its errors.

Customer.io -> Brevo: :class:`ObjectSource` (Customer.io App API) and :class:`ObjectSink` (Brevo). Brevo ->
Customer.io: :class:`RecordSource` (Brevo) and :class:`ObjectWriter` (Customer.io Track API). The adapters in
``adapters/objects.py`` implement them over the hooks; tests use in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_customerio.sync.processes import ProcessState


class ObjectSyncError(RuntimeError):
    """An object sync run cannot go on; the message says why and what to do."""


class MissingBrevoObjectTypes(ObjectSyncError):
    """Target Brevo custom object types do not exist. ``missing`` maps each type to the attribute keys the
    mapping needs on it."""

    def __init__(self, message: str, missing: Mapping[str, Sequence[str]]) -> None:
        super().__init__(message)
        self.missing = dict(missing)


class MissingBrevoAttributes(ObjectSyncError):
    """Attribute keys do not exist on Brevo custom object types (Brevo dropped their values silently).
    ``missing`` maps each type to its missing keys."""

    def __init__(self, message: str, missing: Mapping[str, Sequence[str]]) -> None:
        super().__init__(message)
        self.missing = dict(missing)


# ------------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class CioObject:
    """One Customer.io object as read from the App API (attribute values are strings, as Customer.io returns)."""

    object_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    cio_object_id: str | None = None


@dataclass(frozen=True)
class RelatedPerson:
    """A person related to an object: Customer.io identifiers (``cio_id`` always, ``id``/``email`` if set)."""

    cio_id: str
    id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ContactRef:
    """How a Brevo contact is named in an association: ``{"ext_id": ...}`` or ``{"id": <int>}``."""

    identifiers: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.identifiers)


@dataclass(frozen=True)
class TypeProbe:
    """Result of probing a Brevo custom object type.

    :param exists: Brevo knows the type.
    :param available: ``False`` when the account has no custom objects at all (403).
    :param sample_keys: attribute keys seen on the sampled records (these keys certainly exist).
    :param count: records of the type, when Brevo said.
    """

    exists: bool
    available: bool = True
    sample_keys: frozenset[str] = frozenset()
    count: int | None = None
    message: str = ""


@dataclass(frozen=True)
class BrevoRecord:
    """A Brevo custom object record as listed (``association=true``).

    :param contact_ids: Brevo ids of the associated contacts. Brevo lists at most
        :data:`~.reverse.BREVO_LISTED_ASSOCIATIONS` per association, so with that many the list may be incomplete.
    """

    id: int
    ext_id: str | None
    attributes: Mapping[str, Any]
    contact_ids: tuple[int, ...] = ()

    @property
    def object_id(self) -> str:
        """The Customer.io object id: the record's ``ext_id``, else ``brevo-<id>``."""
        return self.ext_id if self.ext_id else f"brevo-{self.id}"


# ------------------------------------------------------------------------------------------ Customer.io -> Brevo


class ObjectSource(Protocol):
    """Customer.io side of the object sync."""

    def list_object_types(self) -> list[Mapping[str, Any]]:
        """``[{"id": "1", "name": "Companies", ...}]``."""
        ...

    def iter_object_ids(self, type_id: str) -> Iterator[str]:
        """Object ids of a type (duplicates possible)."""
        ...

    def get_object(self, type_id: str, object_id: str) -> CioObject | None:
        """The object's attributes, ``None`` when it no longer exists."""
        ...

    def iter_related_people(self, type_id: str, object_id: str) -> Iterator[RelatedPerson]:
        """Every person related to the object (duplicates possible)."""
        ...


class ObjectSink(Protocol):
    """Brevo side of the object sync."""

    def probe_type(self, object_type: str) -> TypeProbe: ...

    def upsert(self, object_type: str, records: Sequence[Mapping[str, Any]]) -> str:
        """``POST /objects/{type}/batch/upsert``; returns the process id."""
        ...

    def get_process(self, process_id: str) -> ProcessState: ...

    def delete_records(self, object_type: str, ext_ids: Sequence[str]) -> str:
        """``POST /objects/{type}/batch/delete`` of 1-1000 records by ``ext_id``; returns the process id."""
        ...

    def read_records(self, object_type: str, page_num: int, limit: int) -> list[Mapping[str, Any]]:
        """One page of stored records, newest first (``GET /objects/{type}/records``)."""
        ...

    def find_contact(self, *, ext_id: str | None, email: str | None) -> ContactRef | None:
        """The Brevo contact of a person (by ext_id, then email), ``None`` when Brevo has none."""
        ...


# ------------------------------------------------------------------------------------------ Brevo -> Customer.io


class RecordSource(Protocol):
    """Brevo side of the reverse direction (read only)."""

    def iter_records(self, object_type: str) -> Iterator[BrevoRecord]: ...

    def person_identifiers(self, contact_id: int) -> Mapping[str, str] | None:
        """Customer.io identifiers of a Brevo contact (``{"id": EXT_ID}`` or ``{"email": ...}``), ``None`` if it
        has neither or does not exist."""
        ...


class ObjectWriter(Protocol):
    """Customer.io side of the reverse direction."""

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        """Track v2 ``/api/v2/batch``; returns ``(index, message)`` per rejected operation (207)."""
        ...
