#!/usr/bin/env python
"""``make demo``: run every example DAG once against the sandbox and print what was synced.

1. starts the sandbox (local Customer.io + Brevo emulator) with seeded data on 127.0.0.1;
2. sets up a fresh Airflow home with SQLite under ``.demo/``;
3. imports the pools (``dags/pools.json``) and the connections (from the sandbox's info file);
4. runs every example DAG once with ``airflow dags test``;
5. prints a summary: people synced each way, lists mirrored, events forwarded, metrics rows, objects;
6. stops everything it started.

``make airflow`` (``--standalone``) does steps 1-3 and then runs ``airflow standalone`` wired to the sandbox,
for clicking around in the UI, until Ctrl-C.

No credentials are needed and nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / ".demo"
DAGS_DIR = ROOT / "dags"

#: (dag id, run conf, logical date offset). Order matters: people first, so later DAGs find contacts.
DEMO_RUNS: list[tuple[str, dict[str, Any], timedelta]] = [
    ("customerio_connection_check", {}, timedelta(0)),
    ("customerio_people_to_brevo", {"mode": "full"}, timedelta(hours=1)),
    ("customerio_segments_to_brevo_lists", {}, timedelta(days=1)),
    ("customerio_events_to_brevo", {}, timedelta(minutes=5)),
    ("customerio_campaign_metrics", {}, timedelta(days=1)),
    ("customerio_workflow_state_to_brevo", {}, timedelta(days=1)),
    ("customerio_objects_to_brevo", {}, timedelta(days=1)),
    ("brevo_people_to_customerio", {}, timedelta(hours=1)),
]


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def start_sandbox(people: int, info_file: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start the sandbox as a child process and wait for its info file."""
    info_file.unlink(missing_ok=True)
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
        stdout=open(DEMO_DIR / "sandbox.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while not info_file.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the sandbox exited early; see {DEMO_DIR / 'sandbox.log'}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit("the sandbox did not start within 120 s")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def demo_config(info: dict[str, Any]) -> Path:
    """The example config with the demo's choices: mirror the sandbox's finished segments, objects on."""
    config = yaml.safe_load((DAGS_DIR / "customerio_config.yaml").read_text())
    cio = config["connectors"]["customerio"]
    cio.setdefault("sync", {})["objects"] = True
    # the opt-in that creates the Brevo attributes the example mapping and the workflow state need
    cio.setdefault("people", {})["create_missing_attributes"] = True
    try:
        segments = requests.get(
            f"{info['app_url']}/v1/segments", headers={"Authorization": f"Bearer {info['app_api_key']}"}, timeout=30
        ).json()["segments"]
    except (requests.RequestException, KeyError, ValueError):
        segments = []
    finished = [s for s in segments if s.get("state") == "finished" and s.get("type") == "dynamic"]
    list_ids = list((cio.get("lists") or {}).values()) or [13]
    if finished:
        cio.setdefault("segments", {})["mirror"] = {
            str(s["id"]): list_ids[min(i + 1, len(list_ids) - 1)] for i, s in enumerate(finished[:2])
        }
    path = DEMO_DIR / "customerio_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def airflow_env(info: dict[str, Any], config_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(DEMO_DIR / "airflow_home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "CUSTOMERIO_PROVIDER_CONFIG": str(config_path),
        }
    )
    env.update(info.get("airflow_conn_env") or {})
    return env


def airflow(env: dict[str, str], *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).parent / "airflow"), *args]
    result = subprocess.run(cmd, env=env, text=True, capture_output=capture)
    if check and result.returncode != 0:
        sys.stderr.write((result.stdout or "")[-4000:] + (result.stderr or "")[-4000:])
        raise SystemExit(f"`airflow {' '.join(args)}` failed with exit code {result.returncode}")
    return result


def import_connections(env: dict[str, str], info: dict[str, Any]) -> None:
    """Store the sandbox connections in the metadata DB too, so they show in the UI."""
    conns = {}
    for var, value in (info.get("airflow_conn_env") or {}).items():
        conn_id = var.removeprefix("AIRFLOW_CONN_").lower()
        conns[conn_id] = json.loads(value)
    path = DEMO_DIR / "connections.json"
    path.write_text(json.dumps(conns, indent=2))
    airflow(env, "connections", "import", str(path), "--overwrite")


def run_dags(env: dict[str, str]) -> list[tuple[str, str]]:
    # every example DAG lives in dags/<dag_id>.py
    available = {p.stem for p in DAGS_DIR.glob("*.py")}
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    outcomes = []
    for dag_id, conf, offset in DEMO_RUNS:
        if dag_id not in available:
            outcomes.append((dag_id, "not present"))
            continue
        logical = (now - offset).isoformat()
        log(f"running {dag_id} (logical date {logical})")
        args = ["dags", "test", dag_id, logical]
        if conf:
            args += ["-c", json.dumps(conf)]
        result = airflow(env, *args, check=False)
        (DEMO_DIR / f"{dag_id}.log").write_text((result.stdout or "") + (result.stderr or ""))
        state = "success" if result.returncode == 0 and "state=failed" not in (result.stdout or "") else "FAILED"
        outcomes.append((dag_id, state))
        if state != "success":
            log(f"{dag_id} failed; its log is in {DEMO_DIR / (dag_id + '.log')}")
    return outcomes


def xcom_summaries(env: dict[str, str]) -> dict[str, list[tuple[str, Any]]]:
    """Return values of every task of the demo runs, read from the demo's metadata DB."""
    code = r"""
import json
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
out = {}
with create_session() as s:
    for row in s.query(XComModel).filter(XComModel.key == "return_value").order_by(XComModel.dag_id, XComModel.task_id):
        try:
            value = XComModel.deserialize_value(row)
        except Exception:
            value = row.value
        out.setdefault(row.dag_id, []).append([row.task_id, value])
print("XCOMS=" + json.dumps(out, default=str))
"""
    result = subprocess.run([sys.executable, "-c", code], env=env, text=True, capture_output=True)
    for line in result.stdout.splitlines():
        if line.startswith("XCOMS="):
            return {k: [tuple(t) for t in v] for k, v in json.loads(line[6:]).items()}
    return {}


def sandbox_facts(info: dict[str, Any]) -> dict[str, Any]:
    control = info["control_url"]
    facts: dict[str, Any] = {}
    try:
        facts["customerio"] = requests.get(f"{control}/state/customerio/summary", timeout=30).json()
        contacts = requests.get(f"{control}/brevo/contacts", timeout=60).json()
        facts["brevo_contacts"] = len(contacts.get("contacts", contacts) if isinstance(contacts, dict) else contacts)
        events = requests.get(f"{control}/brevo/events", timeout=60).json()
        facts["brevo_events"] = len(events.get("events", events) if isinstance(events, dict) else events)
        reqs = requests.get(f"{control}/requests", timeout=60).json()
        entries = reqs.get("requests", reqs) if isinstance(reqs, dict) else reqs
        facts["api_calls"] = {}
        for entry in entries:
            facts["api_calls"][entry.get("vendor", "?")] = facts["api_calls"].get(entry.get("vendor", "?"), 0) + 1
        facts["http_429"] = sum(1 for e in entries if e.get("status") == 429)
    except (requests.RequestException, ValueError) as exc:
        facts["error"] = str(exc)
    return facts


def print_summary(outcomes: list[tuple[str, str]], xcoms: dict[str, list[tuple[str, Any]]], facts: dict[str, Any]) -> None:
    print()
    print("=" * 78)
    print("Demo summary (sandbox: local Customer.io + Brevo emulator)")
    print("=" * 78)
    for dag_id, state in outcomes:
        print(f"  {state:<12} {dag_id}")
        for task_id, value in xcoms.get(dag_id, []):
            if isinstance(value, dict):
                shown = ", ".join(f"{k}={v}" for k, v in value.items() if not isinstance(v, (dict, list)))
            else:
                shown = json.dumps(value, default=str)[:200]
            print(f"      {task_id}: {shown[:300]}")
    print("-" * 78)
    cio = facts.get("customerio") or {}
    print(f"  Customer.io people in the sandbox: {cio.get('people')}  (events received: {cio.get('events')})")
    print(f"  Brevo contacts: {facts.get('brevo_contacts')}   Brevo events received: {facts.get('brevo_events')}")
    print(f"  API calls made, per API: {facts.get('api_calls')}   HTTP 429 answers: {facts.get('http_429')}")
    if facts.get("error"):
        print(f"  (could not read sandbox facts: {facts['error']})")
    print("=" * 78)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=300, help="people to seed in the sandbox (default 300)")
    parser.add_argument("--standalone", action="store_true", help="run `airflow standalone` against the sandbox")
    args = parser.parse_args()

    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    log(f"starting the sandbox with {args.people} people")
    sandbox, info = start_sandbox(args.people, DEMO_DIR / "sandbox.json")
    try:
        config_path = demo_config(info)
        env = airflow_env(info, config_path)
        log(f"setting up Airflow in {env['AIRFLOW_HOME']} (SQLite)")
        airflow(env, "db", "migrate")
        airflow(env, "pools", "import", str(DAGS_DIR / "pools.json"))
        import_connections(env, info)
        if args.standalone:
            log("starting `airflow standalone` (Ctrl-C to stop); the admin password is printed below")
            airflow(env, "standalone", check=False, capture=False)
            return 0
        outcomes = run_dags(env)
        print_summary(outcomes, xcom_summaries(env), sandbox_facts(info))
        return 0 if all(state in ("success", "not present") for _, state in outcomes) else 1
    finally:
        sandbox.send_signal(signal.SIGTERM)
        try:
            sandbox.wait(timeout=20)
        except subprocess.TimeoutExpired:
            sandbox.kill()
        log("sandbox stopped")


if __name__ == "__main__":
    sys.exit(main())
