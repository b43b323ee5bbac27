"""The example DAG run by real Airflow (``dag.test()``, metadata DB created in the session's temp AIRFLOW_HOME)
against the sandbox: a manual run without a data interval, then a run with one."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
import pytest
import requests

from tests.integration.conftest import load_dag

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]


def test_dag_runs_with_and_without_a_data_interval(
    airflow_db: Path, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.utils.state import DagRunState

    from airflow_provider_customerio.store.inbox import EventStore

    sandbox.set_airflow_env(monkeypatch)
    sandbox.ratelimits(enabled=False)
    config = tmp_path / "customerio_config.yaml"
    config.write_text(
        json.dumps(
            {
                "connectors": {
                    "customerio": {
                        "event_mapping": {"purchase_completed": "ORDER_PLACED"},
                        "people": {"state_path": str(tmp_path / "store.db")},
                    }
                }
            }
        )
    )
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(config))
    store_file = tmp_path / "store.db"

    def buy(person: str, order: str, ts: int) -> None:
        auth = sandbox.track_auth
        requests.put(
            f"{sandbox.track_url}/api/v1/customers/{person}",
            auth=auth,
            json={"email": f"b{person}@example.com"},
            timeout=10,
        ).raise_for_status()
        requests.post(
            f"{sandbox.track_url}/api/v1/customers/{person}/events",
            auth=auth,
            json={"name": "purchase_completed", "data": {"order_id": order}, "timestamp": ts},
            timeout=10,
        ).raise_for_status()

    now = int(time.time())
    buy("81", "D-1", now - 120)
    dag = load_dag("customerio_events_to_brevo")  # asserts that the file has no import errors

    manual = dag.test(logical_date=None)  # a manual run with no data interval: explicit handling, no crash
    assert manual.state == DagRunState.SUCCESS

    logical = pendulum.from_timestamp(now - 300).replace(second=0)
    interval = dag.timetable.infer_manual_data_interval(run_after=logical)
    buy("82", "D-2", int(interval.start.timestamp()) + 30)  # inside the run's window
    buy("83", "D-LATER", int(interval.end.timestamp()) + 1)  # after it: belongs to the next run
    scheduled = dag.test(logical_date=logical)
    assert scheduled.state == DagRunState.SUCCESS
    assert (scheduled.data_interval_start, scheduled.data_interval_end) == (interval.start, interval.end)
    assert (interval.end - interval.start).total_seconds() == 300  # a real 5-minute window

    held = requests.get(f"{sandbox.control_url}/brevo/events", timeout=10).json()["events"]
    orders = Counter(e["event_properties"]["order_id"] for e in held)
    assert orders == {"D-1": 1, "D-2": 1}
    assert {e["event_name"] for e in held} == {"ORDER_PLACED"}
    store = EventStore.sqlite(store_file)
    assert store.counts()["sent"] == 2 and store.counts()["pending"] == 0
    store.dispose()
