"""The brevo_people_to_customerio DAG end to end with ``dag.test()`` against the sandbox (real Airflow, a SQLite
metadata DB created inside the test session's temporary AIRFLOW_HOME)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import load_dag

DAG_FILE = Path(__file__).parents[3] / "dags" / "brevo_people_to_customerio.py"
EXAMPLE_CONFIG = DAG_FILE.with_name("customerio_config.yaml")

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]


@pytest.fixture
def wired(sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, airflow_db: Path) -> Any:
    sandbox.set_airflow_env(monkeypatch)
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db"))
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    sandbox.http.post(f"{sandbox.control_url}/brevo/seed", json={"seed": 2, "contacts": 30}).raise_for_status()
    return sandbox


def test_manual_run_then_scheduled_interval(wired: Any) -> None:
    dag = load_dag("brevo_people_to_customerio")
    since = (datetime.now(timezone.utc) - timedelta(days=3)).date().isoformat()

    dr = dag.test(logical_date=None, run_conf={"since": since})  # a manual run without a data interval

    assert dr.state == "success"
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()} == {
        "check_brevo_attributes": "success",
        "sync_brevo_contacts_to_customerio": "success",
    }
    assert wired.summary()["people"] == 30
    batches = wired.requests(vendor="track", path_contains="/api/v2/batch")
    assert len(batches) == 1 and batches[0]["status"] == 200

    # a scheduled run: a real one-hour interval, in which no Brevo contact changed, so nothing is written
    wired.clear_requests()
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    dr = dag.test(logical_date=hour)
    assert dr.state == "success" and dr.data_interval_end > dr.data_interval_start
    assert wired.requests(vendor="track") == []
