"""System tier: a real Airflow 3.3 (``airflow standalone``: scheduler, dag-processor, api-server, triggerer) with
the example DAGs, against the sandbox, both started by this fixture on 127.0.0.1 and stopped at the end.

``dag.test()`` ignores pools, so pool throttling, backfills, UI triggering and the connection form are proven
here, with a real scheduler.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import REPO_ROOT
from tests.postgres_server import PostgresUnavailable, temporary_postgres

BIN = Path(sys.executable).parent
#: Airflow runs with real logins (SimpleAuthManager users), so the UI and the status page are tested as users see
#: them; the REST session logs in once (``AirflowStack.login``).
ADMIN_USER = "admin"
ADMIN_PASSWORD = "system-tier-admin-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail}")
        try:
            last = predicate()
            if last:
                return last
        except (requests.RequestException, ValueError, KeyError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"timed out waiting for {what} (last: {last!r})\n{tail}")


@dataclass
class AirflowStack:
    """Handles on the running Airflow and sandbox."""

    home: Path
    api_url: str
    env: dict[str, str]
    sandbox: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)
    username: str = ADMIN_USER
    password: str = ADMIN_PASSWORD

    def login(self) -> str:
        """Log the REST session in (SimpleAuthManager's ``POST /auth/token``); returns the JWT."""
        resp = requests.post(
            f"{self.api_url}/auth/token", json={"username": self.username, "password": self.password}, timeout=60
        )
        resp.raise_for_status()
        token = resp.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        return token

    # ----------------------------------------------------------------------------------- REST API
    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One REST call. SQLite under four Airflow components answers "database is locked" (503, or a 500
        "Database error") now and then: such answers are retried a few times, anything else is returned."""
        for attempt in range(20):
            resp = self.http.request(method, f"{self.api_url}{path}", timeout=60, **kwargs)
            locked = resp.status_code in (500, 503) and ("locked" in resp.text or "Database error" in resp.text)
            if not locked:
                return resp
            time.sleep(0.5 + attempt * 0.25)
        return resp

    def api_ok(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.api(method, path, **kwargs)
        if resp.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {resp.status_code}: {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def unpause(self, dag_id: str) -> None:
        self.api_ok("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def wait_dag_runs(self, dag_id: str, count: int, timeout: float = 600) -> list[dict[str, Any]]:
        """Wait until ``count`` runs of ``dag_id`` are finished; returns them."""

        def done() -> list[dict[str, Any]] | None:
            runs = self.api_ok("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
            finished = [r for r in runs if r["state"] in ("success", "failed")]
            return finished if len(finished) >= count else None

        return _wait(done, timeout, f"{count} finished runs of {dag_id}")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """Wait until one run is finished; returns its state."""

        def finished() -> str | None:
            state = self.api_ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in ("success", "failed") else None

        return _wait(finished, timeout, f"run {run_id} of {dag_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api_ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        body = self.api_ok(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index, "deserialize": "true"},
        )
        return body.get("value")

    # ------------------------------------------------------------------------------------ sandbox
    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = requests.request(method, f"{self.sandbox['control_url']}{path}", timeout=120, **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None


def _airflow(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "airflow"), *args], env=env, check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """Start the sandbox (subprocess) and ``airflow standalone``; yield handles; stop both."""
    work = tmp_path_factory.mktemp("airflow-stack")
    home = work / "airflow_home"
    home.mkdir()
    info_file = work / "sandbox.json"
    sandbox_log = work / "sandbox.log"
    sandbox_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_customerio.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--seed-people",
            "2000",
            "--info-file",
            str(info_file),
        ],
        stdout=open(sandbox_log, "wb"),
        stderr=subprocess.STDOUT,
    )
    standalone: subprocess.Popen | None = None
    # Airflow's metadata DB on a real PostgreSQL: with four components on SQLite the scheduler dies now and then
    # ("database is locked", StaleDataError), which would make this tier flaky.
    postgres = contextlib.ExitStack()
    try:
        try:
            pg = postgres.enter_context(temporary_postgres())
            pg.psql("CREATE DATABASE airflow")
            db_url = pg.url("airflow")
        except PostgresUnavailable as exc:
            if os.environ.get("CI"):
                raise RuntimeError(f"CI: the system tier must run on PostgreSQL, which is unavailable: {exc}") from exc
            print(f"PostgreSQL unavailable ({exc}); the system tier falls back to SQLite")
            db_url = None
        _wait(info_file.exists, 120, "sandbox info file", sandbox_proc, sandbox_log)
        info = json.loads(info_file.read_text())
        config = yaml.safe_load((REPO_ROOT / "dags" / "customerio_config.yaml").read_text())
        # the workflow-state attributes (CIO_LAST_*) do not exist in a fresh Brevo account: opt in to create them
        config["connectors"]["customerio"]["people"]["create_missing_attributes"] = True
        config_path = work / "customerio_config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone spawns `airflow`
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
                "CUSTOMERIO_PROVIDER_CONFIG": str(config_path),
                # the segment mirror and the workflow state run after each people sync (the people Asset)
                "CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET": "true",
                **info["airflow_conn_env"],
            }
        )
        if db_url:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
        (home / "passwords.json").write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        _airflow(env, "db", "migrate")
        _airflow(env, "pools", "import", str(REPO_ROOT / "dags" / "pools.json"))
        standalone_log = work / "standalone.log"
        standalone = subprocess.Popen(
            [str(BIN / "airflow"), "standalone"],
            env=env,
            stdout=open(standalone_log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        api_url = f"http://127.0.0.1:{port}"
        stack = AirflowStack(home=home, api_url=api_url, env=env, sandbox=info)

        def healthy() -> bool:
            body = requests.get(f"{api_url}/api/v2/monitor/health", timeout=5).json()
            return body["scheduler"]["status"] == "healthy" and body["metadatabase"]["status"] == "healthy"

        _wait(healthy, 240, "airflow standalone health", standalone, standalone_log)
        stack.login()
        stack.log_path = standalone_log  # type: ignore[attr-defined]
        yield stack
    finally:
        if standalone is not None and standalone.poll() is None:
            os.killpg(standalone.pid, signal.SIGTERM)
            try:
                standalone.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(standalone.pid, signal.SIGKILL)
        sandbox_proc.send_signal(signal.SIGTERM)
        try:
            sandbox_proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sandbox_proc.kill()
        postgres.close()


@pytest.fixture(scope="session")
def parsed_dags(airflow_stack: AirflowStack) -> set[str]:
    """Wait until the dag-processor has parsed every file of dags/ (all of them define one DAG named as the file)."""
    expected = {p.stem for p in (REPO_ROOT / "dags").glob("*.py")}

    def all_parsed() -> set[str] | None:
        dags = airflow_stack.api_ok("GET", "/api/v2/dags", params={"limit": 100})["dags"]
        errors = airflow_stack.api_ok("GET", "/api/v2/importErrors")["import_errors"]
        if errors:
            raise AssertionError(f"DAG import errors: {errors}")
        ids = {d["dag_id"] for d in dags}
        return ids if expected <= ids else None

    return _wait(all_parsed, 240, f"DAGs {sorted(expected)} parsed")
