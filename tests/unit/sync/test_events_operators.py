"""The event operators' wiring without a server: Brevo failure classification (requests-mock, hook level), input
reading, window resolution, and the example DAG (parsed by a real DagBag)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pendulum
import pytest
import requests

from airflow_provider_customerio.adapters.brevo import BrevoEventSink
from airflow_provider_customerio.hooks._base import RetryPolicy
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.operators._common import read_events_input
from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator
from airflow_provider_customerio.sync.events import BatchRejected, DeliveryNotAttempted, DeliveryUncertain
from airflow_provider_customerio.webhooks.store import EventStore

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


def test_read_events_input_forms(tmp_path):
    assert list(read_events_input([{"a": 1}], None)) == [{"a": 1}]
    assert list(read_events_input('[{"a": 1}]', None)) == [{"a": 1}]
    assert list(read_events_input({"a": 1}, None)) == [{"a": 1}]
    arr = tmp_path / "a.json"
    arr.write_text('  [{"a": 1}, {"a": 2}]')
    assert list(read_events_input(None, str(arr))) == [{"a": 1}, {"a": 2}]
    lines = tmp_path / "a.jsonl"
    lines.write_text('{"a": 1}\n\nnope\n{"a": 2}\n')
    assert list(read_events_input(None, str(lines))) == [{"a": 1}, {"__invalid_line__": 3}, {"a": 2}]
    with pytest.raises(ValueError, match="exactly one"):
        list(read_events_input(None, None))
    with pytest.raises(ValueError, match="does not exist"):
        list(read_events_input(None, str(tmp_path / "missing.jsonl")))
    with pytest.raises(ValueError, match="not JSON"):
        list(read_events_input("{oops", None))


def test_activity_window_sources(tmp_path):
    store = EventStore.sqlite(tmp_path / "w.db")
    op = CustomerIOEventsToBrevoOperator(task_id="t")
    ctx = {
        "data_interval_start": pendulum.datetime(2026, 1, 1, 0, 0, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 1, 1, 0, 5, tz="UTC"),
    }
    assert op.activity_window(ctx, store, 9e9)[:2] == (1767225600, 1767225900)
    assert op.activity_window({}, store, 10_000.0)[:2] == (6400, 10_000)  # first manual run: the last hour
    store.set_meta("activity_window_end", "9000")
    assert op.activity_window({}, store, 10_000.0)[:2] == (9000, 10_000)  # then from the watermark
    op.window_start, op.window_end = "2026-01-01T00:00:00Z", "None"
    assert op.activity_window(ctx, store, 1767229200.0)[:2] == (1767225600, 1767229200)
    op.window_start, op.window_end = "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="must be before"):
        op.activity_window(ctx, store, 0)
    op.window_start = "next tuesday"
    with pytest.raises(ValueError, match="window_start"):
        op.activity_window(ctx, store, 0)
    store.dispose()


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["customerio_events_to_brevo"]


def test_dag_every_five_minutes_with_real_intervals_in_the_brevo_pool(dag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "*/5 * * * *"
    start = pendulum.datetime(2026, 3, 1, 10, 0, tz="UTC")
    interval = dag.timetable.infer_manual_data_interval(run_after=start)
    assert (interval.end - interval.start).total_seconds() == 300  # not zero-width
    (task,) = dag.tasks
    assert task.pool == "brevo" and isinstance(task, CustomerIOEventsToBrevoOperator)
    assert dag.max_active_runs == 1 and dag.render_template_as_native_obj


def test_dag_params_are_typed_with_descriptions_and_defaults(dag):
    params = dag.params
    assert {k: params[k] for k in params.keys()} == {
        "include_activities": True,
        "window_start": None,
        "window_end": None,
        "dry_run": False,
    }
    assert params.get_param("dry_run").schema["type"] == "boolean"
    for key in params.keys():
        p = params.get_param(key)
        assert p.schema.get("type") and p.schema.get("title") and p.description
    jsonschema.validate("2026-01-01T00:00:00Z", params.get_param("window_start").schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(5, params.get_param("window_start").schema)
