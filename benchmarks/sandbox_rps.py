"""Print the sandbox's own throughput on bulk endpoints and its memory with N seeded people.

Usage: ``python benchmarks/sandbox_rps.py [--people 1000000] [--seconds 3] [--clients 2]``

The sandbox runs as its own process (the CLI, rate limits off); clients are threads in this process using
keep-alive sessions, so the figures are a lower bound (client overhead included). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import read_json_line

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    name: str, make_call: Callable[[requests.Session], int], seconds: float, clients: int, items_per_call: int = 1
) -> None:
    counts = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            status = make_call(session)
            if status >= 400:
                errors[n] += 1
            counts[n] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    total = sum(counts)
    print(
        f"{name:<44} {total / elapsed:9.1f} req/s  {total * items_per_call / elapsed:11.0f} items/s"
        f"  ({total} calls, {sum(errors)} errors)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()

    started = time.monotonic()
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
            str(args.people),
            "--no-rate-limits",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = read_json_line(proc.stdout)  # type: ignore[arg-type]
        print(
            f"sandbox ready with {args.people:,} seeded people in {time.monotonic() - started:.1f} s; "
            f"RSS {rss_mb(proc.pid):.0f} MB"
        )
        app, track, brevo = info["app_url"], info["track_url"], info["brevo_url"]
        bearer = {"Authorization": f"Bearer {info['app_api_key']}"}
        basic = (info["site_id"], info["track_api_key"])
        match_all = {"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}}
        ids = [f"a3{i:06x}" for i in range(1, 101)]
        ops = [
            {
                "type": "person",
                "identifiers": {"id": f"bench-{i}"},
                "action": "identify",
                "attributes": {"plan": "pro", "n": i},
            }
            for i in range(100)
        ]
        counter = iter(range(10**9))
        s, c = args.seconds, args.clients
        measure(
            "App POST /v1/customers (search, limit 1000)",
            lambda x: x.post(f"{app}/v1/customers?limit=1000", json=match_all, headers=bearer).status_code,
            s,
            c,
            1000,
        )
        measure(
            "App POST /v1/customers/attributes (100 ids)",
            lambda x: (
                x.post(f"{app}/v1/customers/attributes?id_type=cio_id", json={"ids": ids}, headers=bearer).status_code
            ),
            s,
            c,
            100,
        )
        measure(
            "App GET membership (limit 30000)",
            lambda x: x.get(f"{app}/v1/segments/1/membership?limit=30000", headers=bearer).status_code,
            s,
            c,
            30000,
        )
        measure(
            "App GET /v1/activities (limit 100)",
            lambda x: x.get(f"{app}/v1/activities?limit=100", headers=bearer).status_code,
            s,
            c,
            100,
        )
        measure(
            "Track POST /api/v2/batch (100 identify ops)",
            lambda x: x.post(f"{track}/api/v2/batch", json={"batch": ops}, auth=basic).status_code,
            s,
            c,
            100,
        )
        measure(
            "Track PUT /api/v1/customers/{id} (identify)",
            lambda x: (
                x.put(f"{track}/api/v1/customers/v1-{next(counter)}", json={"plan": "pro"}, auth=basic).status_code
            ),
            s,
            c,
        )
        measure(
            "Brevo GET /contacts (limit 1000)",
            lambda x: x.get(f"{brevo}/contacts?limit=1000", headers={"api-key": info["brevo_api_key"]}).status_code,
            s,
            c,
            1000,
        )
        print(f"RSS after the runs {rss_mb(proc.pid):.0f} MB")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
