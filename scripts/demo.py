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

WEBHOOK_SIGNING_KEY = "sandbox-webhook-signing-key"  # fake, like every sandbox credential

#: (dag id, run conf, logical date offset). Order matters: people first, so later DAGs find contacts.
DEMO_RUNS: list[tuple[str, dict[str, Any], timedelta]] = [
    ("customerio_connection_check", {}, timedelta(0)),
    ("customerio_people_to_brevo", {"mode": "full"}, timedelta(hours=1)),
    ("customerio_segments_to_brevo_lists", {}, timedelta(days=1)),
    ("customerio_events_to_brevo", {}, timedelta(minutes=5)),
    ("customerio_campaign_metrics", {}, timedelta(days=1)),
    ("customerio_workflow_state_to_brevo", {}, timedelta(days=1)),
    ("customerio_objects_to_brevo", {}, timedelta(days=1)),
    ("brevo_people_to_customerio", {"mode": "full"}, timedelta(hours=1)),
]


def edit_in_brevo(info: dict[str, Any], count: int = 5) -> list[str]:
    """Play a marketer editing a few contacts in Brevo, so the reverse sync has real changes to carry back (the
    rest of Brevo's contacts were written by the forward sync: echoes the reverse sync must skip)."""
    headers = {"api-key": info["brevo_api_key"]}
    contacts = (
        requests.get(
            f"{info['brevo_url']}/contacts", params={"limit": count, "sort": "asc"}, headers=headers, timeout=30
        )
        .json()
        .get("contacts")
        or []
    )
    edited = []
    for i, contact in enumerate(contacts):
        resp = requests.put(
            f"{info['brevo_url']}/contacts/{contact['id']}",
            params={"identifierType": "contact_id"},
            json={"attributes": {"JOB_TITLE": f"Edited in Brevo #{i + 1}"}},
            headers=headers,
            timeout=30,
        )
        if resp.status_code == 204:
            edited.append(str(contact.get("email") or contact["id"]))
    return edited


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
    env["AIRFLOW_CONN_CUSTOMERIO_WEBHOOK_DEFAULT"] = json.dumps(
        {"conn_type": "customerio_webhook", "password": WEBHOOK_SIGNING_KEY}
    )
    return env


def airflow(
    env: dict[str, str], *args: str, check: bool = True, capture: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).parent / "airflow"), *args]
    result = subprocess.run(cmd, env=env, text=True, capture_output=capture)
    if check and result.returncode != 0:
        sys.stderr.write((result.stdout or "")[-4000:] + (result.stderr or "")[-4000:])
        raise SystemExit(f"`airflow {' '.join(args)}` failed with exit code {result.returncode}")
    return result


def deliver_webhooks(env: dict[str, str], info: dict[str, Any]) -> dict[str, Any]:
    """Run the reporting-webhook receiver (the app the Airflow plugin mounts on the api-server) and have the
    sandbox send it signed Customer.io webhooks, some duplicated, replayed or badly signed. The events DAG then
    forwards what was stored."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "import sys, uvicorn\n"
        "from fastapi import FastAPI\n"
        "from airflow_provider_customerio.webhooks.plugin import URL_PREFIX, build_app\n"
        "root = FastAPI()\n"
        "root.mount(URL_PREFIX, build_app())\n"
        "uvicorn.run(root, host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')\n"
    )
    receiver = subprocess.Popen(
        [sys.executable, "-c", code, str(port)],
        env=env,
        stdout=open(DEMO_DIR / "receiver.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/customerio/webhooks"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.post(url, data=b"{}", timeout=2)  # any answer (401: unsigned) means it is up
                break
            except requests.ConnectionError:
                if receiver.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the webhook receiver did not start; see {DEMO_DIR / 'receiver.log'}") from None
                time.sleep(0.2)
        report = requests.post(
            f"{info['control_url']}/webhooks/emit",
            json={
                "url": url,
                "signing_key": WEBHOOK_SIGNING_KEY,
                "count": 40,
                "duplicates": 5,
                "replays": 2,
                "bad_signatures": 2,
                "seed": 7,
            },
            timeout=300,
        ).json()
    finally:
        receiver.terminate()
        receiver.wait(timeout=20)
    counts = report.get("counts") or {}
    accepted = sum(n for by_status in counts.values() for status, n in by_status.items() if status == "200")
    return {
        "sent": report.get("sent"),
        "accepted": accepted,
        "rejected": (report.get("sent") or 0) - accepted,
        "distinct": report.get("distinct_events"),
        "unexpected": len(report.get("unexpected") or []),
    }


def import_connections(env: dict[str, str], info: dict[str, Any]) -> None:
    """Store the sandbox connections in the metadata DB too, so they show in the UI."""
    conns = {}
    for var, value in (info.get("airflow_conn_env") or {}).items():
        conn_id = var.removeprefix("AIRFLOW_CONN_").lower()
        conns[conn_id] = json.loads(value)
    path = DEMO_DIR / "connections.json"
    path.write_text(json.dumps(conns, indent=2))
    airflow(env, "connections", "import", str(path), "--overwrite")


def run_dags(env: dict[str, str], info: dict[str, Any]) -> list[tuple[str, str]]:
    # every example DAG lives in dags/<dag_id>.py
    available = {p.stem for p in DAGS_DIR.glob("*.py")}
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    outcomes = []
    for dag_id, conf, offset in DEMO_RUNS:
        if dag_id not in available:
            outcomes.append((dag_id, "not present"))
            continue
        if dag_id == "brevo_people_to_customerio":
            edited = edit_in_brevo(info)
            log(f"edited {len(edited)} contacts in Brevo (JOB_TITLE), for the reverse sync to carry back")
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


def headline(xcoms: dict[str, list[tuple[str, Any]]]) -> list[str]:
    """One line per capability, from the tasks' XCom summaries."""

    def last(dag_id: str, task_id: str) -> dict[str, Any]:
        found = [v for t, v in xcoms.get(dag_id, []) if t == task_id and isinstance(v, dict)]
        return found[-1] if found else {}

    def n(d: dict[str, Any], *keys: str) -> int:
        return sum(int(d.get(k) or 0) for k in keys)

    lines = []
    load = last("customerio_people_to_brevo", "load_brevo_contacts")
    if load:
        lines.append(
            f"People Customer.io -> Brevo: {n(load, 'created')} created, {n(load, 'updated')} updated, "
            f"{n(load, 'unchanged')} unchanged, {n(load, 'deleted')} deleted, {n(load, 'rejected')} in the "
            "rejected-records ledger"
        )
    rev = last("brevo_people_to_customerio", "sync_brevo_contacts_to_customerio")
    if rev:
        lines.append(
            f"People Brevo -> Customer.io: {n(rev, 'read')} contacts read, {n(rev, 'created', 'updated')} "
            f"written to Customer.io, {n(rev, 'unchanged')} unchanged or echoes of our own writes skipped"
        )
    seg = last("customerio_segments_to_brevo_lists", "report")
    if seg:
        lines.append(
            f"Segments -> lists: {n(seg, 'mirrored')} of {n(seg, 'pairs')} pairs mirrored, "
            f"{n(seg, 'exported')} members added, {n(seg, 'removed')} removed, {n(seg, 'rejected')} rejected"
        )
    ev = last("customerio_events_to_brevo", "forward_events")
    if ev:
        not_sent = n(ev, "read") - n(ev, "created") - n(ev, "rejected")
        lines.append(
            f"Events -> Brevo: {n(ev, 'created')} forwarded of {n(ev, 'read')} read, {n(ev, 'rejected')} "
            f"rejected, {not_sent} not in event_mapping (each in the ledger)"
        )
    metrics = [
        v for t, v in xcoms.get("customerio_campaign_metrics", []) if t == "load_metrics" and isinstance(v, dict)
    ]
    if metrics:
        report = last("customerio_campaign_metrics", "render_report")
        lines.append(
            f"Campaign metrics: {sum(n(m, 'inserted', 'updated') for m in metrics)} rows upserted for "
            f"{len(metrics)} campaigns; report {report.get('report')} kept in the sync store"
        )
    wf = last("customerio_workflow_state_to_brevo", "write_to_brevo")
    if wf:
        lines.append(f"Workflow state -> Brevo attributes: {n(wf, 'written')} people written")
    obj = last("customerio_objects_to_brevo", "sync_objects_to_brevo")
    if obj:
        lines.append(
            f"Objects -> Brevo custom objects: {n(obj, 'created', 'updated')} upserted, {n(obj, 'rejected')} rejected"
        )
    return lines


def print_summary(
    outcomes: list[tuple[str, str]], xcoms: dict[str, list[tuple[str, Any]]], facts: dict[str, Any]
) -> None:
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
    for line in headline(xcoms):
        print(f"  {line}")
    print("-" * 78)
    cio = facts.get("customerio") or {}
    print(f"  Customer.io people in the sandbox: {cio.get('people')}  (events received: {cio.get('events')})")
    hooks = facts.get("webhooks") or {}
    print(
        f"  Reporting webhooks sent: {hooks.get('sent')} ({hooks.get('distinct')} distinct events, the rest "
        f"duplicates, replays, bad signatures); acknowledged after storage: {hooks.get('accepted')}; refused: "
        f"{hooks.get('rejected')}; answers other than a correct receiver's: {hooks.get('unexpected')}"
    )
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
        log("sending signed Customer.io reporting webhooks to the receiver")
        webhooks = deliver_webhooks(env, info)
        outcomes = run_dags(env, info)
        facts = sandbox_facts(info)
        facts["webhooks"] = webhooks
        print_summary(outcomes, xcom_summaries(env), facts)
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
