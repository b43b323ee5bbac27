"""Print the webhook receiver's sustained throughput with durable storage, and the forwarding throughput.

Usage: ``python benchmarks/webhook_receiver.py [--events 6000] [--clients 8] [--forward 4000] [--store postgres]``

1. **Receiver.** The plugin's app runs under uvicorn in its own process on 127.0.0.1 (ephemeral port), storing into
   a SQLite file (WAL, ``synchronous=FULL``: every 200 follows a committed, fsynced transaction). Client threads in
   this process send pre-signed reporting-webhook events over keep-alive connections (``http.client``, so client
   overhead stays small; both processes share the machine's cores). Printed: events/s, latency percentiles,
   events per commit, and a check that every acknowledged event is in the store. Goal: >= 500 events/s.
2. **Forwarding.** ``--forward`` events are put in a store and forwarded to the sandbox's Brevo
   (``POST /events/batch``). The sandbox runs as its own process (``python -m airflow_provider_customerio.sandbox``);
   with ``--limits on`` (the default) its vendor rate limits are on and the hook paces at Brevo's 10 req/s, and the
   vendor lower bound (``vendor_bounds.py``) is printed; ``--limits off`` is the former unthrottled mode.
   Printed: Brevo calls, events per call, events/s, bound.

Nothing is asserted: the figures are for the report.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_io import read_json_line  # noqa: E402

KEY = "benchmark-signing-key"

SERVER = r"""
import json, os, sys, threading, time, uvicorn
from fastapi import FastAPI
from airflow_provider_customerio.webhooks.plugin import URL_PREFIX, WebhookConnectionSource, build_app
inner = build_app(WebhookConnectionSource())
root = FastAPI()
root.mount(URL_PREFIX, inner)
server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                       access_log=False))
def report():
    while not server.started:
        time.sleep(0.01)
    print(json.dumps({"port": server.servers[0].sockets[0].getsockname()[1]}), flush=True)
    sys.stdin.readline()  # the parent closes stdin when done
    print(json.dumps({"commits": inner.state.writer.commits, **inner.state.counters}), flush=True)
    server.should_exit = True
threading.Thread(target=report, daemon=True).start()
server.run()
inner.state.writer.close()
"""


def bench_receiver(n_events: int, clients: int, workdir: Path, store_url: str | None = None) -> None:
    from airflow_provider_customerio.sandbox.webhook_emitter import make_event
    from airflow_provider_customerio.store.inbox import EventStore
    from airflow_provider_customerio.webhooks.signature import compute_signature

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "bench_webhooks.db"
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = str(workdir)
    env["AIRFLOW_CONN_CUSTOMERIO_WEBHOOK_DEFAULT"] = json.dumps(
        {"conn_type": "customerio_webhook", "password": KEY, "extra": {"store_path": str(db)}}
    )
    if store_url:  # the shared sync store on PostgreSQL: the receiver writes there, not to the SQLite file
        env["AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE"] = store_url
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], env=env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = read_json_line(proc.stdout)["port"]
        now = int(time.time())
        bodies = [
            json.dumps(make_event(i, seed=42, timestamp=now), separators=(",", ":")).encode() for i in range(n_events)
        ]
        requests_ = [
            (
                b,
                {
                    "X-CIO-Timestamp": str(now),
                    "X-CIO-Signature": compute_signature(KEY, now, b),
                    "Content-Type": "application/json",
                },
            )
            for b in bodies
        ]
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # opens the store, starts the writer
        warm.request("GET", "/customerio/webhooks/health")
        warm.getresponse().read()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        next_index = [0]

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            local_lat: list[float] = []
            local_status: dict[int, int] = {}
            while True:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if i >= len(requests_):
                    break
                body, headers = requests_[i]
                t0 = time.perf_counter()
                conn.request("POST", "/customerio/webhooks", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                local_lat.append(time.perf_counter() - t0)
                local_status[resp.status] = local_status.get(resp.status, 0) + 1
            conn.close()
            with lock:
                latencies.extend(local_lat)
                for k, v in local_status.items():
                    statuses[k] = statuses.get(k, 0) + v

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        proc.stdin.close()
        server_stats = read_json_line(proc.stdout)
    finally:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never leave the server holding the caller's pipes
            proc.kill()
            proc.wait(timeout=30)
    if store_url:
        from airflow_provider_customerio.store.sync_store import SyncStore

        os.environ["AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE"] = store_url
        store = EventStore(SyncStore.open().engine)
    else:
        store = EventStore.sqlite(db)
    stored = store.counts()["pending"]
    store.dispose()
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
    backend = "PostgreSQL (sync store connection)" if store_url else "SQLite WAL synchronous=FULL"
    print(f"receiver: {n_events} signed events, {clients} keep-alive clients, {backend}")
    print(f"  sustained: {n_events / elapsed:,.0f} events/s over {elapsed:.2f} s (goal >= 500/s)")
    print(
        f"  latency ms: p50 {q(0.5):.1f}  p95 {q(0.95):.1f}  p99 {q(0.99):.1f}  max {latencies[-1] * 1000:.1f}"
        f"  (Customer.io times out at 4000)"
    )
    print(
        f"  statuses: {statuses}; commits: {server_stats['commits']} "
        f"({n_events / max(1, server_stats['commits']):.1f} events per transaction)"
    )
    print(
        f"  stored: {stored} of {statuses.get(200, 0)} acknowledged "
        f"({'OK' if stored == statuses.get(200, 0) == n_events else 'MISMATCH'})"
    )


def start_sandbox(workdir: Path, limits: bool) -> tuple[subprocess.Popen[bytes], dict]:
    info_file = workdir / "sandbox.json"
    argv = [sys.executable, "-m", "airflow_provider_customerio.sandbox", "--port", "0", "--info-file", str(info_file)]
    proc = subprocess.Popen(
        argv + ([] if limits else ["--no-rate-limits"]),
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "sandbox.log", "wb"),
        cwd=REPO,
    )
    deadline = time.monotonic() + 600
    while not info_file.exists() or not info_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start; see {workdir / 'sandbox.log'}")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def bench_forwarding(n_events: int, workdir: Path, limits: bool = True) -> None:
    import requests
    import vendor_bounds

    from airflow_provider_customerio.adapters.events import BrevoEventSink
    from airflow_provider_customerio.hooks.brevo import BrevoHook
    from airflow_provider_customerio.sandbox.webhook_emitter import make_event
    from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
    from airflow_provider_customerio.store.ledger import Ledger
    from airflow_provider_customerio.sync.events.forward import EventForwarder
    from airflow_provider_customerio.sync.events.mapping import EventMapper

    server, info = start_sandbox(workdir, limits)
    try:
        for k, v in info["airflow_conn_env"].items():
            os.environ[k] = v
        ctl = info["control_url"]
        lim = vendor_bounds.sandbox_limits(ctl)
        store = EventStore.sqlite(workdir / "bench_forward.db")
        rows = []
        for i in range(n_events):
            ev = make_event(i, seed=7)
            ev["object_type"], ev["metric"] = "email", "opened"
            rows.append(StoredEvent(ev["event_id"], "webhook", json.dumps(ev), ev["timestamp"], received_at=float(i)))
        store.add(rows)
        hook = BrevoHook(rate_limit=lim["brevo_events"] if limits else 0)
        vendor_bounds.reset_buckets(ctl, enabled=limits)
        requests.delete(f"{ctl}/requests", timeout=60)
        ledger = Ledger(workdir / "bench_ledger.db")
        fw = EventForwarder(store, BrevoEventSink(hook), ledger, EventMapper({"email_opened": "EMAIL_OPENED"}))
        t0 = time.perf_counter()
        stats = fw.forward()
        elapsed = time.perf_counter() - t0
        ledger.close()
        sizes = [len(json.dumps(json.loads(r.outbound or "{}"))) for r in store.fetch("sent", limit=200)]
        store.dispose()
        log = requests.get(f"{ctl}/requests", timeout=600).json()["requests"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    counts = vendor_bounds.count_calls(log)
    bound = vendor_bounds.lower_bound(counts, lim)
    print(
        f"forwarding: {stats.forwarded} events in {stats.batches} Brevo calls = {stats.events_per_call} events per "
        f"call (limit 200 / 512 KB); {stats.forwarded / elapsed:,.0f} events/s to the sandbox "
        f"(at Brevo's 10 req/s this is up to {10 * stats.events_per_call:,.0f} events/s); "
        f"mean event {statistics.mean(sizes):.0f} bytes"
    )
    print(
        f"forwarding wall {elapsed:.1f} s, rate limits {'on' if limits else 'OFF'}; "
        + vendor_bounds.describe(bound, counts, lim)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--forward", type=int, default=4000)
    parser.add_argument("--store", nargs="+", choices=("sqlite", "postgres"), default=["sqlite"])
    parser.add_argument("--limits", choices=("on", "off"), default="on", help="sandbox rate limits when forwarding")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cio-webhook-bench-") as tmp:
        os.environ["AIRFLOW_HOME"] = tmp
        for kind in args.store:
            if kind == "sqlite":
                bench_receiver(args.events, args.clients, Path(tmp) / "sqlite")
                continue
            from tests.postgres_server import temporary_postgres

            with temporary_postgres() as pg:
                pg.psql("CREATE DATABASE sync_store")
                bench_receiver(
                    args.events, args.clients, Path(tmp) / "pg", f"postgres://cio@127.0.0.1:{pg.port}/sync_store"
                )
        if args.forward:
            bench_forwarding(args.forward, Path(tmp), args.limits == "on")


if __name__ == "__main__":
    main()
