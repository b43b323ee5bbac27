"""The object sync DAG run end to end with ``dag.test()`` against the sandbox (issue 9): off by default (the run
short-circuits), and on (objects written to Brevo through the deferrable operator).

``dag.test()`` needs a metadata database, so each run happens in a child process with its own throw-away
``AIRFLOW_HOME`` (migrated once per module); the test session's own home stays database-free.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "customerio_objects_to_brevo"

CHILD = r"""
import json, os
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
bag = DagBag(dag_folder=os.environ["DAG_FILE"])
assert not bag.import_errors, bag.import_errors
dag = bag.dags["customerio_objects_to_brevo"]
run = dag.test(run_conf=json.loads(os.environ["RUN_CONF"]) or None)
with create_session() as session:
    states = {ti.task_id: str(ti.state) for ti in session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id)}
    row = session.query(XComModel).filter(XComModel.run_id == run.run_id,
                                          XComModel.task_id == "sync_objects_to_brevo",
                                          XComModel.key == "return_value").one_or_none()
    print("RESULT " + json.dumps({"state": str(run.state), "tasks": states, "summary": row.value if row else None}))
"""


def child_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("objects_airflow_home")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=child_env(home), check=True,
                   capture_output=True, timeout=600)
    return home


def run_dag(sandbox: Any, home: Path, tmp_path: Path, customerio: dict[str, Any],
            conf: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = tmp_path / "customerio_config.yaml"
    customerio = {**customerio, "people": {"state_path": str(tmp_path / "state.db"),
                                           "ledger_dir": str(tmp_path / "ledger")}}
    cfg.write_text(json.dumps({"connectors": {"customerio": customerio}}), encoding="utf-8")
    env = {**child_env(home), **sandbox.info["airflow_conn_env"], "CUSTOMERIO_PROVIDER_CONFIG": str(cfg),
           "DAG_FILE": str(REPO / "dags" / f"{DAG_ID}.py"), "RUN_CONF": json.dumps(conf or {})}
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600,
                          cwd=str(tmp_path))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


TYPES = {"1": {"brevo_object_type": "companies", "field_mapping": {"name": "name", "plan": "plan"}}}


def brevo_records(sandbox: Any) -> dict[str, Any]:
    body = sandbox._call("GET", "/brevo/objects/companies/records")
    return {r["identifiers"]["ext_id"]: r for r in body["records"]}


def test_dag_is_skipped_while_the_switch_is_off(sandbox: Any, airflow_home: Path, tmp_path: Path) -> None:
    sandbox.seed(people=0, objects=2, seed=3, campaigns=0)
    result = run_dag(sandbox, airflow_home, tmp_path, {"objects": {"types": TYPES}})  # sync.objects defaults off
    assert result["tasks"]["objects_enabled"] == "success"
    assert result["tasks"]["check_brevo_object_types"] == "skipped"
    assert result["tasks"]["sync_objects_to_brevo"] == "skipped"
    assert result["tasks"]["sync_brevo_objects_to_customerio"] == "skipped"
    assert brevo_records(sandbox) == {}
    assert [r for r in sandbox.requests(vendor="brevo") if "/objects/" in r["path"]] == []


def test_dag_syncs_objects_when_switched_on(sandbox: Any, airflow_home: Path, tmp_path: Path) -> None:
    sandbox.seed(people=0, objects=3, seed=3, campaigns=0)
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    result = run_dag(sandbox, airflow_home, tmp_path, {"sync": {"objects": True}, "objects": {"types": TYPES}},
                     conf={"reverse": True})
    assert result["state"] == "success", result
    summary = result["summary"]
    assert summary["created"] == 3 and summary["rejected"] == 0
    records = brevo_records(sandbox)
    assert len(records) == 3 and all(set(r["attributes"]) == {"name", "plan"} for r in records.values())
    # the reverse direction ran and found only the forward direction's own records (echoes): nothing written
    assert result["tasks"]["sync_brevo_objects_to_customerio"] == "success"
    assert sandbox.requests(vendor="track") == []


def test_dag_fails_early_naming_a_missing_brevo_type(sandbox: Any, airflow_home: Path, tmp_path: Path) -> None:
    sandbox.seed(people=0, objects=2, seed=3, campaigns=0)
    types = {"1": {"brevo_object_type": "accounts", "field_mapping": {"name": "name"}}}
    result = run_dag(sandbox, airflow_home, tmp_path, {"sync": {"objects": True}, "objects": {"types": types}})
    assert result["tasks"]["check_brevo_object_types"] == "failed"
    assert result["tasks"]["sync_objects_to_brevo"] == "upstream_failed"
    assert [r for r in sandbox.requests(vendor="brevo") if r["path"].endswith("/batch/upsert")] == []
