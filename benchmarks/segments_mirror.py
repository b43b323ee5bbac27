"""Benchmark: mirror a 200k-member segment into an empty Brevo list, then apply a 1 % membership change.

Prints the API calls (reads and writes, per vendor) of each run, measured from the sandbox's request log, the wall
time and the vendor lower bound (``vendor_bounds.py``). The sandbox runs as its own process (``python -m
airflow_provider_customerio.sandbox``, 127.0.0.1, ephemeral port) and is set up through its control plane and the
vendor APIs. ``--limits on`` (the default) keeps the vendor rate limits on during the measured runs (the hooks pace
themselves at the vendors' rates; the setup runs with limits off) and Brevo import processes run in the sandbox's
processing-rate mode (``--rate-per-s`` rows/s after ``--queue-s`` s); ``--limits off`` is the former fast mode.

Each run also prints the CPU seconds of this process during the run (the operator's own work: the sandbox is another
process) and its calls. ``BENCH_PROFILE=/path/prefix`` writes a cProfile of each measured run to
``/path/prefix.<n>`` (pstats format; 1 = first mirror, 2 = 1 % change, 3 = no change).

The sandbox processes an account's imports one at a time (its default, Brevo's "one import at a time"; the bound
then chains them: ``vendor_bounds.critical_import``), or side by side with ``--parallel-imports``.
``--notify on`` (the default, as in ``people_sync.py``) serves the provider's notice route (``people_sync``'s
notice server, on this run's store) and sets the Brevo connection extra ``notify_url``: Brevo calls it when an
import ends, so the run learns of the end at once instead of at its next poll; ``--notify off`` polls.

``--imports serial`` (the default) or ``side-by-side`` (= ``--parallel-imports``, and the Brevo connection extra
``max_imports_in_flight`` set to ``--max-imports-in-flight``: the provider may then keep that many in flight); the
bound follows the mode. Each run's bound line also counts the HTTP 429s the sandbox answered.

Run: python benchmarks/segments_mirror.py [--members 200000] [--change 0.01] [--limits on|off] [--runs first|all]
[--notify on|off] [--imports serial|side-by-side] [--max-imports-in-flight 64]
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
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import people_sync  # noqa: E402  (its notice server)
import vendor_bounds  # noqa: E402


def start_sandbox(workdir: str) -> tuple[subprocess.Popen[bytes], dict]:
    info_file = Path(workdir) / "sandbox.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_customerio.sandbox", "--port", "0", "--info-file", str(info_file)],
        stdout=subprocess.DEVNULL,
        stderr=open(Path(workdir) / "sandbox.log", "wb"),
        cwd=ROOT,
    )
    deadline = time.monotonic() + 600
    while not info_file.exists() or not info_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start; see {workdir}/sandbox.log")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=200_000)
    ap.add_argument("--change", type=float, default=0.01)
    ap.add_argument("--limits", choices=("on", "off"), default="on")
    ap.add_argument("--rate-per-s", type=float, default=1000.0, help="sandbox import processing rows/s (limits on)")
    ap.add_argument("--queue-s", type=float, default=5.0, help="sandbox import queue seconds (limits on)")
    ap.add_argument(
        "--parallel-imports", action="store_true", help="the sandbox processes imports side by side (default: serial)"
    )
    ap.add_argument("--notify", choices=("on", "off"), default="on", help="Brevo notices the end of each import")
    ap.add_argument("--runs", choices=("first", "all"), default="all", help="only the first mirror, or all three")
    ap.add_argument("--import-check-interval", type=float, default=5.0, help="operator's (limits on)")
    ap.add_argument("--imports", choices=("serial", "side-by-side"), default="serial", help="sandbox import order")
    ap.add_argument("--max-imports-in-flight", type=int, default=64, help="Brevo extra when side-by-side")
    args = ap.parse_args()
    args.parallel_imports = args.parallel_imports or args.imports == "side-by-side"
    tmp = tempfile.mkdtemp(prefix="segbench-")
    os.environ["AIRFLOW_HOME"] = tmp  # a fresh sync store per invocation: the first mirror starts from nothing
    server, info = start_sandbox(tmp)
    try:
        with people_sync._notify_server(args.notify == "on", Path(tmp), None) as notify_url:
            bench(args, tmp, info, notify_url)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def bench(args: argparse.Namespace, tmp: str, info: dict, notify_url: str | None) -> None:
    """Set the sandbox up, then measure the runs."""
    limits_on = args.limits == "on"
    serial = True
    ctl = info["control_url"]
    http = requests.Session()
    # enough seeded people that ~members are live and have an id (the seed deletes some)
    people = int(args.members * 1.35)
    t0 = time.monotonic()
    http.post(f"{ctl}/seed", json={"people": people, "segments": [10], "seed": 3}, timeout=600).raise_for_status()
    http.put(f"{ctl}/ratelimits", json={"enabled": False}, timeout=30)
    if limits_on:
        settings = http.post(
            f"{ctl}/brevo/processes/settings",
            json={"rate_per_s": args.rate_per_s, "queue_s": args.queue_s, "serial": not args.parallel_imports},
            timeout=30,
        )
        settings.raise_for_status()
        # the bound follows the sandbox: one import at a time per account (its default), or side by side
        serial = bool(settings.json().get("serial", True))
        print(
            f"sandbox processing: {'one at a time' if serial else 'side by side'} ({args.rate_per_s:g} rows/s, "
            f"{args.queue_s:g} s queued)",
            flush=True,
        )
    else:
        # the former fast mode: poll-driven (the sandbox's default runs imports on its clock, one at a time)
        http.post(f"{ctl}/brevo/processes/settings", json={"polls_to_complete": 1, "rate_per_s": None}, timeout=30)
    limits = vendor_bounds.sandbox_limits(ctl)
    for k, v in info["airflow_conn_env"].items():
        os.environ[k] = v
    in_flight = 1 if serial else args.max_imports_in_flight
    if not serial:  # the provider may keep this many imports in flight (README "One Brevo import at a time")
        conn = json.loads(os.environ["AIRFLOW_CONN_BREVO_DEFAULT"])
        conn["extra"] = {**(conn.get("extra") or {}), "max_imports_in_flight": in_flight}
        os.environ["AIRFLOW_CONN_BREVO_DEFAULT"] = json.dumps(conn)
    print(f"imports: {'serial' if serial else 'side-by-side'}, max_imports_in_flight {in_flight}", flush=True)
    if notify_url:  # the Brevo connection's extra notify_url: imports carry a notifyUrl under it
        conn = json.loads(os.environ["AIRFLOW_CONN_BREVO_DEFAULT"])
        conn["extra"] = {**(conn.get("extra") or {}), "notify_url": notify_url}
        os.environ["AIRFLOW_CONN_BREVO_DEFAULT"] = json.dumps(conn)
    print(f"notify: {'on' if notify_url else 'off, polling'}", flush=True)
    cfg = os.path.join(tmp, "customerio_config.yaml")
    with open(cfg, "w") as fh:
        json.dump({"connectors": {"customerio": {"segments": {"removal_brake": 0.2}}}}, fh)
    os.environ["CUSTOMERIO_PROVIDER_CONFIG"] = cfg
    # fill the manual segment (5) with `members` people that have an id, through the Track API
    app_h = {"Authorization": f"Bearer {info['app_api_key']}"}
    ids: list[str] = []
    start = None
    while len(ids) < args.members + 2 * int(args.members * args.change):
        body = http.post(
            f"{info['app_url']}/v1/customers",
            params={"limit": 1000, **({"start": start} if start else {})},
            json={"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}},
            headers=app_h,
            timeout=60,
        ).json()
        ids.extend(i["id"] for i in body["identifiers"] or [] if i.get("id") and i.get("email"))
        start = body.get("next")
        if not start:
            break
    segs = http.get(f"{info['app_url']}/v1/segments", headers=app_h, timeout=30).json()["segments"]
    manual_id = next(s["id"] for s in segs if s["type"] == "manual")
    seg_url = f"{info['track_url']}/api/v1/segments/{manual_id}"
    auth = (info["site_id"], info["track_api_key"])
    members = ids[: args.members]
    for i in range(0, len(members), 1000):
        http.post(
            f"{seg_url}/add_customers", json={"ids": members[i : i + 1000]}, auth=auth, timeout=60
        ).raise_for_status()
    print(f"setup: {len(members)} members in segment {manual_id} ({time.monotonic() - t0:.1f} s)")

    from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator

    rate = 10 if limits_on else 0  # the hooks pace at the vendors' 10/s when the sandbox enforces it

    known_pid = [0]
    runs_done = [0]

    def run(label: str) -> None:
        vendor_bounds.reset_buckets(ctl, enabled=limits_on)  # a fresh hourly window per measured run
        http.delete(f"{ctl}/requests", timeout=30)
        op = CustomerIOSegmentToBrevoListOperator(
            task_id="bench",
            segment_id=manual_id,
            list_id=13,
            import_check_interval=args.import_check_interval if limits_on else 0.01,
            state_path=str(Path(tmp) / "state.db"),  # the store the notice server reads
            customerio_app_hook_params={"rate_limit": rate},
            brevo_hook_params={"rate_limit": rate},
        )
        runs_done[0] += 1
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t = time.monotonic()
        if os.environ.get("BENCH_PROFILE"):  # a cProfile of the run to that file (pstats format)
            import cProfile

            with cProfile.Profile() as prof:
                summary = op.execute(context={})
            prof.dump_stats(f"{os.environ['BENCH_PROFILE']}.{runs_done[0]}")
        else:
            summary = op.execute(context={})
        wall = time.monotonic() - t
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        log = http.get(f"{ctl}/requests", timeout=60).json()["requests"]
        calls = Counter(
            (
                r["vendor"],
                "write"
                if r["method"] in ("POST", "PUT", "DELETE")
                and "attributes" not in r["path"]
                and r["path"] != "/app/v1/customers"
                else "read",
            )
            for r in log
        )
        print(
            f"{label}: added={summary['added']} removed={summary['removed']} unchanged={summary['unchanged']} "
            f"rejected={summary['rejected']} | operator api_calls={summary['api_calls']} "
            f"write_calls={summary['write_calls']} | sandbox log: "
            + ", ".join(f"{v} {k}={n}" for (v, k), n in sorted(calls.items()))
            + f" | {wall:.1f} s"
        )
        # on a line of its own: run_all.py parses the line above up to its end
        print(f"  operator CPU {cpu:.1f} s (this process during the run; the sandbox is another)", flush=True)
        counts = vendor_bounds.count_calls(log)
        rows, known_pid[0] = vendor_bounds.import_rows(ctl, known_pid[0], args.rate_per_s if limits_on else 0)
        crit = vendor_bounds.critical_import(
            log, rows, limits, queue_s=args.queue_s, rate_per_s=args.rate_per_s if limits_on else 0, serial=serial
        )
        answered = http.get(f"{ctl}/requests/counts", timeout=60)
        n429 = (answered.json().get("by_status") or {}).get("429", 0) if answered.status_code == 200 else "?"
        bound = vendor_bounds.lower_bound(counts, limits, processing=crit)
        print(
            f"  {'limits on' if limits_on else 'limits OFF'}: HTTP 429 {n429}; "
            f"GET /processes {counts.get('process_polls', 0)}; " + vendor_bounds.describe(bound, counts, limits),
            flush=True,
        )

    run("first mirror (empty list)")
    if args.runs == "first":
        return
    change = int(args.members * args.change) // 2
    leave, join = members[:change], ids[args.members : args.members + change]
    for i in range(0, change, 1000):
        http.post(f"{seg_url}/remove_customers", json={"ids": leave[i : i + 1000]}, auth=auth, timeout=60)
        http.post(f"{seg_url}/add_customers", json={"ids": join[i : i + 1000]}, auth=auth, timeout=60)
    run(f"1% change ({change} leave, {len(join)} join)")
    run("re-run, no change")


if __name__ == "__main__":
    sys.exit(main())
