"""The segment DAG run end to end with ``dag.test()`` against the sandbox: the scheduled path (every configured
pair, dynamic task mapping, a building segment skipped) and the manual path (params: one pair, dry run).

``dag.test()`` needs a metadata database, so each run happens in a child process with its own throw-away
``AIRFLOW_HOME`` (migrated there); the test session's own home stays database-free.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
bag = DagBag(dag_folder=os.environ["DAG_FILE"])
assert not bag.import_errors, bag.import_errors
dag = bag.dags["customerio_segments_to_brevo_lists"]
run = dag.test(run_conf=json.loads(os.environ["RUN_CONF"]) or None)
with create_session() as session:
    row = session.query(XComModel).filter(XComModel.run_id == run.run_id, XComModel.task_id == "report",
                                          XComModel.key == "return_value").one_or_none()
    print("RESULT " + json.dumps({"state": str(run.state), "report": row.value if row else None}))
"""


def child_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated metadata database shared by this module's runs (migrating takes seconds; do it once)."""
    home = tmp_path_factory.mktemp("segments_airflow_home")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=child_env(home), check=True,
                   capture_output=True, timeout=600)
    return home


def run_dag(
    sandbox: Any, home: Path, tmp_path: Path, config: dict[str, Any], conf: dict[str, Any] | None
) -> dict[str, Any]:
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(json.dumps({"connectors": {"customerio": config}}), encoding="utf-8")
    env = {
        **child_env(home),
        **sandbox.info["airflow_conn_env"],
        "CUSTOMERIO_PROVIDER_CONFIG": str(cfg),
        "DAG_FILE": str(REPO / "dags" / "customerio_segments_to_brevo_lists.py"),
        "RUN_CONF": json.dumps(conf or {}),
    }
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600,
                          cwd=str(tmp_path))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture
def seeded(sandbox: Any) -> Any:
    sandbox.ratelimits(enabled=False)
    sandbox.seed(people=400, segments=[120, 30], seed=11)
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    return sandbox


def list_size(sandbox: Any, list_id: int) -> int:
    resp = requests.get(f"{sandbox.brevo_url}/contacts/lists/{list_id}/contacts", params={"limit": 500},
                        headers=sandbox.brevo_headers, timeout=30)
    return len(resp.json()["contacts"])


def test_scheduled_run_mirrors_every_pair_and_skips_building(seeded: Any, airflow_home: Path, tmp_path: Path) -> None:
    out = run_dag(seeded, airflow_home, tmp_path, {"segments": {"mirror": {"1": 13, "2": 14, "3": 12}}}, None)
    report = out["report"]
    assert out["state"] == "success"
    assert (report["pairs"], report["mirrored"]) == (3, 2)
    assert report["skipped_building"] == [{"segment": 3, "list": 12, "state": "building"}]
    assert report["exported"] == list_size(seeded, 13) + list_size(seeded, 14) > 0
    assert list_size(seeded, 12) == 0


def test_manual_run_with_params_mirrors_that_pair_only(seeded: Any, airflow_home: Path, tmp_path: Path) -> None:
    conf = {"segment_id": 2, "list_id": 12, "include_attributes": ["first_name"], "dry_run": True}
    out = run_dag(seeded, airflow_home, tmp_path, {"segments": {"mirror": {"1": 13}}}, conf)
    report = out["report"]
    assert out["state"] == "success"
    assert (report["pairs"], report["dry_run"], report["exported"]) == (1, True, 0)
    assert report["would_export"] > 0 and report["per_pair"][0]["segment"] == 2
    assert list_size(seeded, 12) == 0 and list_size(seeded, 13) == 0
