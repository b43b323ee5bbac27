"""The receiver against a sender that behaves like Customer.io's: retries with backoff for up to 7 days (an hour
first after a refused connection), later webhooks held back while one fails, a redelivery storm after an outage,
at-least-once duplicates.

The sender's clock is virtual (``advance``); the outage is the receiver's URL not answering (a closed port).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from airflow_provider_customerio.sandbox.webhook_emitter import HOUR_WAIT, SENDER_BACKOFF, WebhookSender, make_event
from tests.integration.test_events_receiver import KEY, Receiver, receiver, store_path, stored  # noqa: F401

pytestmark = pytest.mark.integration


def dead_url() -> str:
    """A loopback URL nothing listens on (connection refused): the receiver is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/customerio/webhooks"


def test_retries_with_backoff_hold_back_later_webhooks_then_deliver_in_order(receiver: Receiver, store_path: Path):
    sender = WebhookSender(dead_url(), KEY, seed=1)
    events = [make_event(i, seed=3) for i in range(5)]
    sender.enqueue(events)
    try:
        attempts_at: list[float] = []
        for _ in range(4):  # four failed attempts of the oldest webhook, at the backoff times
            before = sender.stats.requests
            sender.pump()
            assert sender.stats.requests == before + 1  # only the oldest is tried: the others are held back
            attempts_at.append(sender.now)
            # a refused connection: Customer.io waits one hour before each retry (https://docs.customer.io/api/webhooks/)
            sender.advance(max(HOUR_WAIT, SENDER_BACKOFF[len(attempts_at) - 1]) - 1)
            sender.pump()
            assert sender.stats.requests == before + 1  # not due yet: no attempt
            sender.advance(1)
        assert attempts_at == [0.0, 3600.0, 7200.0, 10800.0]
        assert sender.stats.held_back == 4 * 4 and sender.stats.delivered == 0
        sender.url = receiver.url  # the endpoint is back
        assert sender.pump() == 5
        assert set(stored(store_path)) == {e["event_id"] for e in events}
    finally:
        sender.close()


def test_a_webhook_failing_for_seven_days_is_abandoned():
    sender = WebhookSender(dead_url(), KEY)
    sender.enqueue([make_event(0)])
    try:
        for _ in range(400):
            sender.pump()
            sender.advance(3600)
            if not sender.queue:
                break
        assert sender.stats.abandoned == 1 and sender.stats.delivered == 0
        assert 7 * 24 - 10 <= sender.stats.requests <= 7 * 24 + 2  # hourly after the first backoff steps
    finally:
        sender.close()


def test_receiver_absorbs_a_redelivery_storm_each_event_stored_once(receiver: Receiver, store_path: Path):
    """10,000 webhooks and 20 % duplicates, after a 2-hour outage: every event stored once."""
    n = 10_000
    sender = WebhookSender(dead_url(), KEY, seed=7, duplicate_rate=0.2, concurrency=8)
    events = [make_event(i, seed=11) for i in range(n)]
    sender.enqueue(events)
    try:
        for _ in range(6):  # the outage: the oldest webhook fails, the 9,999 others pile up behind it
            sender.pump()
            sender.advance(1200)
        assert sender.stats.delivered == 0 and len(sender.queue) == n
        sender.stats.latencies.clear()
        sender.url = receiver.url
        for _ in range(20):  # the storm, then the stragglers' retries
            sender.pump()
            if not sender.queue:
                break
            sender.advance(3600)
        assert not sender.queue, f"{len(sender.queue)} webhooks never delivered"
        assert sender.stats.redelivered >= 0.18 * n  # ~20 % duplicates were sent
        rows = stored(store_path)
        assert set(rows) == {e["event_id"] for e in events}  # each event once, none lost
        assert receiver.counters["stored"] == n and receiver.counters["duplicate"] >= sender.stats.redelivered
        print(
            f"storm: {sender.stats.requests} requests ({sender.stats.redelivered} duplicates), "
            f"p99 latency {sender.stats.p99() * 1000:.1f} ms, stored {len(rows)}"
        )
    finally:
        sender.close()
