"""The event forwarding adapters over a mocked API (requests-mock, hook level): the Brevo event sink's failure
classification and reconciliation reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_customerio.adapters.events import BrevoEventSink
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.retry import RetryPolicy
from airflow_provider_customerio.sync.events.ports import BatchRejected, DeliveryNotAttempted, DeliveryUncertain

BASE = "https://api.brevo.test/v3"
DAG_FILE = Path(__file__).resolve().parents[3] / "dags" / "customerio_events_to_brevo.py"
EVENT = {
    "event_name": "X",
    "identifiers": {"ext_id": "1"},
    "event_date": "2026-01-10T00:00:00+00:00",
    "event_properties": {"cio_event_id": "E1"},
}


@pytest.fixture
def adapter(airflow_conn: Any) -> BrevoEventSink:
    airflow_conn("brevo_t", conn_type="brevo", host=BASE, password="k")
    hook = BrevoHook("brevo_t", retry_policy=RetryPolicy(max_attempts=2, backoff_base=0), rate_limit=0)
    hook._sleep = lambda s: None
    return BrevoEventSink(hook, page_size=2)


def test_207_indexes_are_returned(adapter, requests_mock):
    requests_mock.post(
        f"{BASE}/events/batch", status_code=207, json={"errors": [{"eventIndex": [0, 2], "message": "bad"}]}
    )
    assert adapter.send_batch([EVENT, EVENT, EVENT]) == {0: "bad", 2: "bad"}


def test_202_is_all_accepted(adapter, requests_mock):
    requests_mock.post(f"{BASE}/events/batch", status_code=202, json={"count": 1})
    assert adapter.send_batch([EVENT]) == {}


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"status_code": 400, "json": {"code": "invalid_parameter", "message": "bad batch"}}, BatchRejected),
        ({"status_code": 401, "json": {"code": "unauthorized", "message": "Key not found"}}, DeliveryNotAttempted),
        ({"status_code": 429, "json": {"message": "slow down"}}, DeliveryNotAttempted),
        ({"status_code": 500, "json": {"message": "oops"}}, DeliveryUncertain),
        ({"status_code": 502, "text": "bad gateway"}, DeliveryUncertain),
        ({"exc": requests.exceptions.ConnectTimeout}, DeliveryNotAttempted),
        ({"exc": requests.exceptions.ReadTimeout}, DeliveryUncertain),
        ({"exc": requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected")}, DeliveryUncertain),
    ],
    ids=["400", "401", "429", "500", "502", "connect-timeout", "read-timeout", "reset"],
)
def test_failures_are_classified_for_the_outbox(adapter, requests_mock, kwargs, exc):
    requests_mock.post(f"{BASE}/events/batch", **kwargs)
    with pytest.raises(exc):
        adapter.send_batch([EVENT])
    assert requests_mock.call_count >= 1


def test_post_is_never_retried_when_it_may_have_landed(adapter, requests_mock):
    requests_mock.post(f"{BASE}/events/batch", status_code=500, json={})
    with pytest.raises(DeliveryUncertain):
        adapter.send_batch([EVENT])
    assert requests_mock.call_count == 1


def test_find_forwarded_pages_and_stops_when_all_found(adapter, requests_mock):
    pages = [
        {
            "events": [{"event_properties": {"cio_event_id": "E9"}}, {"event_properties": {"cio_event_id": "E1"}}],
            "count": 6,
        },
        {"events": [{"event_properties": {"cio_event_id": "E2"}}, {"event_properties": {}}], "count": 6},
        {"events": [{"event_properties": {"cio_event_id": "E3"}}], "count": 6},
    ]
    requests_mock.get(f"{BASE}/events", [{"json": p} for p in pages])
    evs = [dict(EVENT, event_properties={"cio_event_id": e}) for e in ("E1", "E2")]
    assert adapter.find_forwarded(evs) == {"E1", "E2"}
    assert requests_mock.call_count == 2  # stopped once both were found
    q = requests_mock.request_history[0].qs
    assert q["event_name"] == ["x"] and q["startdate"] == ["2026-01-09"] and q["limit"] == ["2"]


def test_activities_of_the_window_are_previewed_then_copied_into_the_store_once(
    airflow_conn: Any, requests_mock, tmp_path
) -> None:
    from airflow_provider_customerio.adapters.events import CustomerIOActivityFeed
    from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
    from airflow_provider_customerio.store.inbox import EventStore

    airflow_conn("customerio_app_default", conn_type="customerio_app", password="app-key")
    feed = [  # newest first; 5 is after the window, 2 is before it, "page" is not an event
        {"id": "5", "type": "event", "timestamp": 2000, "name": "late"},
        {"id": "4", "type": "event", "timestamp": 1500, "name": "buy", "customer_id": "u1"},
        {"id": "3", "type": "page", "timestamp": 1400, "name": "/"},
        {"id": "2", "type": "event", "timestamp": 900, "name": "old"},
    ]
    requests_mock.get("https://api.customer.io/v1/activities", json={"activities": feed, "next": ""})
    store = EventStore.sqlite(tmp_path / "e.db")
    feed = CustomerIOActivityFeed(CustomerIOAppHook(rate_limit=0))
    (preview,) = feed.unseen(store, 1000, 2000, set())
    assert store.fetch("pending") == []  # previewing writes nothing
    assert feed.ingest(store, 1000, 2000) == (1, 1)
    assert feed.ingest(store, 1000, 2000) == (1, 0)  # deduplicated by activity id
    assert feed.unseen(store, 1000, 2000, set()) == []  # stored now: nothing unseen
    (row,) = store.fetch("pending")
    assert (
        (row.event_id, row.source, row.event_ts)
        == ("activity:4", "activity", 1500)
        == (
            preview.event_id,
            preview.source,
            preview.event_ts,
        )
    )
    assert requests_mock.last_request.qs["type"] == ["event"]
    store.dispose()
