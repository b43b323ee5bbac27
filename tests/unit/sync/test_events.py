"""Pure event-forwarding logic: names, Brevo events, packing, ids, and the outbox protocol with fake ports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.sync.batching import Batch, json_size
from airflow_provider_customerio.sync.events import (
    BATCH_OVERHEAD_BYTES,
    MAX_BATCH_BYTES,
    MAX_EVENTS_PER_BATCH,
    BatchRejected,
    DeliveryNotAttempted,
    DeliveryUncertain,
    EventForwarder,
    EventMapper,
    MalformedEventError,
    Rejection,
    TrackEvent,
    deterministic_event_id,
    event_packer,
    forwarded_ids,
    from_activity,
    from_webhook,
    iter_window_activities,
    parse_track_event,
    reconcile_query,
    validate_webhook_payload,
    webhook_event_name,
)

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


# ------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    "payload,name",
    [
        ({"object_type": "email", "metric": "opened"}, "email_opened"),
        ({"object_type": "customer", "metric": "subscribed"}, "customer_subscribed"),
        (
            {"object_type": "customer", "metric": "cio_subscription_preferences_changed"},
            "customer_subscription_preferences_changed",
        ),
        ({"object_type_type": "customer", "metric": "unsubscribed"}, "customer_unsubscribed"),  # spec quirk
        ({"metric": "sent"}, "sent"),
        ({"object_type": "email"}, None),
    ],
)
def test_webhook_event_names_follow_the_webhook_configuration(payload, name):
    assert webhook_event_name(payload) == name


@pytest.mark.parametrize(
    "payload,fragment",
    [
        ([], "JSON object"),
        ({"metric": "sent"}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": 5}, "event_id"),
        ({"event_id": "x" * 300}, "longer"),
        ({"event_id": "activity:1"}, "must not"),
    ],
)
def test_validate_webhook_payload_names_the_field(payload, fragment):
    with pytest.raises(MalformedEventError, match=fragment):
        validate_webhook_payload(payload)


def test_validate_webhook_payload_keeps_unknown_shapes():
    assert validate_webhook_payload({"event_id": "E1", "timestamp": 5, "whatever": 1}) == ("E1", 5)
    assert validate_webhook_payload({"event_id": "E1", "timestamp": "soon"}) == ("E1", None)


# --------------------------------------------------------------------------------------- building
def test_webhook_becomes_a_brevo_event_with_source_ids():
    mapper = EventMapper({"email_sent": "EMAIL_SENT"})
    event = mapper.map(from_webhook(SENT_EXAMPLE["event_id"], SENT_EXAMPLE))
    assert not isinstance(event, Rejection)
    assert event["event_name"] == "EMAIL_SENT"
    assert event["identifiers"] == {"email_id": "test@example.com", "ext_id": "42"}
    assert event["event_date"] == "2021-02-11T17:04:49+00:00"
    props = event["event_properties"]
    assert props["cio_event_id"] == "01E4C4CT6YDC7Y5M7FE1GWWPQJ"
    assert props["delivery_id"] == "RPILAgUBcRhIBqSfeiIwdIYJKxTY" and props["campaign_id"] == 7
    assert props["broadcast_id"] == 9 and props["cio_id"] == "d9c106000001"
    assert "content" not in props and "identifiers" not in props and "customer_id" not in props


def test_activity_becomes_a_brevo_event():
    mapper = EventMapper({"purchase_completed": "ORDER_PLACED"})
    event = mapper.map(from_activity(ACTIVITY))
    assert not isinstance(event, Rejection)
    assert event["event_name"] == "ORDER_PLACED"
    assert event["identifiers"] == {"email_id": "a@example.com", "ext_id": "42"}
    assert event["event_date"] == "2023-11-14T22:13:20+00:00"
    props = event["event_properties"]
    assert props["cio_event_id"] == "activity:900000000000000123"
    assert props["order_id"] == "A-1" and props["total"] == 99.5 and "note" not in props  # key sanitised, None dropped


def test_source_id_cannot_be_overridden_by_data():
    act = dict(ACTIVITY, data={"cio_event_id": "forged"})
    assert from_activity(act).properties["cio_event_id"] == "activity:900000000000000123"


def test_unmapped_skip_and_passthrough():
    src = from_activity(ACTIVITY)
    skipped = EventMapper({}, "skip").map(src)
    assert isinstance(skipped, Rejection) and skipped.skipped and skipped.reason == "unmapped_event"
    assert "event_mapping" in skipped.message
    passed = EventMapper({}, "passthrough").map(src)
    assert not isinstance(passed, Rejection) and passed["event_name"] == "purchase_completed"
    bad = EventMapper({}, "passthrough").map(from_activity(dict(ACTIVITY, name="Order Completed!")))
    assert isinstance(bad, Rejection) and bad.reason == "invalid_event_name" and not bad.skipped


def test_missing_identifier_and_invalid_email():
    act = dict(ACTIVITY, customer_identifiers={"email": "not-an-email"}, customer_id="")
    rej = EventMapper({"purchase_completed": "ORDER_PLACED"}).map(from_activity(act))
    assert isinstance(rej, Rejection) and rej.reason == "missing_identifier" and "not-an-email" in rej.message
    # an invalid email with an id still goes out by ext_id
    act2 = dict(ACTIVITY, customer_identifiers={"email": "nope", "id": "7"})
    ok = EventMapper({"purchase_completed": "ORDER_PLACED"}).map(from_activity(act2))
    assert not isinstance(ok, Rejection) and ok["identifiers"] == {"ext_id": "7"}


def test_oversized_properties_are_rejected_with_the_field():
    act = dict(ACTIVITY, data={"blob": "x" * 60_000})
    rej = EventMapper({"purchase_completed": "P"}).map(from_activity(act))
    assert isinstance(rej, Rejection) and rej.reason == "oversized_record" and "blob" in rej.message


def test_malformed_stored_webhook():
    rej = EventMapper({}).map(from_webhook("E1", "not an object"))
    assert isinstance(rej, Rejection) and rej.reason == "malformed_event"


@pytest.mark.parametrize("mapping,unmapped", [({"a": "bad name"}, "skip"), ({}, "drop")])
def test_mapper_refuses_bad_configuration(mapping, unmapped):
    with pytest.raises(ValueError, match="connectors.customerio"):
        EventMapper(mapping, unmapped)


def test_window_filter_survives_backdated_events():
    feed = (
        [
            {"type": "event", "timestamp": 200, "id": "a"},
            {"type": "event", "timestamp": 10, "id": "backdated"},  # arrived late, older than the window
            {"type": "page", "timestamp": 150, "id": "not-an-event"},
            {"type": "event", "timestamp": 150, "id": "b"},
            {"type": "event", "timestamp": 300, "id": "future"},
        ]
        + [{"type": "event", "timestamp": 50, "id": f"old{i}"} for i in range(5)]
        + [{"type": "event", "timestamp": 120, "id": "never-read"}]
    )
    got = [a["id"] for a in iter_window_activities(feed, 100, 250, stop_after_older=5)]
    assert got == ["a", "b"]


# ----------------------------------------------------------------------------------------- packing
@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=40_000), min_size=1, max_size=450))
def test_batches_respect_brevo_limits_and_keep_everything(sizes):
    items = [
        (f"E{i}", {"event_name": "X", "identifiers": {"ext_id": str(i)}, "event_properties": {"p": "y" * n}})
        for i, n in enumerate(sizes)
    ]
    packer = event_packer()
    out = [b for it in items for b in packer.add(it)] + packer.flush()
    assert all(isinstance(b, Batch) for b in out)
    assert [eid for b in out for eid, _ in b.items] == [eid for eid, _ in items]
    for b in out:
        body = json.dumps({"events": [e for _, e in b.items]}, separators=(",", ":"), ensure_ascii=False)
        assert len(b.items) <= MAX_EVENTS_PER_BATCH
        assert len(body.encode()) <= MAX_BATCH_BYTES
        assert len(body.encode()) == b.nbytes  # the packer's arithmetic is exact for the hook's encoding


def test_overhead_matches_envelope():
    assert BATCH_OVERHEAD_BYTES == json_size({"events": []}, compact=True)


# ----------------------------------------------------------------------------------- reconciliation
def test_reconcile_query_covers_names_and_dates():
    events = [
        {"event_name": "B", "event_date": "2026-01-10T23:30:00+00:00"},
        {"event_name": "A", "event_date": "2026-01-12T01:00:00+00:00"},
        {"event_name": "A"},
    ]
    q = reconcile_query(events, now=1767225600.0 + 20 * 86400)  # 2026-01-21
    assert q == {"event_name": ["A", "B"], "startDate": "2026-01-09", "endDate": "2026-01-22"}


def test_forwarded_ids_reads_event_properties():
    items = [
        {"event_properties": {"cio_event_id": "E1"}},
        {"event_properties": json.dumps({"cio_event_id": "E2"})},
        {"event_properties": {"cio_event_id": "other"}},
        {"event_properties": None},
        {},
    ]
    assert forwarded_ids(items, {"E1", "E2", "E3"}) == {"E1", "E2"}


# ------------------------------------------------------------------------------------- Track direction
def test_deterministic_ids_are_ulids_and_stable():
    a = deterministic_event_id(name="signup", identifier="42", anonymous_id=None, timestamp=1700000000, data={"a": 1})
    b = deterministic_event_id(name="signup", identifier="42", anonymous_id=None, timestamp=1700000000, data={"a": 1})
    c = deterministic_event_id(name="signup", identifier="42", anonymous_id=None, timestamp=1700000000, data={"a": 2})
    assert a == b != c
    assert len(a) == 26 and set(a) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert a[:10] == c[:10]  # same time part: the ULID's first 10 characters encode the timestamp


@pytest.mark.parametrize(
    "obj,reason",
    [
        ("x", "malformed_event"),
        ({"customer_id": "1"}, "malformed_event"),
        ({"name": "a"}, "missing_identifier"),
        ({"name": "a", "customer_id": "1", "data": [1]}, "malformed_event"),
        ({"name": "a", "customer_id": "1", "timestamp": "yesterday"}, "malformed_event"),
    ],
)
def test_parse_track_event_rejections(obj, reason):
    rej = parse_track_event(obj, 3)
    assert isinstance(rej, Rejection) and rej.reason == reason and "events[3]" in rej.message


def test_parse_track_event_forms():
    ev = parse_track_event({"name": " signup ", "cio_id": "abc", "timestamp": "2023-11-14T22:13:20Z"}, 0)
    assert isinstance(ev, TrackEvent) and ev.identifier == "cio_abc" and ev.timestamp == 1700000000
    assert ev.name == "signup"
    given_id = parse_track_event({"name": "x", "anonymous_id": "anon", "id": "01KEEP"}, 0)
    assert isinstance(given_id, TrackEvent) and given_id.event_id == "01KEEP" and given_id.identifier is None
    ms = parse_track_event({"name": "x", "email": "a@b.co", "timestamp": 1700000000123}, 0)
    assert isinstance(ms, TrackEvent) and ms.timestamp == 1700000000


# --------------------------------------------------------------------------- the outbox with fake ports
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


@pytest.fixture
def outbox(tmp_path):
    s = EventStore.sqlite(tmp_path / "o.db")
    yield s
    s.dispose()


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


def test_forward_sends_in_full_batches_and_marks_sent(outbox, tmp_path):
    outbox.add(webhook_rows(450))
    brevo = FakeBrevo()
    fw, _ = forwarder(outbox, brevo, tmp_path)
    stats = fw.forward()
    assert stats.forwarded == 450 and stats.batches == 3 == brevo.calls
    assert sorted(brevo.ids()) == [f"W{i:05d}" for i in range(450)]
    assert outbox.counts()["sent"] == 450
    assert fw.forward().forwarded == 0 and brevo.calls == 3  # a re-run sends nothing


def test_per_event_errors_go_to_the_ledger(outbox, tmp_path):
    outbox.add(webhook_rows(4) + webhook_rows(2, "clicked", start=10) + webhook_rows(1, "bounced", start=20))
    brevo = FakeBrevo()
    brevo.reject_names = {"EMAIL_CLICKED"}
    fw, ledger = forwarder(outbox, brevo, tmp_path)
    stats = fw.forward()
    ledger.close()
    assert stats.forwarded == 4 and stats.rejected == 2 and stats.skipped == 1
    lines = read_ledger(ledger)
    assert sorted((l["record_id"], l["reason"]) for l in lines) == [
        ("W00010", "vendor_rejected"),
        ("W00011", "vendor_rejected"),
        ("W00020", "unmapped_event"),
    ]
    assert outbox.counts() == {"pending": 0, "in_flight": 0, "sent": 4, "rejected": 2, "skipped": 1}


def test_crash_between_send_and_mark_does_not_duplicate(outbox, tmp_path):
    outbox.add(webhook_rows(250))

    brevo = FakeBrevo()
    brevo.store_then_fail = DeliveryUncertain("read timeout")  # Brevo stored batch 1, the answer was lost
    fw, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryUncertain):
        fw.forward()
    assert outbox.counts()["in_flight"] == 200 and len(brevo.held) == 200
    fw2, _ = forwarder(outbox, brevo, tmp_path)
    stats = fw2.forward()
    assert stats.reconciled_sent == 200 and stats.reconciled_resent == 0 and stats.forwarded == 50
    assert sorted(brevo.ids()) == [f"W{i:05d}" for i in range(250)]  # each once
    assert outbox.counts()["sent"] == 250


def test_uncertain_send_that_did_not_land_is_resent_once(outbox, tmp_path):
    outbox.add(webhook_rows(3))
    brevo = FakeBrevo()
    brevo.fail_next = DeliveryUncertain("502")
    fw, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryUncertain):
        fw.forward()
    stats = forwarder(outbox, brevo, tmp_path)[0].forward()
    assert stats.reconciled_resent == 3 and stats.forwarded == 3
    assert sorted(brevo.ids()) == ["W00000", "W00001", "W00002"]


def test_in_flight_rows_inside_the_grace_period_wait(outbox, tmp_path):
    outbox.add(webhook_rows(2))
    outbox.mark_in_flight(
        {"W00000": {"event_name": "EMAIL_OPENED", "event_properties": {"cio_event_id": "W00000"}}}, "b1"
    )
    brevo = FakeBrevo()
    ledger = Ledger(tmp_path / "ledger.db")
    fw = EventForwarder(
        outbox, brevo, ledger, EventMapper({"email_opened": "EMAIL_OPENED"}), reconcile_grace_seconds=3600
    )
    stats = fw.forward()
    assert stats.in_flight_deferred == 1 and stats.forwarded == 1
    assert outbox.get("W00000").status == "in_flight"  # type: ignore[union-attr]


def _killed_mid_send(tmp_path, now: list[float]) -> tuple[EventStore, FakeBrevo]:
    """An outbox whose batch of 3 Brevo applied while its answer was lost (the try was killed)."""
    outbox = EventStore.sqlite(tmp_path / "clocked.db", clock=lambda: now[0])
    outbox.add(webhook_rows(3))
    brevo = FakeBrevo()
    brevo.store_then_fail = DeliveryUncertain("killed while Brevo held the answer")
    first, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryUncertain):
        first.forward()
    return outbox, brevo


@pytest.mark.parametrize("clock_moves", [True, False])
def test_a_retry_waits_out_the_grace_of_young_in_flight_rows_then_reconciles_them(tmp_path, clock_moves):
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds if clock_moves else 0

    outbox, brevo = _killed_mid_send(tmp_path, now)
    now[0] += 10  # the retry starts 10 s later, inside the 60 s grace
    mapper = EventMapper({"email_opened": "EMAIL_OPENED"})
    retry = EventForwarder(
        outbox,
        brevo,
        Ledger(tmp_path / "retry.db"),
        mapper,
        reconcile_grace_seconds=60,
        in_flight_wait_seconds=120,
        clock=lambda: now[0],
        sleep=sleep,
    )
    stats = retry.forward()
    assert waits == [50.0]
    if clock_moves:  # resolved in this run: in Brevo once, sent in the outbox
        assert (stats.reconciled_sent, stats.reconciled_resent, stats.in_flight_deferred) == (3, 0, 0)
        assert outbox.counts()["sent"] == 3
    else:  # a clock that did not move (a frozen sandbox clock): still inside the grace, left for a later run
        assert (stats.reconciled_sent, stats.in_flight_deferred) == (0, 3) and outbox.counts()["in_flight"] == 3
    assert sorted(brevo.ids()) == ["W00000", "W00001", "W00002"]  # each once
    outbox.dispose()


def test_not_attempted_goes_back_to_pending(outbox, tmp_path):
    outbox.add(webhook_rows(2))
    brevo = FakeBrevo()
    brevo.fail_next = DeliveryNotAttempted("401")
    fw, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryNotAttempted):
        fw.forward()
    assert outbox.counts()["pending"] == 2 and outbox.counts()["in_flight"] == 0


def test_whole_batch_rejection_is_bisected_to_the_culprit(outbox, tmp_path):
    outbox.add(webhook_rows(6) + webhook_rows(1, "clicked", start=3 + 100))
    brevo = FakeBrevo()
    brevo.bad_batch_names = {"EMAIL_CLICKED"}
    fw, ledger = forwarder(outbox, brevo, tmp_path)
    stats = fw.forward()
    ledger.close()
    assert stats.forwarded == 6 and stats.rejected == 1
    assert [l["record_id"] for l in read_ledger(ledger)] == ["W00103"]


def test_temporary_207_errors_are_retried_then_ledgered(outbox, tmp_path):
    outbox.add(webhook_rows(1))
    calls = {"n": 0}

    class Flaky(FakeBrevo):
        def send_batch(self, events):
            calls["n"] += 1
            return {0: "Temporary failure: event could not be queued, retry it"}

    fw, ledger = forwarder(outbox, Flaky(), tmp_path, max_attempts=3)
    stats = fw.forward()
    ledger.close()
    assert calls["n"] == 3 and stats.requeued == 2 and stats.rejected == 1
    assert outbox.get("W00000").status == "rejected"  # type: ignore[union-attr]


def test_rejected_rows_have_ledger_lines_before_leaving_the_outbox(outbox, tmp_path):
    """Nothing lost: every row ends sent, or rejected/skipped with a ledger line."""
    outbox.add(webhook_rows(5) + webhook_rows(3, "bounced", start=50))
    fw, ledger = forwarder(outbox, FakeBrevo(), tmp_path)
    fw.forward()
    ledger.close()
    ledgered = {l["record_id"] for l in read_ledger(ledger)}
    counts = outbox.counts()
    assert counts["sent"] + len(ledgered) == 8 and counts["pending"] == counts["in_flight"] == 0
