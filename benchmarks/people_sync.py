"""Benchmark: full people sync Customer.io -> Brevo against the sandbox, with the vendors' rate limits on.

Prints, for each scale (default 10,000 and 100,000 seeded people):

- API calls per 1,000 people (goal <= 1.5), per API;
- wall time of the sync against the rate-limit bound (the least time the same calls need under the limits);
- peak RSS of the syncing process (must stay flat between the scales: the sync streams);
- a second full run over unchanged data, and its Brevo writes (must be 0).

Usage: ``python benchmarks/people_sync.py [--people 10000 100000] [--batch-bytes 8000000] [--store sqlite postgres]``.
``--store`` runs each scale once per sync-store backend: the embedded SQLite file, and a throw-away PostgreSQL
cluster on 127.0.0.1 reached through the connection ``customerio_sync_store`` (Debian's ``postgresql`` binaries).
Each scale starts its own sandbox process (127.0.0.1, ephemeral port) and stops it at the end. The sync runs in
a child process so that its peak RSS is its own. Nothing reaches the real vendors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "dags" / "customerio_config.yaml"
APP_RPS = 10.0
BREVO_CONTACTS_RPS = 10.0
BREVO_OTHER_PER_HOUR = 100.0
BREVO_OTHER_BURST = 10  # the hook's bucket for /processes lets 10 calls through before pacing at 100/h


def _child(args: argparse.Namespace) -> None:
    """Run one full sync in this process and print a JSON line with its summary, wall time and peak RSS."""
    info = json.loads(Path(args.info).read_text())
    for key, value in info["airflow_conn_env"].items():
        os.environ[key] = value
    os.environ["CUSTOMERIO_PROVIDER_CONFIG"] = args.config
    from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator

    rate = {"rate_limit": APP_RPS}
    op = CustomerIOToBrevoPeopleOperator(
        task_id="bench",
        mode="full",
        deferrable=False,
        customerio_app_hook_params=rate,
        brevo_hook_params={"rate_limit": BREVO_CONTACTS_RPS},
    )
    started = time.monotonic()
    summary = op.execute({"ti": SimpleNamespace(dag_id="bench"), "run_id": args.run_id})
    wall = time.monotonic() - started
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("BENCH " + json.dumps({"summary": summary, "wall_s": wall, "peak_rss_mb": rss_kb / 1024}), flush=True)


def _start_sandbox(people: int, workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    info_file = workdir / "sandbox.json"
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
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "sandbox.log", "wb"),
        cwd=ROOT,
    )
    deadline = time.monotonic() + 600
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start; see {workdir / 'sandbox.log'}")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def _requests(control_url: str) -> list[dict[str, Any]]:
    import requests

    return requests.get(f"{control_url}/requests", timeout=120).json()["requests"]


def _clear(control_url: str) -> None:
    import requests

    requests.delete(f"{control_url}/requests", timeout=60)


def _bound(log: list[dict[str, Any]]) -> tuple[float, dict[str, int]]:
    """Least seconds the logged calls need under the vendor limits (calls of one sync run one after another)."""
    counts = {"app": 0, "brevo_contacts": 0, "brevo_other": 0, "files": 0}
    for r in log:
        vendor, path = r.get("vendor", ""), r.get("path", "")
        if vendor == "app":
            counts["app"] += 1
        elif vendor == "brevo":
            counts["brevo_contacts" if "/contacts" in path else "brevo_other"] += 1
        elif "/files/" in path:
            counts["files"] += 1
    bound = (
        counts["app"] / APP_RPS
        + counts["brevo_contacts"] / BREVO_CONTACTS_RPS
        + max(0, counts["brevo_other"] - BREVO_OTHER_BURST) * 3600.0 / BREVO_OTHER_PER_HOUR
    )
    return bound, counts


def _run_child(
    workdir: Path, info: dict[str, Any], config: Path, run_id: str, store_url: str | None = None
) -> dict[str, Any]:
    info_path = workdir / "sandbox.json"
    env = {**os.environ, "AIRFLOW_HOME": str(workdir / "airflow")}
    if store_url:
        env["AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE"] = store_url
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--info", str(info_path), "--config", str(config), "--run-id", run_id],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=6 * 3600,
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"sync run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def bench(people: int, batch_bytes: int, store_url: str | None = None) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-people-{people}-"))
    (workdir / "airflow").mkdir()
    config = workdir / "customerio_config.yaml"
    config.write_text(
        EXAMPLE_CONFIG.read_text()
        .replace("state_path: null", f"state_path: {workdir}/state.db")
        .replace("import_batch_bytes: 4000000", f"import_batch_bytes: {batch_bytes}")
        .replace("reject_threshold: 0.05", "reject_threshold: 0.2")
    )
    t0 = time.monotonic()
    proc, info = _start_sandbox(people, workdir)
    seed_s = time.monotonic() - t0
    try:
        _clear(info["control_url"])
        first = _run_child(workdir, info, config, "run1", store_url)
        log1 = _requests(info["control_url"])
        bound1, counts1 = _bound(log1)
        _clear(info["control_url"])
        second = _run_child(workdir, info, config, "run2", store_url)
        log2 = _requests(info["control_url"])
        bound2, counts2 = _bound(log2)
        brevo_writes = sum(
            1 for r in log2 if r.get("vendor") == "brevo" and r.get("method") in ("POST", "PUT", "DELETE")
        )
        status_429 = sum(1 for r in log1 + log2 if r.get("status") == 429)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    s1, s2 = first["summary"], second["summary"]
    calls1 = len(log1)
    return {
        "people": people,
        "store": "postgres" if store_url else "sqlite",
        "seed_s": seed_s,
        "read": s1["read"],
        "created": s1["created"],
        "rejected": s1["rejected"],
        "imports": s1["imports"],
        "calls": calls1,
        "calls_by_api": counts1,
        "hook_calls": s1["api_calls"],
        "calls_per_1000": 1000.0 * calls1 / max(1, s1["read"]),
        "wall_s": first["wall_s"],
        "bound_s": bound1,
        "rss_mb": first["peak_rss_mb"],
        "second_wall_s": second["wall_s"],
        "second_bound_s": bound2,
        "second_calls": len(log2),
        "second_calls_by_api": counts2,
        "second_brevo_writes": brevo_writes,
        "second_unchanged": s2["unchanged"],
        "second_rss_mb": second["peak_rss_mb"],
        "http_429": status_429,
    }


@contextlib.contextmanager
def _store_url(kind: str) -> Iterator[str | None]:
    """``None`` for the embedded SQLite store; the URI of a fresh database on a throw-away PostgreSQL otherwise."""
    if kind == "sqlite":
        yield None
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import temporary_postgres

    with temporary_postgres() as pg:
        pg.psql("CREATE DATABASE sync_store")
        yield f"postgres://cio@127.0.0.1:{pg.port}/sync_store"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--batch-bytes",
        type=int,
        default=8_000_000,
        help="connectors.customerio.people.import_batch_bytes for the run (Brevo advises <= 8 MB)",
    )
    parser.add_argument("--store", nargs="+", choices=("sqlite", "postgres"), default=["sqlite"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    rows = []
    for store in args.store:
        for n in args.people:
            with _store_url(store) as url:  # a fresh store per scale, like the SQLite file of each workdir
                print(f"... {n} people, store {store}", file=sys.stderr, flush=True)
                rows.append(bench(n, args.batch_bytes, url))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        "\nPeople sync Customer.io -> Brevo, full mode, sandbox rate limits on "
        f"(import_batch_bytes={args.batch_bytes:,})\n"
    )
    print(
        "| store | people | read | created | rejected | imports | API calls | calls/1,000 | wall s | "
        "rate-limit bound s | peak RSS MB | 2nd run: calls | 2nd run: Brevo writes | 2nd run: unchanged | 429s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['store']} | {r['people']:,} | {r['read']:,} | {r['created']:,} | {r['rejected']:,} | "
            f"{r['imports']} | "
            f"{r['calls']} | {r['calls_per_1000']:.2f} | {r['wall_s']:.1f} | {r['bound_s']:.1f} | "
            f"{r['rss_mb']:.0f} | {r['second_calls']} | {r['second_brevo_writes']} | {r['second_unchanged']:,} | "
            f"{r['http_429']} |"
        )
    for r in rows:
        print(
            f"\n{r['people']:,} people: calls by API {r['calls_by_api']}; second run {r['second_calls_by_api']}, "
            f"wall {r['second_wall_s']:.1f} s; sandbox seeding took {r['seed_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
