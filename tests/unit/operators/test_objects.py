"""The object operators on :class:`~airflow_provider_customerio.operators.base.SyncOperator` (real Airflow
operators, vendor APIs mocked at the HTTP level): the skip policy, the deferral of the upsert wait (no notice, no
import slot, the task's store), its completion and timeout, the blocking wait, ``state_path`` and the reverse run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from airflow_provider_customerio.operators.objects import (
    BrevoObjectsToCustomerIOOperator,
    CustomerIOObjectsToBrevoOperator,
)
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger

BREVO = "https://api.brevo.test/v3"
APP = "https://api.cio.test"
TRACK = "https://track.cio.test"
RECORDS = f"{BREVO}/objects/companies/records"
TYPES = {"1": {"brevo_object_type": "companies", "field_mapping": {"name": "name"}}}


@pytest.fixture
def setup(airflow_conn: Any, tmp_path: Path) -> dict[str, Any]:
    airflow_conn("brevo_default", conn_type="brevo", host=BREVO, password="k", extra={"other_requests_per_hour": 0})
    airflow_conn("customerio_app_default", conn_type="customerio_app", host=APP, password="k")
    airflow_conn("customerio_track_default", conn_type="customerio_track", host=TRACK, login="s", password="k")
    return {"tmp": tmp_path, "state": str(tmp_path / "objects.db")}


def config(tmp: Path, enabled: bool = True) -> str:
    path = tmp / "customerio_config.yaml"
    doc = {"connectors": {"customerio": {"sync": {"objects": enabled}, "objects": {"types": TYPES}}}}
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    return str(path)


def forward(setup: dict[str, Any], **kwargs: Any) -> CustomerIOObjectsToBrevoOperator:
    return CustomerIOObjectsToBrevoOperator(
        task_id="sync_objects",
        config_path=config(setup["tmp"]),
        state_path=setup["state"],
        poll_interval=0.01,
        app_hook_params={"rate_limit": 0},
        brevo_hook_params={"rate_limit": 0},
        **kwargs,
    )


def one_company(requests_mock: Any, *, process: list[dict[str, Any]] | None = None) -> None:
    """Customer.io has company ``acme`` (no related people); Brevo has the type, takes the upsert as process 7 and
    stores the record (read back by the verify step)."""
    requests_mock.get(f"{APP}/v1/object_types", json={"types": [{"id": "1", "name": "Companies"}]})
    requests_mock.post(f"{APP}/v1/objects", json={"identifiers": [{"object_id": "acme"}], "next": ""})
    requests_mock.get(f"{APP}/v1/objects/1/acme/attributes", json={"object": {"attributes": {"name": "Acme"}}})
    requests_mock.get(f"{APP}/v1/objects/1/acme/relationships", json={"cio_relationships": []})
    stored = {"records": [{"identifiers": {"ext_id": "acme"}, "attributes": {"name": "Acme"}}]}
    requests_mock.get(RECORDS, [{"json": {"records": [], "count": 0}}, {"json": stored}])
    requests_mock.post(f"{BREVO}/objects/companies/batch/upsert", status_code=202, json={"processId": 7})
    requests_mock.get(f"{BREVO}/processes/7", process or [{"json": {"id": 7, "status": "completed"}}])


def upserts(requests_mock: Any) -> int:
    return sum(1 for r in requests_mock.request_history if r.path.endswith("/batch/upsert"))


def test_switched_off_is_skipped_before_any_call(setup, requests_mock):
    op = CustomerIOObjectsToBrevoOperator(task_id="t", config_path=config(setup["tmp"], enabled=False))
    with pytest.raises(AirflowSkipException, match="sync.objects is false"):
        op.execute(context={"run_id": "r"})
    reverse = BrevoObjectsToCustomerIOOperator(task_id="r", config_path=config(setup["tmp"], enabled=False))
    with pytest.raises(AirflowSkipException, match="sync.objects is false"):
        reverse.execute(context={"run_id": "r"})
    assert requests_mock.request_history == []


def test_the_upsert_wait_defers_without_notice_or_slot_then_finishes(setup, requests_mock):
    one_company(requests_mock)
    op = forward(setup, deferrable=True, process_timeout=600)
    context = {"run_id": "r1"}
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context=context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, BrevoProcessTrigger) and deferred.value.method_name == "execute_complete"
    kwargs = trigger.serialize()[1]
    assert kwargs["process_ids"] == ["7"] and kwargs["notify"] is False and kwargs["slot_account"] is None
    assert kwargs["store_path"] == setup["state"]  # the triggerer reads the task's store
    assert upserts(requests_mock) == 1
    done = {"status": "success", "processes": {"7": {"id": 7, "status": "completed"}}}
    result = op.execute_complete(context=context, event=done)
    assert result["created"] == 1 and result["records_sent"] == 1 and result["types"] == {"1": "companies"}
    store = SyncStore.open(conn_id="no_such_store_connection", sqlite_path=setup["state"])
    assert [s["capability"] for s in store.summaries("objects")] == ["objects"]
    assert store.objects().count() == 1  # committed into the task's store (state_path)


def test_a_timed_out_trigger_fails_the_task_and_the_records_stay_pending(setup, requests_mock):
    one_company(requests_mock)
    op = forward(setup, deferrable=True, process_timeout=0)
    context = {"run_id": "r1"}
    with pytest.raises(TaskDeferred):
        op.execute(context=context)
    event = {"status": "timeout", "processes": {}, "pending": ["7"]}
    with pytest.raises(BrevoProcessTimeout, match=r"clear the task to resume waiting \(or raise process_timeout\)"):
        op.execute_complete(context=context, event=event)
    result = forward(setup, deferrable=False).execute(context=context)  # the retry resumes waiting
    assert upserts(requests_mock) == 1 and result["created"] == 1


def test_the_blocking_wait_polls_until_brevo_finished(setup, requests_mock):
    running = {"json": {"id": 7, "status": "in_process"}}
    one_company(requests_mock, process=[running, running, {"json": {"id": 7, "status": "completed"}}])
    result = forward(setup, deferrable=False).execute(context={"run_id": "r1"})
    assert result["created"] == 1 and result["links_added"] == 0
    assert sum(1 for r in requests_mock.request_history if r.path.endswith("/processes/7")) == 3


def test_a_failed_upsert_process_read_from_the_trigger_is_resubmitted(setup, requests_mock):
    one_company(requests_mock)
    op = forward(setup, deferrable=True)
    context = {"run_id": "r1"}
    with pytest.raises(TaskDeferred):
        op.execute(context=context)
    requests_mock.post(f"{BREVO}/objects/companies/batch/upsert", status_code=202, json={"processId": 8})
    failed = {"status": "success", "processes": {"7": {"id": 7, "status": "failed", "error": "boom"}}}
    with pytest.raises(TaskDeferred) as again:
        op.execute_complete(context=context, event=failed)
    assert again.value.trigger.serialize()[1]["process_ids"] == ["8"] and upserts(requests_mock) == 2


def test_bad_object_type_ids_name_the_argument(setup, requests_mock):
    with pytest.raises(ValueError, match="object_type_ids must be Customer.io object type ids"):
        forward(setup, object_type_ids="companies").execute(context={"run_id": "r1"})
    assert requests_mock.request_history == []


def test_the_reverse_operator_writes_records_from_elsewhere(setup, requests_mock):
    record = {"identifiers": {"id": 3, "ext_id": "crm-3"}, "attributes": {"name": "Initech"}, "associations": []}
    requests_mock.get(RECORDS, json={"records": [record]})
    requests_mock.post(f"{TRACK}/api/v2/batch", json={})
    op = BrevoObjectsToCustomerIOOperator(
        task_id="reverse",
        config_path=config(setup["tmp"]),
        state_path=setup["state"],
        track_hook_params={"rate_limit": 0},
        brevo_hook_params={"rate_limit": 0},
    )
    result = op.execute(context={"run_id": "r1"})
    assert result["created"] == 1 and result["api_calls"] == 2
    (batch,) = [r.json()["batch"] for r in requests_mock.request_history if r.path.endswith("/batch")]
    assert batch[0]["identifiers"] == {"object_type_id": "1", "object_id": "crm-3"}
    store = SyncStore.open(conn_id="no_such_store_connection", sqlite_path=setup["state"])
    assert [s["capability"] for s in store.summaries("objects_reverse")] == ["objects_reverse"]
