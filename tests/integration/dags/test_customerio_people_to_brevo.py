"""The example DAG: parses, has real hourly intervals and typed params, and runs end to end with dag.test()."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.store.ledger import read_ledger

DAG_FILE = Path(__file__).parents[3] / "dags" / "customerio_people_to_brevo.py"
EXAMPLE_CONFIG = DAG_FILE.with_name("customerio_config.yaml")
SEED_NOW = 1_795_910_400  # 2026-11-29T00:00Z: the seeded world's "now", an hour boundary in the past


@pytest.fixture(scope="module")
def dag():
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["customerio_people_to_brevo"]


def test_dag_shape(dag):
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is False
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["extract_customerio_people"].pool == "customerio_app"
    assert tasks["load_brevo_contacts"].pool == "brevo" and tasks["load_brevo_contacts"].deferrable
    assert tasks["extract_customerio_people"].downstream_task_ids == {"load_brevo_contacts"}
    schema = {k: v.schema for k, v in dag.params.items()}
    assert schema["mode"]["enum"] == ["incremental", "full"]
    assert schema["since"]["type"] == ["null", "string"] and schema["dry_run"]["type"] == "boolean"


def test_params_reject_bad_conf(dag):
    from airflow.sdk.exceptions import ParamValidationError

    for key, bad in (("mode", "bogus"), ("since", "last tuesday"), ("dry_run", "maybe")):
        with pytest.raises(ParamValidationError, match=bad):
            dag.params.get_param(key).resolve(bad)  # the message quotes the bad value


@pytest.fixture
def wired(sandbox, monkeypatch, tmp_path, airflow_db):
    # seeded activity is pinned in the past, so the windows below hold only what the test itself changes,
    # whatever the time of day the test runs at
    sandbox.seed(people=120, seed=5, now=SEED_NOW)
    sandbox.settings(export_polls=0)
    sandbox.http.post(
        f"{sandbox.control_url}/brevo/processes/settings", json={"polls_to_complete": 1}
    ).raise_for_status()
    sandbox.set_airflow_env(monkeypatch)
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db"))
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    return sandbox


def _contacts(sandbox):
    return sandbox.http.get(f"{sandbox.control_url}/brevo/contacts").json()["contacts"]


@pytest.mark.airflow_db
@pytest.mark.integration
def test_dag_test_full_then_manual_incremental(dag, wired, tmp_path):
    logical = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    dr = dag.test(logical_date=logical, run_conf={"mode": "full"})
    assert dr.state == "success"
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"extract_customerio_people": "success", "load_brevo_contacts": "success"}
    contacts = _contacts(wired)
    assert contacts and all(12 in c["listIds"] for c in contacts)
    rows = read_ledger(tmp_path / "state.db", dag_id="customerio_people_to_brevo")
    assert rows and all(l["reason"] for l in rows) and len({l["run_id"] for l in rows}) == 1

    # a manual run with no logical date: no data interval, so `since` decides the window
    wired.clear_requests()
    dr = dag.test(logical_date=None, run_conf={"mode": "incremental", "since": logical.date().isoformat()})
    assert dr.state == "success"
    writes = [r for r in wired.requests(vendor="brevo") if r["path"].endswith("/contacts/import")]
    assert writes == []  # nobody changed since the full sync: nothing written
    assert len(_contacts(wired)) == len(contacts)
