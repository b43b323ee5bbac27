"""The running task as the syncs see it (``runs/context.py``): ids, data interval and try from a plain mapping."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

from airflow_provider_customerio.runs.context import (
    as_datetime,
    data_interval,
    lease_owner,
    run_ids,
    run_task_ids,
    task_key,
)
from airflow_provider_customerio.store.fencing import LeaseOwner
from airflow_provider_customerio.store.sync_store import lease_holder


def test_run_ids_outside_a_run_are_the_defaults() -> None:
    assert run_ids({}) == ("adhoc", "adhoc", -1)
    assert run_ids({}, default_dag_id="d", default_run_id="r") == ("d", "r", -1)


def test_run_ids_read_the_dag_the_run_and_the_map_index() -> None:
    ti = SimpleNamespace(dag_id="from_ti", run_id="ti_run", map_index=3)
    assert run_ids({"ti": ti}) == ("from_ti", "ti_run", 3)
    context = {"dag": SimpleNamespace(dag_id="people"), "run_id": "manual__1", "ti": ti}
    assert run_ids(context) == ("people", "manual__1", 3)
    assert run_ids({"ti": SimpleNamespace(map_index=None)})[2] == -1


def test_task_key_suffixes_mapped_instances_only() -> None:
    assert task_key("sync", -1) == "sync" and task_key("sync", 0) == "sync.0"
    ti = SimpleNamespace(dag_id="d", run_id="r", map_index=2)
    assert run_task_ids({"ti": ti}, "sync") == ("d", "r", "sync.2")


def test_data_interval_reads_datetimes_and_iso_text() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    context = {"data_interval_start": start, "data_interval_end": "2026-01-02T00:00:00Z"}
    assert data_interval(context) == (start, datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert data_interval({}) == (None, None)
    assert as_datetime("  ") is None


def test_lease_owner_is_the_try_of_the_task_of_the_run() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r", map_index=1, task_id="load", try_number=2)
    assert lease_owner({"ti": ti}) == LeaseOwner(lease_holder("d", "r"), "load.1", 2)
    assert lease_owner({"run_id": "r", "dag": SimpleNamespace(dag_id="d")}) == LeaseOwner("run r of d", "", 0)
