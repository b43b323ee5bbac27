"""Benchmark: Brevo -> Customer.io contacts sync against the sandbox, with the vendors' rate limits on.

Prints, for each scale (default 10,000 and 100,000 changed Brevo contacts):

- API calls per 1,000 people, per API (goal: about 1 Brevo read and at most 2 Track batches);
- the Track batch sizes (must stay under 500 KB);
- wall time of the sync, the CPU seconds of the sync (its ``op.execute``) and of the sandbox during it, and the
  vendor lower bound of the run's calls at the sandbox's limits (``vendor_bounds.py``) with wall / bound;
- peak RSS of the syncing process (must stay flat between the scales: the sync streams page by page);
- a second run over the same window (idempotent re-run): its Track writes (must be 0).

Usage: ``python benchmarks/reverse_sync.py [--contacts 10000 100000]``. With ``BENCH_PROFILE=/tmp/rev`` the sync
runs under cProfile and writes ``/tmp/rev.bench_1`` (the first run) and ``/tmp/rev.bench_2`` (the re-run), pstats
format (``python -m pstats``).
Each scale starts its own sandbox process (127.0.0.1, ephemeral port) and stops it at the end. The sync runs in a
child process (the real operator, real hooks) so that its peak RSS is its own. Nothing reaches the real vendors.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import vendor_bounds  # noqa: E402

EXAMPLE_CONFIG = ROOT / "dags" / "customerio_config.yaml"
TRACK_RPS = 100.0
BREVO_RPS = 10.0
APP_RPS = 10.0


def _env() -> dict[str, str]:
    """The environment of the child processes: this checkout's package first on the path."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _child(args: argparse.Namespace) -> None:
    """Run one sync in this process and print a JSON line with its summary, wall time and peak RSS."""
    info = json.loads(Path(args.info).read_text())
    for key, value in info["airflow_conn_env"].items():
        os.environ[key] = value
    from airflow_provider_customerio.operators.reverse import BrevoToCustomerIOPeopleOperator

    op = BrevoToCustomerIOPeopleOperator(
        task_id="bench",
        config_path=args.config,
        since=args.since,
        brevo_hook_params={"rate_limit": BREVO_RPS},
        customerio_track_hook_params={"rate_limit": TRACK_RPS},
        customerio_app_hook_params={"rate_limit": APP_RPS},
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    if os.environ.get("BENCH_PROFILE"):  # a cProfile of the sync to that file (pstats format), per run id
        import cProfile

        with cProfile.Profile() as prof:
            summary = op.execute({"run_id": args.run_id})  # type: ignore[arg-type]
        prof.dump_stats(f"{os.environ['BENCH_PROFILE']}.{args.run_id}")
    else:
        summary = op.execute({"run_id": args.run_id})  # type: ignore[arg-type]
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {"summary": summary, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}
    # the sync's own CPU during op.execute (user + system; the process's start-up and imports left out)
    out["cpu_s"] = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    print("BENCH " + json.dumps(out), flush=True)


def _start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
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
            "--info-file",
            str(info_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "sandbox.log", "wb"),
        cwd=ROOT,
        env=_env(),
    )
    deadline = time.monotonic() + 600
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start; see {workdir / 'sandbox.log'}")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _run_child(info_file: Path, config: Path, since: str, run_id: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--info",
            str(info_file),
            "--config",
            str(config),
            "--since",
            since,
            "--run-id",
            run_id,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**_env(), "AIRFLOW_HOME": str(info_file.parent), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"the sync failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def _scale(n: int) -> None:
    import requests

    with tempfile.TemporaryDirectory(prefix="reverse-bench-") as tmp:
        workdir = Path(tmp)
        proc, info = _start_sandbox(workdir)
        try:
            control = info["control_url"]
            seeded = requests.post(f"{control}/brevo/seed", json={"seed": 1, "contacts": n}, timeout=3600)
            seeded.raise_for_status()
            config = workdir / "customerio_config.yaml"
            config.write_text(
                EXAMPLE_CONFIG.read_text()
                .replace("state_path: null", f"state_path: {workdir}/state.db")
                .replace("ledger_dir: null", f"ledger_dir: {workdir}/ledger")
            )
            # the sandbox seeds contacts one second apart, the newest a day ago (1,000,000 span 11.6 days): the
            # window starts before the oldest, so every seeded contact is a change to sync
            since = (datetime.now(timezone.utc) - timedelta(seconds=n, days=2)).date().isoformat()
            requests.delete(f"{control}/requests", timeout=60)
            limits = vendor_bounds.sandbox_limits(control)
            vendor_bounds.reset_buckets(control)
            sandbox_cpu = _cpu_s(proc.pid)
            first = _run_child(workdir / "sandbox.json", config, since, "bench_1")
            after = _cpu_s(proc.pid)
            sandbox_cpu = after - sandbox_cpu if after is not None and sandbox_cpu is not None else None
            log = requests.get(f"{control}/requests", timeout=120).json()["requests"]
            counts = vendor_bounds.count_calls(log)
            brevo_reads = [
                r for r in log if r["vendor"] == "brevo" and r["method"] == "GET" and r["path"].endswith("/contacts")
            ]
            brevo_other = [r for r in log if r["vendor"] == "brevo" and r not in brevo_reads]
            batches = [r for r in log if r["vendor"] == "track" and r["path"].endswith("/api/v2/batch")]
            app = [r for r in log if r["vendor"] == "app"]
            requests.delete(f"{control}/requests", timeout=60)
            vendor_bounds.reset_buckets(control)
            second = _run_child(workdir / "sandbox.json", config, since, "bench_2")
            log2 = requests.get(f"{control}/requests", timeout=120).json()["requests"]
            rewrites = [r for r in log2 if r["vendor"] == "track"]
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    s = first["summary"]
    if s["read"] != n:  # a window that misses seeded contacts would make every figure below meaningless
        raise SystemExit(f"the reverse sync read {s['read']:,} of the {n:,} seeded Brevo contacts")
    per_k = 1000.0 / max(1, s["read"])
    sizes = [r.get("body_size") or 0 for r in batches]
    print(f"\n== {n:,} changed Brevo contacts ==")
    print(
        f"read {s['read']:,}  written {s['updated']:,}  unchanged {s['unchanged']:,}  rejected {s['rejected']:,}"
        f"  ({s['rejects_by_reason']})"
    )
    print(
        f"calls per 1,000 people: Brevo reads {len(brevo_reads) * per_k:.2f} (+{len(brevo_other)} other Brevo "
        f"call(s) per run), Track batches {len(batches) * per_k:.2f}, App API {len(app) * per_k:.2f}"
    )
    print(
        f"Track batches: {len(batches)}, body size max {max(sizes, default=0) / 1024:.1f} KB, "
        f"mean {sum(sizes) / max(1, len(sizes)) / 1024:.1f} KB (limit 500 KB); statuses "
        f"{sorted({r['status'] for r in batches})}"
    )
    print(
        f"wall {first['wall_s']:.1f} s ({s['read'] / max(first['wall_s'], 1e-9):,.0f} contacts/s); "
        f"peak RSS {first['peak_rss_mb']:.0f} MB"
    )
    bound = vendor_bounds.lower_bound(counts, limits)
    cpu = first.get("cpu_s")
    print(
        f"cpu: sync {cpu:.1f} s ({cpu / max(1, s['read']) * 1e6:.0f} µs per contact), sandbox "
        + (f"{sandbox_cpu:.1f} s" if sandbox_cpu is not None else "?")
        + f"; {vendor_bounds.describe(bound, counts, limits)}; wall / bound "
        f"{first['wall_s'] / max(bound['bound_s'], 1e-9):.2f}"
    )
    print(
        f"re-run: read {second['summary']['read']:,}, unchanged {second['summary']['unchanged']:,}, Track calls "
        f"{len(rewrites)}, wall {second['wall_s']:.1f} s, peak RSS {second['peak_rss_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--since", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    for n in args.contacts:
        _scale(n)


if __name__ == "__main__":
    main()
