"""The workflow-state DAG file run by Airflow itself (``dag.test()``) against the sandbox, twice: the second run
writes nothing because nobody's state changed. ``dag.test()`` ignores pools; their names are checked here."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import load_dag

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]


DAG_ID = "customerio_workflow_state_to_brevo"


def test_dag_shape_pools_params_and_timetable() -> None:
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = load_dag(DAG_ID)
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert {t.task_id: t.pool for t in dag.tasks} == {"derive_state": "customerio_app", "write_to_brevo": "brevo"}
    param = dag.params.get_param("lookback_hours")
    assert param.schema["type"] == "integer" and param.description and param.value == 24


def test_dag_runs_end_to_end_and_a_second_run_writes_nothing(
    airflow_db: Path, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set_airflow_env(monkeypatch)
    sandbox.seed(people=150, campaigns=2, days=2, seed=4)
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(
        json.dumps(
            {
                "connectors": {
                    "customerio": {
                        "lists": {"all_contacts": 12},
                        "people": {
                            "create_missing_attributes": True,
                            "state_path": str(tmp_path / "state.db"),
                        },
                    }
                }
            }
        )
    )
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    dag = load_dag(DAG_ID)
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    results = []
    for k in range(2):
        dr = dag.test(logical_date=hour - timedelta(hours=k), run_conf={"lookback_hours": 72})
        assert dr.state == "success"
        ti = next(t for t in dr.get_task_instances() if t.task_id == "write_to_brevo")
        results.append(ti.xcom_pull(task_ids="write_to_brevo"))
    assert results[0]["written"] > 50
    assert results[1]["written"] == 0 and results[1]["imports"] == 0
    contacts = sandbox._call("GET", "/brevo/contacts")["contacts"]
    assert sum(1 for c in contacts if "CIO_LAST_MESSAGE_STATUS" in (c.get("attributes") or {})) == results[0]["written"]
