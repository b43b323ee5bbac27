"""Integration fixtures: one real sandbox server per test session (127.0.0.1, ephemeral port, in a thread).

``sandbox`` resets the server before each test that uses it and hands out a :class:`SandboxClient`::

    def test_x(sandbox):
        sandbox.seed(people=100, seed=7)
        sandbox.faults(vendor="app", kind="429", count=1)
        ... real HTTP against sandbox.info["app_url"] ...
        assert [r["status"] for r in sandbox.requests(vendor="app")] == [429, 200]

Rate limits are ON (vendor defaults) after every reset; ``sandbox.ratelimits(enabled=False)`` turns them off
for one test.

The DAG tests share ``airflow_db`` (``airflow db migrate`` once per session in the session's temporary
AIRFLOW_HOME, SQLite), :func:`load_dag` (a DAG file of ``dags/`` parsed by Airflow, for ``dag.test()`` in the test
process) and :func:`dag_test_in_child` (``dag.test()`` in a child process on the same database).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_customerio.sandbox.server import SandboxServer
from tests.conftest import REPO_ROOT


class SandboxClient:
    """Test-side handle on the running sandbox: info, control-plane helpers and auth helpers."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.info: dict[str, Any] = dict(server.info)
        self.control_url: str = server.control_url
        self.track_url: str = self.info["track_url"]
        self.app_url: str = self.info["app_url"]
        self.brevo_url: str = self.info["brevo_url"]
        self.http = requests.Session()

    # ---------------------------------------------------------------------------------- control plane

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, f"{self.control_url}{path}", json=json, params=params, timeout=300)
        if resp.status_code >= 400:
            raise AssertionError(f"sandbox control {method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def reset(self) -> None:
        self._call("POST", "/reset")

    def seed(self, **params: Any) -> dict[str, Any]:
        """``POST /_sandbox/seed`` (people, segments, campaigns, days, objects, seed, now)."""
        return self._call("POST", "/seed", json=params)

    def faults(self, **spec: Any) -> list[dict[str, Any]]:
        """Add one fault rule (vendor, kind, rate|count, delay_s, path_contains, method)."""
        return self._call("POST", "/faults", json=spec)["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def ratelimits(self, **limits: Any) -> dict[str, Any]:
        return self._call("PUT", "/ratelimits", json=limits)

    def settings(self, **values: Any) -> dict[str, Any]:
        """Customer.io workspace settings (region, export_polls, fail_exports, wrap_customer_items, ...)."""
        return self._call("PUT", "/customerio/settings", json=values)

    def requests(self, vendor: str | None = None, path_contains: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("vendor", vendor), ("path_contains", path_contains)) if v}
        return self._call("GET", "/requests", params=params)["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def person(self, identifier: str, id_type: str | None = None) -> dict[str, Any] | None:
        """Typed state of one Customer.io person (``None`` if absent)."""
        params = {"id_type": id_type} if id_type else None
        path = quote(identifier, safe="")
        resp = self.http.get(f"{self.control_url}/state/customerio/people/{path}", params=params, timeout=30)
        return None if resp.status_code == 404 else resp.json()

    def summary(self) -> dict[str, Any]:
        return self._call("GET", "/state/customerio/summary")

    # ---------------------------------------------------------------------------------- auth helpers

    @property
    def track_auth(self) -> tuple[str, str]:
        return (self.info["site_id"], self.info["track_api_key"])

    @property
    def app_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info['app_api_key']}"}

    @property
    def brevo_headers(self) -> dict[str, str]:
        return {"api-key": self.info["brevo_api_key"]}

    def set_airflow_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the three default Airflow connections at the sandbox (no database needed)."""
        for key, value in self.info["airflow_conn_env"].items():
            monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = SandboxServer(host="127.0.0.1", port=0, seed_people=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxClient:
    """The session's sandbox, reset to an empty world with default rate limits and no faults."""
    sandbox_server.reset()
    return SandboxClient(sandbox_server)


# ------------------------------------------------------------------------------------------ DAG tests


def _migrated(db: Path) -> bool:
    if not db.is_file():
        return False
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone() is not None


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The Airflow metadata DB of the session's temporary AIRFLOW_HOME (``tests/conftest.py``), migrated once per
    session (SQLite, a few seconds). Nothing outside the temp folder is touched."""
    from airflow.configuration import conf

    db = Path(conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///"))
    if not _migrated(db):
        env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return db


def load_dag(dag_id: str) -> Any:
    """The DAG of ``dags/<dag_id>.py`` as Airflow parses it (no import errors), ready for ``dag.test()``."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


_CHILD = r"""
import json, os
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
bag = DagBag(dag_folder=os.environ["DAG_FILE"])
assert not bag.import_errors, bag.import_errors
dag = bag.dags[os.environ["DAG_ID"]]
run = dag.test(run_conf=json.loads(os.environ["RUN_CONF"]) or None)
out = {"state": str(run.state)}
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id)
    out["tasks"] = {ti.task_id: str(ti.state) for ti in tis}
    for name, task_id in json.loads(os.environ["XCOMS"]).items():
        row = session.query(XComModel).filter(XComModel.run_id == run.run_id, XComModel.task_id == task_id,
                                              XComModel.key == "return_value").one_or_none()
        out[name] = row.value if row else None
print("RESULT " + json.dumps(out))
"""


def dag_test_in_child(
    dag_id: str,
    *,
    env: Mapping[str, str],
    cwd: Path,
    conf: Mapping[str, Any] | None = None,
    xcoms: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``dag.test()`` of ``dags/<dag_id>.py`` in a child process (its own Airflow state: env vars read at import,
    a deferrable task's triggerer) on the session's metadata DB (use the ``airflow_db`` fixture). Returns
    ``{"state", "tasks": {task_id: state}}`` plus, for each ``name: task_id`` of ``xcoms``, that task's return
    value under ``name``."""
    child_env = {
        **os.environ,
        **env,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "DAG_ID": dag_id,
        "DAG_FILE": str(REPO_ROOT / "dags" / f"{dag_id}.py"),
        "RUN_CONF": json.dumps(dict(conf or {})),
        "XCOMS": json.dumps(dict(xcoms or {})),
    }
    child_env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD], env=child_env, capture_output=True, text=True, timeout=600, cwd=str(cwd)
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    # raw_decode: a forked listener (OpenLineage) may append its log line to the result's line
    return json.JSONDecoder().raw_decode(lines[-1][len("RESULT ") :])[0]
