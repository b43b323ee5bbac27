"""A task run's summary (``runs/summary.py``): kept in the store, put on the task's asset events and the task."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_customerio.lineage import SUMMARY_ATTR
from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.runs.summary import record_summary
from airflow_provider_customerio.store.fencing import LeaseOwner
from airflow_provider_customerio.store.sync_store import SyncStore


class _Event:
    def __init__(self) -> None:
        self.extra: dict[str, object] = {}


def test_the_summary_lands_in_the_store_on_the_asset_events_and_on_the_task(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    task = CustomerIOToBrevoPeopleOperator(task_id="sync")
    events = {a: _Event() for a in task.outlets}
    ti = SimpleNamespace(dag_id="d", run_id="r", map_index=2, start_date=datetime.now(timezone.utc) - timedelta(1))
    record_summary(store, "people", {"ti": ti, "task": task, "outlet_events": events}, "sync", {"read": 3})
    [row] = store.summaries("people")
    assert (row["dag_id"], row["run_id"], row["task_id"]) == ("d", "r", "sync.2")
    assert row["summary"]["read"] == 3 and row["summary"]["capability"] == "people"
    assert row["summary"]["duration_s"] >= 86400  # from the try's start
    assert [e.extra["read"] for e in events.values()] == [3] * len(task.outlets) and events
    assert getattr(task, SUMMARY_ATTR)["read"] == 3


def test_a_given_capability_and_duration_are_kept(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    record_summary(store, "people", {}, "t", {"capability": "objects", "duration_s": 1.5})
    [row] = store.summaries()
    assert row["summary"] == {"capability": "objects", "duration_s": 1.5} and row["capability"] == "people"


def test_a_summary_the_store_refuses_does_not_fail_the_task(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    first, retry = LeaseOwner("run r of d", "t", 1), LeaseOwner("run r of d", "t", 2)
    with pytest.raises(Exception, match="stale"), store.leased("people:x", first, ttl=60):
        store.acquire("people:x", retry, ttl=60, wait=0)  # try 1 is now stale: its writes are fenced
        record_summary(store, "people", {"run_id": "r"}, "t", {"read": 1})
        assert "Could not record the run summary" in caplog.text
    assert store.summaries() == []
