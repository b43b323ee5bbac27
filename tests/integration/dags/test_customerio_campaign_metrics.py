"""The campaign-metrics DAG file run by Airflow itself (``dag.test()``: real parsing, params, native templates,
dynamic task mapping over campaigns, the report task) for three consecutive days, as a backfill would, then the
same three days again. ``dag.test()`` needs a metadata database: one is migrated here in the session's temporary
AIRFLOW_HOME (pools are ignored by ``dag.test()``; the system tier covers them with a real scheduler).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.sync_store import SyncStore
from tests.integration.conftest import load_dag

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]
UTC = timezone.utc


def test_three_day_backfill_fills_each_day_once_and_a_rerun_changes_nothing(
    airflow_db: Path, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_conn: Any
) -> None:
    sandbox.set_airflow_env(monkeypatch)
    sandbox.seed(people=0, campaigns=2, days=14, seed=9)
    db = tmp_path / "reporting.db"
    airflow_conn("reporting_db", conn_type="sqlite", host=str(db))
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(
        json.dumps(
            {
                "connectors": {
                    "customerio": {
                        "campaigns": {"lookback_days": 1, "sql_conn_id": "reporting_db"},
                        "people": {"state_path": str(tmp_path / "state.db")},
                    }
                }
            }
        )
    )
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    dag = load_dag("customerio_campaign_metrics")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=k) for k in (6, 5, 4)]

    def rows() -> list[tuple[Any, ...]]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT * FROM customerio_campaign_metrics ORDER BY campaign_id, date").fetchall()

    for run in range(2):
        for day in days:
            # the run at `day + 1` covers [day, day + 1)
            dr = dag.test(logical_date=day + timedelta(days=1), run_conf={"report_days": 7})
            assert dr.state == "success", f"run for {day.date()} ended {dr.state}"
            metric_tis = [ti for ti in dr.get_task_instances() if ti.task_id == "load_metrics"]
            assert sorted(ti.map_index for ti in metric_tis) == [0, 1]  # one mapped task per campaign
        if run == 0:
            first_pass = rows()
    assert rows() == first_pass  # the second backfill rewrote nothing (updated_at included)
    dates = sorted({r[1] for r in first_pass})
    assert dates == [(days[0] - timedelta(days=1) + timedelta(days=k)).date().isoformat() for k in range(4)]
    assert len(first_pass) == 2 * 4  # 2 campaigns x (3 days + 1 lookback day), each exactly once
    # the reports are kept in the sync store, where every machine (and the UI) reads them
    store = SyncStore.at(tmp_path / "state.db")
    reports = sorted(store.report_names("customerio_campaign_metrics_"))
    assert reports == [f"customerio_campaign_metrics_{d.date().isoformat()}.html" for d in days]
    media_type, html = store.get_report(reports[-1]) or ("", "")
    assert media_type == "text/html" and html.count("<svg") == 2


def test_dag_shape_pools_params_and_timetable() -> None:
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = load_dag("customerio_campaign_metrics")
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert {t.task_id: t.pool for t in dag.tasks} == {
        "list_campaigns": "customerio_app",
        "load_metrics": "customerio_app",
        "render_report": "default_pool",
    }
    params = {name: dag.params.get_param(name) for name in ("campaign_ids", "lookback_days", "report_days")}
    assert all(p.description for p in params.values())
    assert params["campaign_ids"].schema["type"] == ["null", "array"] and params["campaign_ids"].value is None
    assert params["lookback_days"].schema["type"] == ["null", "integer"]
    assert params["lookback_days"].schema["maximum"] == 45
    assert params["report_days"].value == 30
    assert dag.render_template_as_native_obj is True
