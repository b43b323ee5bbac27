"""The forwarding's ports: the outbox store and the Brevo sink satisfy them (checked by mypy), and a rejection
carries the identifiers it is ledgered with."""

from __future__ import annotations

from airflow_provider_customerio.adapters.events import BrevoEventSink
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.store.inbox import PENDING, STATUSES, EventStore
from airflow_provider_customerio.sync.events.ports import (
    EVENT_REASONS,
    EventSink,
    OutboxPort,
    Rejection,
)


def test_the_store_and_the_brevo_sink_satisfy_the_ports(tmp_path) -> None:
    store: OutboxPort = EventStore.sqlite(tmp_path / "o.db")  # mypy checks the Protocol here
    sink: EventSink = BrevoEventSink(BrevoHook.__new__(BrevoHook))
    assert store.fetch(PENDING) == [] and callable(sink.find_forwarded)


def test_a_rejection_keeps_its_identifiers_and_every_reason_is_explained() -> None:
    rej = Rejection("E1", "missing_identifier", "no person", identifiers={"email": "x"})
    assert not rej.skipped and rej.identifiers == {"email": "x"}
    assert {"unmapped_event", "missing_identifier", "vendor_rejected"} <= set(EVENT_REASONS)
    assert PENDING in STATUSES
