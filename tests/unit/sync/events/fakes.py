"""Example events and fake ports of the event forwarding's unit tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.sync.events.forward import EventForwarder
from airflow_provider_customerio.sync.events.mapping import (
    EventMapper,
)
from airflow_provider_customerio.sync.events.ports import (
    BatchRejected,
    DeliveryUncertain,
)
from airflow_provider_customerio.sync.events.reconcile import forwarded_ids

SENT_EXAMPLE = {  # the documented example of https://docs.customer.io/api/webhooks/
    "metric": "sent",
    "object_type": "email",
    "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
    "timestamp": 1613063089,
    "data": {
        "action_id": 42,
        "broadcast_id": 9,
        "customer_id": "0200000001",
        "delivery_id": "RPILAgUBcRhIBqSfeiIwdIYJKxTY",
        "identifiers": {"id": "42", "email": "Test@Example.com", "cio_id": "d9c106000001"},
        "recipient": "test@example.com",
        "content": "<html>big</html>",
        "campaign_id": 7,
    },
}


ACTIVITY = {
    "id": "900000000000000123",
    "type": "event",
    "timestamp": 1700000000,
    "customer_id": "42",
    "customer_identifiers": {"email": "a@example.com", "id": "42", "cio_id": "c42"},
    "data": {"order id": "A-1", "total": 99.5, "note": None},
    "name": "purchase_completed",
}


class FakeBrevo:
    """A stateful Brevo stand-in: holds accepted events; can fail per index or as a whole."""

    def __init__(self) -> None:
        self.held: list[dict[str, Any]] = []
        self.calls = 0
        self.reject_names: set[str] = set()
        self.fail_next: Exception | None = None
        self.store_then_fail: Exception | None = None
        self.bad_batch_names: set[str] = set()

    def send_batch(self, events):
        self.calls += 1
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        if any(e["event_name"] in self.bad_batch_names for e in events):
            raise BatchRejected("invalid_parameter")
        errors = {}
        for i, e in enumerate(events):
            if e["event_name"] in self.reject_names:
                errors[i] = "event_name not allowed"
            else:
                self.held.append(e)
        if self.store_then_fail is not None:  # Brevo stored them, but the answer never arrived
            exc, self.store_then_fail = self.store_then_fail, None
            raise exc
        return errors

    def find_forwarded(self, events):
        wanted = {e["event_properties"]["cio_event_id"] for e in events}
        return forwarded_ids(self.held, wanted)

    def ids(self) -> list[str]:
        return [e["event_properties"]["cio_event_id"] for e in self.held]


def webhook_rows(n: int, metric: str = "opened", start: int = 0) -> list[StoredEvent]:
    rows = []
    for i in range(start, start + n):
        body = {
            "event_id": f"W{i:05d}",
            "object_type": "email",
            "metric": metric,
            "timestamp": 1700000000 + i,
            "data": {"identifiers": {"id": str(i), "email": f"p{i}@example.com"}, "delivery_id": f"D{i}"},
        }
        rows.append(StoredEvent(f"W{i:05d}", "webhook", json.dumps(body), 1700000000 + i, received_at=float(i)))
    return rows


def forwarder(store, brevo, tmp_path, mapping=None, **kw) -> tuple[EventForwarder, Ledger]:
    ledger = Ledger(tmp_path / "ledger.db")
    mapper = EventMapper(mapping or {"email_opened": "EMAIL_OPENED", "email_clicked": "EMAIL_CLICKED"})
    return EventForwarder(store, brevo, ledger, mapper, reconcile_grace_seconds=0, **kw), ledger


def killed_mid_send(tmp_path, now: list[float]) -> tuple[EventStore, FakeBrevo]:
    """An outbox whose batch of 3 Brevo applied while its answer was lost (the try was killed)."""
    outbox = EventStore.sqlite(tmp_path / "clocked.db", clock=lambda: now[0])
    outbox.add(webhook_rows(3))
    brevo = FakeBrevo()
    brevo.store_then_fail = DeliveryUncertain("killed while Brevo held the answer")
    first, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryUncertain):
        first.forward()
    return outbox, brevo
