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
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.airflow_processes import BIN, AirflowApi, free_port, start_sandbox, stop_process, wait_for
from tests.conftest import REPO_ROOT
from tests.postgres_server import PostgresUnavailable, temporary_postgres

# kept under their old names: tests of this tier import them from here
_free_port = free_port
_wait = wait_for
#: Airflow runs with real logins (SimpleAuthManager users), so the UI and the status page are tested as users see
#: them; the REST session logs in once (``AirflowStack.login``).
ADMIN_USER = "admin"
ADMIN_PASSWORD = "system-tier-admin-pw"


@dataclass
class AirflowStack(AirflowApi):
    """Handles on the running Airflow (REST API: :class:`~tests.airflow_processes.AirflowApi`) and sandbox."""

    home: Path = Path()
    env: dict[str, str] = field(default_factory=dict)
    sandbox: dict[str, Any] = field(default_factory=dict)
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
    sandbox_proc, info = start_sandbox(work, 2000)
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
        stack = AirflowStack(api_url=api_url, home=home, env=env, sandbox=info)

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
        stop_process(sandbox_proc)
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
