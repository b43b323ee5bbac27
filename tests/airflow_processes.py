"""Helpers for the tiers that run real Airflow processes (``tests/system``: ``airflow standalone``;
``tests/distributed``: an api-server, a scheduler, a dag-processor, a triggerer and Celery workers) against the
sandbox: free ports, bounded polling, the sandbox as a child process, the Airflow REST API, stopping processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> Any:
    """Poll ``predicate`` every 0.5 s until it returns something truthy (returned) or ``timeout`` seconds pass
    (``TimeoutError`` naming ``what``). A watched ``proc`` that exits ends the wait at once (``RuntimeError``,
    with the tail of its ``log``)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail}")
        try:
            last = predicate()
            if last:
                return last
        except (requests.RequestException, ValueError, KeyError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"timed out waiting for {what} (last: {last!r})\n{tail}")


def start_sandbox(work: Path, people: int, name: str = "sandbox") -> tuple[subprocess.Popen, dict[str, Any]]:
    """``python -m airflow_provider_customerio.sandbox`` seeded with ``people``, as a child process; returns it and
    its info JSON (URLs, fake credentials, ``airflow_conn_env``). Stop it with :func:`stop_process`."""
    info_file = work / f"{name}.json"
    log = work / f"{name}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_customerio.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--seed-people",
            str(people),
            "--info-file",
            str(info_file),
        ],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(info_file.exists, 120, f"{name} info file", proc, log)
    except BaseException:
        stop_process(proc)
        raise
    return proc, json.loads(info_file.read_text())


def stop_process(proc: subprocess.Popen | None, timeout: float = 30, group: bool = False) -> None:
    """SIGTERM ``proc`` (its whole process group when ``group``: it was started with ``start_new_session``), then
    SIGKILL what is still there after ``timeout`` seconds."""
    if proc is None:
        return

    def send(sig: int) -> None:
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    if proc.poll() is None:
        send(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait(timeout=30)
    if group:  # children that outlived their leader (a Celery pool, a task supervisor) go too
        send(signal.SIGKILL)


@dataclass
class AirflowApi:
    """The Airflow REST API (``/api/v2``) of a running api-server (simple auth manager, everyone admin)."""

    api_url: str
    http: requests.Session = field(default_factory=requests.Session)

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

        return wait_for(done, timeout, f"{count} finished runs of {dag_id}")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """Wait until one run is finished; returns its state."""

        def finished() -> str | None:
            state = self.api_ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in ("success", "failed") else None

        return wait_for(finished, timeout, f"run {run_id} of {dag_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api_ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
            "task_instances"
        ]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        body = self.api_ok(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index, "deserialize": "true"},
        )
        return body.get("value")
