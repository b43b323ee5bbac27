"""Customer.io events -> Brevo events through event_mapping, and the packer of POST /events/batch."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.batching import Batch, json_size
from airflow_provider_customerio.sync.events.mapping import (
    BATCH_OVERHEAD_BYTES,
    MAX_BATCH_BYTES,
    MAX_EVENTS_PER_BATCH,
    EventMapper,
    event_packer,
)
from airflow_provider_customerio.sync.events.ports import (
    Rejection,
)
from airflow_provider_customerio.sync.events.sources import (
    from_activity,
    from_webhook,
)
from tests.unit.sync.events.fakes import ACTIVITY, SENT_EXAMPLE


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
