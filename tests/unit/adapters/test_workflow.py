"""The workflow writer's Brevo adapter (``adapters/workflow.py``) over a mocked API (requests-mock, hook level)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.hooks._base import RetryPolicy
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.sync.workflow.write import ImportSink, import_problem_count

BASE = "https://api.brevo.test/v3"


@pytest.fixture
def slotted(airflow_conn: Any, tmp_path: Path) -> Any:
    from airflow_provider_customerio.store.sync_store import SyncStore
    from airflow_provider_customerio.sync.import_slots import ImportSlots

    airflow_conn("brevo_t", conn_type="brevo", host=BASE, password="k")
    hook = BrevoHook("brevo_t", retry_policy=RetryPolicy(max_attempts=2, backoff_base=0), rate_limit=0)
    hook._sleep = lambda s: None
    table = SyncStore.at(tmp_path / "store.db").import_slots()
    return hook, table, lambda holder: ImportSlots(table, "brevo:t", holder)


def test_a_workflow_import_waits_for_another_runs_slot(slotted: Any, requests_mock: Any) -> None:
    from airflow_provider_customerio.adapters.workflow import BrevoImportSink

    hook, table, slots = slotted
    other = slots("run other")
    other.start(other.try_take(), lambda: "77")  # another run's import in flight
    mine = slots("run W")
    mine.clock.sleep = lambda s: other.release(["77"])  # type: ignore[method-assign]  # it ends while we wait
    route = requests_mock.post(f"{BASE}/contacts/import", status_code=202, json={"processId": 78})
    sink = BrevoImportSink(hook, list_ids=[12], timeout=60, check_interval=0, slots=mine)
    assert sink.submit([{"email": "a@b.co"}]) == "78"
    assert route.call_count == 1 and [h.holder for h in table.in_flight("brevo:t", now=0)] == ["run W"]


def test_the_import_sink_returns_the_process_state_with_its_report(slotted: Any, requests_mock: Any) -> None:
    from airflow_provider_customerio.adapters.workflow import BrevoImportSink

    hook, _table, _slots = slotted
    sink: ImportSink = BrevoImportSink(hook, list_ids=[12], timeout=60, check_interval=0)  # mypy checks the port
    requests_mock.post(f"{BASE}/contacts/import", status_code=202, json={"processId": 7})
    requests_mock.get(
        f"{BASE}/processes/7",
        json={"id": 7, "status": "completed", "info": {"import": {"a": "https://report", "b": None, "c": 0}}},
    )
    state = sink.wait(sink.submit([{"email": "a@b.co"}]))
    assert (state.process_id, state.succeeded, state.finished) == ("7", True, True)
    assert import_problem_count(state) == 1  # a report URL (as some SDKs type it) counts as one problem


def test_a_failed_import_is_a_finished_unsuccessful_state_with_its_error(slotted: Any, requests_mock: Any) -> None:
    from airflow_provider_customerio.adapters.workflow import BrevoImportSink

    hook, _table, _slots = slotted
    sink = BrevoImportSink(hook, list_ids=[12], timeout=60, check_interval=0)
    requests_mock.get(f"{BASE}/processes/8", json={"id": 8, "status": "failed", "error": "bad file"})
    state = sink.wait("8")
    assert (state.succeeded, state.finished) == (False, True)
    assert "bad file" in (state.error or "")


def test_brevo_attributes_list_and_create_through_the_hook(slotted: Any, requests_mock: Any) -> None:
    from airflow_provider_customerio.adapters.workflow import BrevoAttributes
    from airflow_provider_customerio.sync.workflow.attributes import AttributePort

    hook, _table, _slots = slotted
    attributes: AttributePort = BrevoAttributes(hook)  # mypy checks the port
    requests_mock.get(f"{BASE}/contacts/attributes", json={"attributes": [{"name": "EMAIL", "type": "text"}]})
    created = requests_mock.post(f"{BASE}/contacts/attributes/normal/CIO_LAST_ACTION", status_code=201, json={})
    assert [a["name"] for a in attributes.list_attributes()] == ["EMAIL"]
    attributes.create_attribute("CIO_LAST_ACTION", "text")
    assert created.call_count == 1 and created.last_request.json() == {"type": "text"}


def test_webhook_events_are_read_from_the_sync_store_by_window(tmp_path: Path) -> None:
    from airflow_provider_customerio.adapters.workflow import webhook_events
    from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
    from airflow_provider_customerio.store.sync_store import SyncStore
    from airflow_provider_customerio.sync.config import CustomerIOConfig

    store = SyncStore.at(tmp_path / "store.db")
    inbox = EventStore(store.engine)
    inbox.add(
        [
            StoredEvent(event_id="e1", source="webhook", payload='{"event_id": "e1"}', event_ts=100),
            StoredEvent(event_id="e2", source="webhook", payload='{"event_id": "e2"}', event_ts=300),
        ]
    )
    read = webhook_events(CustomerIOConfig(), None, store)
    assert [e["event_id"] for e in read(50, 200)] == ["e1"]
