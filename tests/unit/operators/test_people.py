"""The people operator's wiring (``operators/people.py``): ``build_sync`` checks step and mode, builds a load-less
job for ``step="extract"`` and a job holding the Brevo imports and slots otherwise, under the lease of its sync
name (real Airflow DAG, real SQLite store, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.people.job import PeopleJob


@pytest.fixture
def run(tmp_path: Path, airflow_conn: Any) -> SyncRun:
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="app-key")
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-key")
    config = parse_config(
        {
            "connectors": {
                "customerio": {"store_conn_id": "no_such_store", "people": {"state_path": str(tmp_path / "s.db")}}
            }
        }
    ).customerio
    return SyncRun({"run_id": "r1"}, config, sync_name="people", dry_run=False, default_dag_id="d")


def _op(**kw: Any) -> CustomerIOToBrevoPeopleOperator:
    with DAG("d", schedule=None):
        return CustomerIOToBrevoPeopleOperator(task_id="sync_people", **kw)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"step": "both"}, r"step must be one of all, extract, load, got 'both'"),
        ({"mode": "delta"}, r"mode must be one of incremental, full, got 'delta'"),
    ],
)
def test_a_wrong_step_or_mode_is_an_error_naming_it(run: SyncRun, kw: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _op(**kw).build_sync(run)


def test_the_extract_step_holds_no_imports_and_no_slots(run: SyncRun) -> None:
    job = _op(step="extract", mode="full").build_sync(run)
    assert isinstance(job, PeopleJob) and (job.step, job.mode) == ("extract", "full")
    assert run.imports is None and run.slots is None and job.sync.slots is None
    assert job.records_summary is False
    job.close()


def test_the_load_steps_hold_the_runs_imports_and_slots(run: SyncRun) -> None:
    job = _op(step="load", since="2026-01-01").build_sync(run)
    assert run.imports is not None and run.slots is not None
    assert job.sync.slots is run.slots and run.slots.holder == "d/r1/people"
    assert job.sync.run_key == "d/r1/people" and job.since == "2026-01-01"
    assert run.imports.hook is job.sync.sink.hook  # one Brevo hook: one rate limit
    job.close()


def test_the_lease_is_the_sync_name_shared_by_the_extract_and_load_tasks(run: SyncRun) -> None:
    assert _op().lease_name(run) == "people:people"
    assert _op(sync_name="nightly", step="load").lease_name(run) == "people:nightly"
