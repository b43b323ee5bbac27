"""The contract of the people sync: its two ports (:class:`PeopleSource` for Customer.io, :class:`ContactSink`
for Brevo), the change record, and its error. The adapters implement the ports; tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from airflow_provider_customerio.sync.mapping import BrevoAttribute, Person
from airflow_provider_customerio.sync.processes import ProcessState

#: People per :meth:`PeopleSource.hydrate` call.
HYDRATE_CHUNK = 100


class PeopleSyncError(RuntimeError):
    """A people sync run cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Change:
    """A person changed in Customer.io: ``kind`` is ``upsert`` or ``delete``."""

    cio_id: str
    kind: str
    timestamp: int = 0
    email: str | None = None
    id: str | None = None


class PeopleSource(Protocol):
    """Customer.io side of the people sync."""

    def iter_changes(self, since: datetime, until: datetime) -> Iterator[Change]:
        """Changes with ``since <= timestamp < until``, newest first."""
        ...

    def hydrate(self, cio_ids: Sequence[str]) -> list[Person]:
        """Profiles of up to 100 people by ``cio_id`` (unknown ids are left out)."""
        ...

    def start_full(self) -> dict[str, Any]:
        """Begin a full read (e.g. create the export) and return a JSON-safe token to stream it."""
        ...

    def iter_full(self, token: Mapping[str, Any]) -> Iterator[Person]:
        """Stream every person of the full read ``token``, in a stable order."""
        ...


class ContactSink(Protocol):
    """Brevo side of the people sync."""

    def list_attributes(self) -> list[BrevoAttribute]: ...

    def create_attribute(self, name: str, type: str) -> None: ...

    def start_import(self, rows: Sequence[Mapping[str, Any]], *, list_ids: Sequence[int], email_blacklist: bool) -> str:
        """Submit one import (``POST /contacts/import`` with ``jsonBody``); return the process id."""
        ...

    def get_process(self, process_id: str) -> ProcessState: ...

    def delete_contact(self, identifier: str, identifier_type: str) -> bool:
        """Delete; ``False`` when Brevo has no such contact."""
        ...

    def blacklist_contact(self, identifier: str, identifier_type: str) -> bool:
        """Set ``emailBlacklisted``; ``False`` when Brevo has no such contact."""
        ...
