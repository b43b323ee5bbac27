"""What event forwarding talks to: the event sources, the ports (:class:`OutboxPort`,
:class:`EventSink`, :class:`LedgerPort`), the delivery outcomes an :class:`EventSink` raises, and :class:`Rejection`
(an event that is not forwarded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_customerio.sync.ports import RejectSink

SOURCE_WEBHOOK = "webhook"
SOURCE_ACTIVITY = "activity"
#: Key of ``event_properties`` that carries the source event id (used to reconcile with ``GET /events``).
SOURCE_ID_PROPERTY = "cio_event_id"

#: Ledger reason codes used by the event forwarding (in addition to the shared ones in ``store.ledger``).
EVENT_REASONS: Mapping[str, str] = {
    "unmapped_event": "the event is not in event_mapping and events.unmapped is `skip`",
    "invalid_event_name": "the event name is not a valid Brevo event name and is not mapped",
    "malformed_event": "the stored event cannot be read (no metric/name, not JSON)",
    "missing_identifier": "the event names no person by email or id",
    "oversized_record": "the event properties are over Brevo's 50 KB limit",
    "vendor_rejected": "Brevo rejected the event",
}


@dataclass(frozen=True)
class Rejection:
    """An event that is not forwarded: ``reason`` is a ledger reason code; ``skipped`` when by configuration."""

    event_id: str
    reason: str
    message: str
    skipped: bool = False
    identifiers: Mapping[str, Any] = field(default_factory=dict)


class DeliveryNotAttempted(Exception):
    """The batch certainly did not reach Brevo (refused connection, 401, 429 after retries): safe to resend."""


class DeliveryUncertain(Exception):
    """The batch may have reached Brevo (timeout, reset, 5xx): it must be reconciled before any resend."""


class BatchRejected(Exception):
    """Brevo refused the whole batch (a 4xx such as 400): nothing was stored; the message says why."""


class OutboxPort(Protocol):
    """The store (:class:`airflow_provider_customerio.store.inbox.EventStore` satisfies it)."""

    def fetch(self, status: str, limit: int = 1000) -> list[Any]: ...
    def in_flight(self) -> dict[str, list[Any]]: ...
    def mark_in_flight(self, outbound: Mapping[str, Mapping[str, Any]], batch_id: str) -> None: ...
    def mark(self, changes: Mapping[str, tuple[str, str | None]]) -> None: ...


class EventSink(Protocol):
    """Brevo's event endpoints, as the forwarder needs them."""

    def send_batch(self, events: list[dict[str, Any]]) -> dict[int, str]:
        """``POST /events/batch``; return ``{index: message}`` of rejected events (207), ``{}`` when all accepted.

        :raises DeliveryNotAttempted | DeliveryUncertain | BatchRejected:
        """
        ...

    def find_forwarded(self, events: list[dict[str, Any]]) -> set[str]:
        """The ``cio_event_id`` values of ``events`` that Brevo already holds (``GET /events``)."""
        ...


class LedgerPort(RejectSink, Protocol):
    def flush(self) -> int: ...
