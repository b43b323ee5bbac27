"""The compose topology of ``docker-compose.yaml`` rebuilt from processes on 127.0.0.1, without Docker.

* a throw-away PostgreSQL (``tests/postgres_server.py``) holding three databases: Airflow's metadata DB, the
  provider's sync store (connection ``customerio_sync_store``) and, for the single-machine reference run of the
  test, a second store and metadata DB;
* ``redis-server`` as the Celery broker and result backend;
* Airflow with CeleryExecutor (``apache-airflow-providers-celery``): an api-server, a scheduler, a dag-processor,
  a triggerer and two Celery workers. **Each process has its own ``AIRFLOW_HOME``** (config, logs, the cluster
  policy ``airflow_local_settings.py`` and the provider config are copied into each one): nothing is shared through
  the disk but the read-only ``dags/`` folder of the repository, as between containers or machines;
* the cluster policy (``cluster_settings/airflow_local_settings.py``) routes the reading tasks to worker A's queue
  and the writing tasks to worker B's queue.

Every process runs in its own session (process group), so that :meth:`Cluster.kill_worker` can take a worker down
with SIGKILL like a lost machine, and :meth:`Cluster.close` stops everything, also after a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.airflow_processes import BIN, AirflowApi, free_port, stop_process, wait_for
from tests.distributed import REPO_ROOT
from tests.postgres_server import PostgresServer

SETTINGS_DIR = Path(__file__).resolve().parent / "cluster_settings"
READ_QUEUE = "cio_read"
WRITE_QUEUE = "cio_write"
WEBHOOK_SIGNING_KEY = "sandbox-webhook-signing-key"  # fake, like every sandbox credential
STORE_CONN_ENV = "AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE"


class RedisUnavailable(RuntimeError):
    """No ``redis-server`` binary on this machine."""


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None
    )


def start_redis(work: Path) -> tuple[subprocess.Popen, int]:
    """``redis-server`` on 127.0.0.1 (no persistence), in ``work``; returns the process and its port."""
    binary = redis_server_binary()
    if binary is None:
        raise RedisUnavailable("no redis-server binary (Debian package redis-server)")
    port = free_port()
    log = work / "redis.log"
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(work)],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def ping() -> bool:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping())

    try:
        wait_for(ping, 30, "redis-server", proc, log)
    except BaseException:
        stop_process(proc, group=True)
        raise
    return proc, port


@dataclass
class Component:
    """One Airflow process of the cluster."""

    name: str
    args: list[str]
    home: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "airflow"), *self.args],
            env=self.env,
            cwd=str(self.home),
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """A running CeleryExecutor cluster; see the module docstring."""

    work: Path
    pg: PostgresServer
    redis_port: int
    sandbox: dict[str, Any]
    config_text: str
    api: AirflowApi = field(init=False)
    components: dict[str, Component] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.api_port = free_port()
        self.api = AirflowApi(f"http://127.0.0.1:{self.api_port}")
        from cryptography.fernet import Fernet

        # what the compose file's x-airflow-common gives every container: one JWT secret (task tokens are signed by
        # the scheduler's executor and checked by the api-server), one Fernet key, one API secret key
        self.secrets = {
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        }

    # ------------------------------------------------------------------------------------------ environment
    @property
    def store_url(self) -> str:
        return self.pg.url("customerio_sync_store", driver="postgresql")

    @property
    def webhook_url(self) -> str:
        return f"{self.api.api_url}/customerio/webhooks"

    def new_home(self, name: str) -> tuple[Path, dict[str, str]]:
        """A fresh ``AIRFLOW_HOME`` for one process (its own config dir, policy, provider config) and its env."""
        home = self.work / "homes" / name
        (home / "config").mkdir(parents=True)
        shutil.copy(SETTINGS_DIR / "airflow_local_settings.py", home / "config" / "airflow_local_settings.py")
        config_path = home / "customerio_config.yaml"
        config_path.write_text(self.config_text)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        env.pop("PYTHONPATH", None)
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.pg.url("airflow"),
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://127.0.0.1:{self.redis_port}/1",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                "AIRFLOW__CELERY__DEFAULT_QUEUE": WRITE_QUEUE,
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": self.api.api_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api.api_url}/execution/",
                # the test triggers every run itself: no scheduled runs next to them (unpausing a DAG with
                # catchup=False would otherwise create its latest scheduled run)
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                # a worker killed with SIGKILL stops heartbeating: its task is failed (and retried) after this
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "40",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "CUSTOMERIO_PROVIDER_CONFIG": str(config_path),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_local_settings.hostname",
                "CIO_TEST_HOSTNAME": name,
                "CIO_TEST_READ_QUEUE": READ_QUEUE,
                "CIO_TEST_WRITE_QUEUE": WRITE_QUEUE,
                STORE_CONN_ENV: self.store_url,
                "AIRFLOW_CONN_CUSTOMERIO_WEBHOOK_DEFAULT": (
                    '{"conn_type": "customerio_webhook", "password": "' + WEBHOOK_SIGNING_KEY + '"}'
                ),
                **self.sandbox["airflow_conn_env"],
                **self.brevo_conn_with_notices(),
                **self.secrets,
            }
        )
        return home, env

    def brevo_conn_with_notices(self) -> dict[str, str]:
        """The sandbox's Brevo connection plus ``notify_url``: Brevo calls the api-server's notice route when an
        import ends, and the waits (workers, triggerer) read the notices from the shared store."""
        key = "AIRFLOW_CONN_BREVO_DEFAULT"
        conn = json.loads(self.sandbox["airflow_conn_env"][key])
        conn["extra"] = {**(conn.get("extra") or {}), "notify_url": f"{self.api.api_url}/customerio"}
        return {key: json.dumps(conn)}

    def airflow_cli(self, *args: str, timeout: float = 600) -> str:
        """One ``airflow`` command in a throw-away home of its own (``db migrate``, ``pools import``)."""
        name = f"cli-{len(list((self.work / 'homes').glob('cli-*'))) if (self.work / 'homes').exists() else 0}"
        home, env = self.new_home(name)
        out = subprocess.run(
            [str(BIN / "airflow"), *args], env=env, cwd=str(home), capture_output=True, text=True, timeout=timeout
        )
        if out.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        return out.stdout

    # ---------------------------------------------------------------------------------------------- start
    def add(self, name: str, *args: str) -> Component:
        home, env = self.new_home(name)
        comp = Component(name, list(args), home, env, self.work / "logs" / f"{name}.log")
        comp.log.parent.mkdir(exist_ok=True)
        self.components[name] = comp
        return comp

    def add_worker(self, name: str, *queues: str) -> Component:
        return self.add(name, "celery", "worker", "--queues", ",".join(queues), "--celery-hostname", f"{name}@%h")

    def wait_worker_ready(self, name: str, timeout: float = 180) -> None:
        comp = self.components[name]
        ready = lambda: " ready." in comp.log.read_text(errors="replace")
        wait_for(ready, timeout, f"{name} ready", comp.proc, comp.log)

    def start(self, timeout: float = 300) -> None:
        """Start the six processes and wait until the api-server reports the scheduler, dag-processor and triggerer
        healthy and both workers are ready."""
        self.add("api-server", "api-server")
        self.add("scheduler", "scheduler")
        self.add("dag-processor", "dag-processor")
        self.add("triggerer", "triggerer")
        self.add_worker("worker-a", READ_QUEUE)
        self.add_worker("worker-b", WRITE_QUEUE)
        for comp in self.components.values():
            comp.start()
        api = self.components["api-server"]

        def healthy() -> bool:
            self.check_alive()
            body = requests.get(f"{self.api.api_url}/api/v2/monitor/health", timeout=5).json()
            return all(
                (body.get(part) or {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            )

        wait_for(healthy, timeout, "cluster health (scheduler, triggerer, dag-processor)", api.proc, api.log)
        for name in ("worker-a", "worker-b"):
            self.wait_worker_ready(name, timeout)

    def check_alive(self, *, except_: tuple[str, ...] = ()) -> None:
        """Fail with the log tail of any process of the cluster that died."""
        for comp in self.components.values():
            if comp.name not in except_ and comp.proc is not None and comp.proc.poll() is not None:
                tail = comp.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{comp.name} exited with {comp.proc.returncode}:\n{tail}")

    # --------------------------------------------------------------------------------------------- workers
    def celery_app(self) -> Any:
        from celery import Celery

        return Celery(broker=f"redis://127.0.0.1:{self.redis_port}/0", backend=f"redis://127.0.0.1:{self.redis_port}/1")

    def worker_hostname(self, name: str) -> str:
        return f"{name}@{os.uname().nodename}"

    def kill_worker(self, name: str) -> int:
        """SIGKILL every process of a worker (the Celery main process, its pool, the task supervisors and the task
        processes): a lost machine, with no chance to report anything. Airflow's supervisor puts each task process
        in a process group of its own, so the whole tree is stopped first (no process forks or writes meanwhile),
        then killed. Returns how many processes outside the worker's own process group were killed (the tasks)."""
        import psutil

        comp = self.components[name]
        assert comp.proc is not None
        root = psutil.Process(comp.proc.pid)
        tree: list[Any] = []
        for _ in range(3):  # stop from the root down; a process forked meanwhile is caught on the next pass
            for proc in [root, *root.children(recursive=True)]:
                if proc not in tree:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        proc.suspend()
                        tree.append(proc)
        outside = 0
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                outside += os.getpgid(proc.pid) != comp.proc.pid
                proc.kill()
        comp.proc.wait(timeout=30)
        psutil.wait_procs(tree, timeout=30)
        return outside

    def take_over_queue(self, survivor: str, queue: str) -> None:
        """Make the surviving worker consume the dead one's queue too (Celery remote control ``add_consumer``)."""
        replies = self.celery_app().control.add_consumer(
            queue, destination=[self.worker_hostname(survivor)], reply=True, timeout=10
        )
        assert replies, f"{survivor} did not answer the add_consumer request for queue {queue}"

    def hand_back_queue(self, worker: str, queue: str) -> None:
        """Stop ``worker`` consuming ``queue`` (Celery remote control ``cancel_consumer``)."""
        replies = self.celery_app().control.cancel_consumer(
            queue, destination=[self.worker_hostname(worker)], reply=True, timeout=10
        )
        assert replies, f"{worker} did not answer the cancel_consumer request for queue {queue}"

    # ---------------------------------------------------------------------------------------------- stop
    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL of its group); never raises."""
        for comp in reversed(list(self.components.values())):
            with contextlib.suppress(Exception):
                stop_process(comp.proc, timeout=20, group=True)


def python_env_for_child() -> dict[str, str]:
    """The environment for a Python child that runs Airflow in-process (no test-session Airflow variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


__all__ = [
    "READ_QUEUE",
    "STORE_CONN_ENV",
    "WEBHOOK_SIGNING_KEY",
    "WRITE_QUEUE",
    "Cluster",
    "RedisUnavailable",
    "python_env_for_child",
    "redis_server_binary",
    "start_redis",
]
