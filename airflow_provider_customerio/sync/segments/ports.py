"""The ports of a segment mirror run: what it needs from Customer.io (:class:`SegmentSource`) and from Brevo
(:class:`ListTarget`), and the small values they return. The adapters implement them on the hooks
(``adapters/segments.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_customerio.sync.ports import RejectSink as RejectedRecords
from airflow_provider_customerio.sync.processes import ProcessState


@dataclass
class ListChange:
    """Outcome of one add/remove call: which identifiers Brevo applied and which it refused."""

    success: list[Any] = field(default_factory=list)
    failure: list[Any] = field(default_factory=list)


@dataclass
class ContactWrite:
    """Outcome of a one-contact write: the calls it took and Brevo's refusal, if any."""

    calls: int = 1
    error: str | None = None


class SegmentSource(Protocol):
    """What a mirror run needs from Customer.io."""

    def segment_state(self, segment_id: int) -> tuple[str, str]:
        """``(state, name)`` of a segment; raises :class:`SegmentMirrorError` when it does not exist."""
        ...

    def iter_members(self, segment_id: int) -> Iterator[Mapping[str, Any]]:
        """The segment's identifier dicts ``{email, id, cio_id}``, every page."""
        ...

    def people_attributes(self, cio_ids: Sequence[str]) -> Iterable[Mapping[str, Any]]:
        """Flat person items (``{id, identifiers, attributes, ...}``) for at most 100 cio_ids."""
        ...


class ListTarget(Protocol):
    """What a mirror run needs from Brevo."""

    def lists(self) -> Iterable[tuple[int, str]]:
        """Every list of the account as ``(id, name)``."""
        ...

    def create_list(self, name: str, folder_id: int) -> int:
        """Create a list; return its id."""
        ...

    def list_attributes(self) -> Iterable[Mapping[str, Any]]:
        """The account's contact attributes (``{name, type, category, ...}``)."""
        ...

    def iter_list_contacts(self, list_id: int, modified_since: str | None = None) -> Iterator[Mapping[str, Any]]:
        """Every contact of a list (only those modified since ``modified_since``, a :meth:`clock_mark`)."""
        ...

    def clock_mark(self) -> str:
        """A point in time shortly before now, usable as ``modified_since`` (allowing for clock skew)."""
        ...

    def start_import(self, rows: Sequence[Mapping[str, Any]], list_id: int) -> str:
        """Submit the upsert of ``rows`` (``{email, attributes}``) into ``list_id`` (in the account's import slot);
        return the process id without waiting."""
        ...

    def wait_import(self, process_id: str) -> ProcessState:
        """Block until the import ends and return its state (its outcome and report)."""
        ...

    def upsert_by_ext_id(self, ext_id: str, attributes: Mapping[str, Any], list_id: int) -> ContactWrite:
        """Add the contact with this EXT_ID to the list (creating it when Brevo has none), setting
        ``attributes``; a refusal comes back in :attr:`ContactWrite.error`, not as an exception."""
        ...

    def remove_from_list(self, list_id: int, *, contact_ids: Sequence[int]) -> ListChange:
        """Remove contacts (≤150) by Brevo contact id; refusals come back in ``failure``."""
        ...

    def update_attributes(self, identifier: str | int, identifier_type: str, attributes: Mapping[str, Any]) -> None:
        """Update one contact's attributes (``identifier_type`` is ``ext_id`` or ``contact_id``)."""
        ...


RejectSink = Callable[[Mapping[str, Any], str, str], None]
"""Ledger sink: ``(record, reason_code, message)``."""


def ledger_sink(ledger: RejectedRecords) -> RejectSink:
    """Adapt the run's ledger (:class:`~airflow_provider_customerio.sync.ports.RejectSink`) to the mirror's
    ``reject(record, reason, message)`` sink."""

    def reject(record: Mapping[str, Any], reason: str, message: str) -> None:
        ledger.reject(
            record_id=str(record.get("cio_id") or record.get("brevo_contact_id") or ""),
            reason=reason,
            message=message,
            stage="segments",
            identifiers={k: record.get(k) for k in ("email", "id", "ext_id", "brevo_contact_id")},
            detail={k: record[k] for k in ("segment_id", "list_id", "field") if k in record},
        )

    return reject
