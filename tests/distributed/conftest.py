"""Fixture of the distributed tier: the cluster of ``harness.py`` plus the single-machine reference run, both on
their own sandbox seeded alike, both started here and stopped at the end (also on failure).

Locally the tier skips, saying why, when the PostgreSQL server binaries or ``redis-server`` are missing; in CI (env
``CI`` set) it fails instead: ``.ci/run`` installs both.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_processes import BIN, start_sandbox, stop_process
from tests.distributed import REPO_ROOT, scenario
from tests.distributed.harness import (
    SETTINGS_DIR,
    STORE_CONN_ENV,
    WEBHOOK_SIGNING_KEY,
    Cluster,
    RedisUnavailable,
    python_env_for_child,
    redis_server_binary,
    start_redis,
)
from tests.postgres_server import PostgresServer, PostgresUnavailable, pg_bin, temporary_postgres


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the distributed tier must run in CI: {reason} (.ci/run installs it)")
    pytest.skip(f"distributed tier skipped: {reason}")


@dataclass
class Reference:
    """The single-machine reference run (a child process running ``reference_run.py``)."""

    proc: subprocess.Popen
    log: Path
    result: Path
    info: dict[str, Any]
    store_url: str

    def wait(self, timeout: float) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            raise AssertionError(
                f"the single-machine reference run did not finish in {timeout} s; see {self.log}"
            ) from None
        if self.proc.returncode != 0 or not self.result.exists():
            tail = self.log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"the single-machine reference run failed ({self.proc.returncode}):\n{tail}")
        return json.loads(self.result.read_text())


@dataclass
class Distributed:
    cluster: Cluster
    reference: Reference
    plan: dict[str, Any]
    work: Path


def _reference_env(work: Path, pg: PostgresServer, info: dict[str, Any], config_text: str) -> dict[str, str]:
    home = work / "reference_home"
    (home / "config").mkdir(parents=True)
    shutil.copy(SETTINGS_DIR / "airflow_local_settings.py", home / "config" / "airflow_local_settings.py")
    (home / "customerio_config.yaml").write_text(config_text)
    env = python_env_for_child()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url("airflow_ref"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "CUSTOMERIO_PROVIDER_CONFIG": str(home / "customerio_config.yaml"),
            STORE_CONN_ENV: pg.url("customerio_sync_store_ref", driver="postgresql"),
            "AIRFLOW_CONN_CUSTOMERIO_WEBHOOK_DEFAULT": json.dumps(
                {"conn_type": "customerio_webhook", "password": WEBHOOK_SIGNING_KEY}
            ),
            **info["airflow_conn_env"],
        }
    )
    return env


def _run(env: dict[str, str], *args: str) -> None:
    out = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distributed]:
    if pg_bin() is None:
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl, psql; Debian package postgresql)")
    if redis_server_binary() is None:
        _unavailable("no redis-server binary (Debian package redis-server)")
    if importlib.util.find_spec("airflow.providers.celery") is None or importlib.util.find_spec("redis") is None:
        _unavailable("apache-airflow-providers-celery or the redis client is not installed (`make install`)")
    work = tmp_path_factory.mktemp("distributed")
    the_plan = scenario.plan()
    (work / "plan.json").write_text(json.dumps(the_plan))
    with contextlib.ExitStack() as stack:
        try:
            pg = stack.enter_context(temporary_postgres())
            redis_proc, redis_port = start_redis(work)
        except (PostgresUnavailable, RedisUnavailable) as exc:
            _unavailable(str(exc))
        stack.callback(stop_process, redis_proc, 10, True)
        for db in ("airflow", "customerio_sync_store", "airflow_ref", "customerio_sync_store_ref"):
            pg.psql(f"CREATE DATABASE {db}")
        sandboxes = []
        for name in ("sandbox", "sandbox_ref"):
            proc, info = start_sandbox(work, 0, name)
            stack.callback(stop_process, proc)
            scenario.seed_sandbox(info, the_plan)
            sandboxes.append(info)
        info, info_ref = sandboxes
        config_text = scenario.provider_config(info)
        assert config_text == scenario.provider_config(info_ref), "the two sandboxes were not seeded alike"
        cluster = Cluster(work=work, pg=pg, redis_port=redis_port, sandbox=info, config_text=config_text)
        stack.callback(cluster.close)
        ref_env = _reference_env(work, pg, info_ref, config_text)
        with ThreadPoolExecutor(2) as pool:
            migrations = [
                pool.submit(cluster.airflow_cli, "db", "migrate"),
                pool.submit(_run, ref_env, "db", "migrate"),
            ]
            for f in migrations:
                f.result()
        cluster.airflow_cli("pools", "import", str(REPO_ROOT / "dags" / "pools.json"))
        (work / "sandbox_ref_info.json").write_text(json.dumps(info_ref))
        ref_log = work / "reference.log"
        ref_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.distributed.reference_run",
                str(work / "plan.json"),
                str(work / "sandbox_ref_info.json"),
                str(work / "reference_result.json"),
            ],
            env=ref_env,
            cwd=str(REPO_ROOT),
            stdout=open(ref_log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(stop_process, ref_proc, 10, True)
        reference = Reference(ref_proc, ref_log, work / "reference_result.json", info_ref, ref_env[STORE_CONN_ENV])
        cluster.start()
        yield Distributed(cluster=cluster, reference=reference, plan=the_plan, work=work)
