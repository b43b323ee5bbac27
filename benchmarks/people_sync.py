"""Benchmark: people sync Customer.io -> Brevo against the sandbox, with the vendors' rate limits on.

Prints, for each scale (default 10,000, 100,000 and 1,000,000 seeded people):

- API calls per 1,000 people (goal <= 1.5), per API, and the ``GET /processes/{id}`` polls on their own;
- wall time of the full sync against the vendor lower bound (``vendor_bounds.py``: the rate limits, Brevo's
  100/h budget of "other endpoints" and the import processing time the sandbox models), the bound's terms printed;
- peak RSS of the syncing process (must stay flat between the scales: the sync streams);
- a second full run over unchanged data, and its Brevo writes (must be 0);
- with ``--incremental F`` (e.g. 0.01): at the largest scale, F of the seeded people are changed through the Track
  API, then the operator runs in ``mode="incremental"`` for a data interval covering the changes; its cost is
  compared with a full sync of a sandbox seeded with only the changed count (the baseline; reused when that count
  is one of the scales).

The sandbox runs Brevo import processes in its processing-rate mode (``--rate-per-s`` rows per second after
``--queue-s`` seconds queued; ``POST /_sandbox/brevo/processes/settings``). ``--notify on`` (the default) serves
``airflow_provider_customerio.webhooks.brevo_notify.create_notify_app`` under uvicorn on 127.0.0.1 (a child process
on the sync's store) and sets the Brevo connection extra ``notify_url``, when that module exists; otherwise it prints
``notify: unavailable, polling``.

Usage: ``python benchmarks/people_sync.py [--people 10000 100000 1000000] [--incremental 0.01] [--batch-bytes B]
[--store sqlite postgres] [--imports serial side-by-side] [--max-imports-in-flight 64] [--rate-per-s 1000]
[--queue-s 5] [--export-rate-per-s 10000] [--export-queue-s 5] [--notify on|off] [--no-rerun]``.
``--imports`` runs each scale once per way the sandbox processes Brevo imports: ``serial`` (its default, one at a
time; the provider keeps its default of one import in flight) and ``side-by-side`` (``serial: false``, and the Brevo
connection extra ``max_imports_in_flight`` set to ``--max-imports-in-flight``). Customer.io exports take
``--export-queue-s`` + workspace people / ``--export-rate-per-s`` in the sandbox (``PUT
/_sandbox/customerio/settings``), a term of the bound. The 429s are the sandbox's counts (``GET
/_sandbox/requests/counts``); the CPU per person is ``getrusage`` around the operator's ``execute()``.
``--store`` runs each scale once per sync-store backend: the embedded SQLite file, and a throw-away PostgreSQL
cluster on 127.0.0.1 reached through the connection ``customerio_sync_store`` (Debian's ``postgresql`` binaries).
Each scale starts its own sandbox process (127.0.0.1, ephemeral port) and stops it at the end. The sync runs in
a child process so that its peak RSS is its own. Besides the markdown table, one ``RESULT {json}`` line per scale
is printed for ``run_all.py``. Nothing reaches the real vendors.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import vendor_bounds  # noqa: E402
from bench_io import read_json_line  # noqa: E402

EXAMPLE_CONFIG = ROOT / "dags" / "customerio_config.yaml"
APP_RPS = 10.0
BREVO_CONTACTS_RPS = 10.0
#: (poll_interval, export_check_interval) of the operator in the child; main() sets them from the arguments
POLLS = [5.0, 5.0]
NOTIFY_MODULE = "airflow_provider_customerio.webhooks.brevo_notify"
#: how the sandbox processes an account's Brevo imports (``--imports``)
SERIAL, SIDE_BY_SIDE = "serial", "side-by-side"

NOTIFY_SERVER = r"""
import json, sys, threading, time, uvicorn
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.webhooks.brevo_notify import create_notify_app
sqlite_path = sys.argv[1]
app = create_notify_app(lambda: SyncStore.open(sqlite_path=sqlite_path))
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                       access_log=False))
def report():
    while not server.started:
        time.sleep(0.01)
    print(json.dumps({"port": server.servers[0].sockets[0].getsockname()[1]}), flush=True)
    sys.stdin.readline()  # the parent closes stdin when done
    server.should_exit = True
threading.Thread(target=report, daemon=True).start()
server.run()
"""


def _child(args: argparse.Namespace) -> None:
    """Run one sync in this process and print a JSON line with its summary, wall time and peak RSS."""
    info = json.loads(Path(args.info).read_text())
    for key, value in info["airflow_conn_env"].items():
        os.environ[key] = value
    extra: dict[str, Any] = {}
    if args.notify_url:  # the Brevo connection's extra notify_url: imports carry a notifyUrl under it
        extra["notify_url"] = args.notify_url
    if args.in_flight:  # side by side: the provider may keep this many imports in flight (README "One Brevo import")
        extra["max_imports_in_flight"] = args.in_flight
    if extra:
        conn = json.loads(os.environ["AIRFLOW_CONN_BREVO_DEFAULT"])
        conn["extra"] = {**(conn.get("extra") or {}), **extra}
        os.environ["AIRFLOW_CONN_BREVO_DEFAULT"] = json.dumps(conn)
    os.environ["CUSTOMERIO_PROVIDER_CONFIG"] = args.config
    from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator

    op = CustomerIOToBrevoPeopleOperator(
        task_id="bench",
        mode=args.mode,
        deferrable=False,
        customerio_app_hook_params={"rate_limit": APP_RPS},
        brevo_hook_params={"rate_limit": BREVO_CONTACTS_RPS},
        poll_interval=args.poll_interval,
        export_check_interval=args.export_check_interval,
    )
    context: dict[str, Any] = {"ti": SimpleNamespace(dag_id="bench"), "run_id": args.run_id}
    if args.start:
        context.update(
            data_interval_start=datetime.fromisoformat(args.start), data_interval_end=datetime.fromisoformat(args.end)
        )
    started = time.monotonic()
    before = _cpu_now()
    if os.environ.get("BENCH_PROFILE"):  # a cProfile of the sync to that file (pstats format)
        import cProfile

        with cProfile.Profile() as prof:
            summary = op.execute(context)
        prof.dump_stats(f"{os.environ['BENCH_PROFILE']}.{args.run_id}")
    else:
        summary = op.execute(context)
    wall = time.monotonic() - started
    sync_cpu = _cpu_now() - before
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_kb = max(usage.ru_maxrss, children.ru_maxrss)
    out = {"summary": summary, "wall_s": wall, "peak_rss_mb": rss_kb / 1024}
    # the sync's own CPU (user + system, the process's whole life: interpreter and imports included) and that of
    # the operator's execute() alone (getrusage before and after it): the figure per person is the latter
    out["cpu_s"] = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    out["sync_cpu_s"] = sync_cpu
    print("BENCH " + json.dumps(out), flush=True)


def _cpu_now() -> float:
    """CPU seconds (user + system) of this process and its reaped children so far (``getrusage``)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


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
    deadline = time.monotonic() + 3600
    while not info_file.exists() or not info_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start; see {workdir / 'sandbox.log'}")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from ``/proc`` (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _requests(control_url: str) -> list[dict[str, Any]]:
    import requests

    return requests.get(f"{control_url}/requests", timeout=600).json()["requests"]


def _clear(control_url: str) -> None:
    import requests

    requests.delete(f"{control_url}/requests", timeout=60)


def _request_counts(control_url: str) -> dict[str, Any]:
    """The sandbox's counts of every answer since the log was cleared (``GET /_sandbox/requests/counts``; not
    capped like the log); ``{}`` from a sandbox without them."""
    import requests

    r = requests.get(f"{control_url}/requests/counts", timeout=60)
    return r.json() if r.status_code == 200 else {}


def _workspace_people(control_url: str) -> int:
    """People in the sandbox's Customer.io workspace (``GET /_sandbox/state/customerio/summary``)."""
    import requests

    return int(requests.get(f"{control_url}/state/customerio/summary", timeout=600).json()["people"])


@contextlib.contextmanager
def _notify_server(enabled: bool, workdir: Path, store_url: str | None) -> Iterator[str | None]:
    """The notice route under uvicorn in a child process on the sync's store; yields its base URL (or None)."""
    if not enabled:
        print("notify: off, polling", file=sys.stderr, flush=True)
        yield None
        return
    if importlib.util.find_spec(NOTIFY_MODULE) is None:
        print("notify: unavailable, polling", flush=True)
        yield None
        return
    env = {**os.environ, "AIRFLOW_HOME": str(workdir / "airflow")}
    # the same package as the sync child (which runs this file: PYTHONPATH, then this checkout)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), str(ROOT)) if p)
    if store_url:
        env["AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE"] = store_url
    proc = subprocess.Popen(
        [sys.executable, "-c", NOTIFY_SERVER, str(workdir / "state.db")],
        cwd=workdir,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(workdir / "notify.log", "wb"),
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = read_json_line(proc.stdout)
        if "port" not in ready:
            print(f"notify: the notice app did not start (see {workdir / 'notify.log'}), polling", flush=True)
            yield None
            return
        url = f"http://127.0.0.1:{ready['port']}"
        print(f"notify: on, {url}", file=sys.stderr, flush=True)
        yield url
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _run_child(
    workdir: Path,
    config: Path,
    run_id: str,
    store_url: str | None,
    notify_url: str | None,
    mode: str = "full",
    window: tuple[datetime, datetime] | None = None,
    in_flight: int = 0,
) -> dict[str, Any]:
    info_path = workdir / "sandbox.json"
    env = {**os.environ, "AIRFLOW_HOME": str(workdir / "airflow")}
    if store_url:
        env["AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE"] = store_url
    argv = [sys.executable, __file__, "--child", "--info", str(info_path), "--config", str(config)]
    argv += ["--run-id", run_id, "--mode", mode, "--notify-url", notify_url or ""]
    argv += ["--poll-interval", str(POLLS[0]), "--export-check-interval", str(POLLS[1])]
    argv += ["--in-flight", str(in_flight)]
    if window:
        argv += ["--start", window[0].isoformat(), "--end", window[1].isoformat()]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=12 * 3600)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"sync run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


class Scale:
    """One seeded sandbox: its full runs, and optionally the incremental run. ``imports``: ``serial`` (the
    sandbox's default, Brevo's one import at a time; the provider keeps its default of one import in flight) or
    ``side-by-side`` (the sandbox processes imports in parallel, ``serial: false``, and the Brevo connection's extra
    ``max_imports_in_flight`` is ``--max-imports-in-flight``)."""

    def __init__(
        self,
        people: int,
        batch_bytes: int,
        store_url: str | None,
        args: argparse.Namespace,
        imports: str = SERIAL,
    ) -> None:
        self.people, self.store_url, self.args, self.imports = people, store_url, args, imports
        self.in_flight = args.max_imports_in_flight if imports == SIDE_BY_SIDE else 0
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-people-{people}-"))
        (self.workdir / "airflow").mkdir()
        self.config = self.workdir / "customerio_config.yaml"
        self.config.write_text(
            EXAMPLE_CONFIG.read_text()
            .replace("state_path: null", f"state_path: {self.workdir}/state.db")
            .replace("import_batch_bytes: 4000000", f"import_batch_bytes: {batch_bytes}")
            .replace("reject_threshold: 0.05", "reject_threshold: 0.2")
        )
        self.max_pid = 0

    def measured(self, label: str, notify_url: str | None, **kw: Any) -> dict[str, Any]:
        """One run with a fresh rate-limit window and an empty request log: its figures and bound."""
        ctl = self.info["control_url"]
        vendor_bounds.reset_buckets(ctl)
        _clear(ctl)
        workspace = _workspace_people(ctl)  # the sandbox sizes an export by every person of the workspace
        sandbox_cpu = _proc_cpu_s(self.sandbox_pid)
        res = _run_child(self.workdir, self.config, label, self.store_url, notify_url, in_flight=self.in_flight, **kw)
        sandbox_cpu = _proc_cpu_s(self.sandbox_pid) - sandbox_cpu
        log = _requests(ctl)
        answered = _request_counts(ctl)
        counts = vendor_bounds.count_calls(log)
        rows, self.max_pid = vendor_bounds.import_rows(ctl, self.max_pid, self.args.rate_per_s)
        a = self.args
        export = vendor_bounds.export_term(
            log, self.limits, people=workspace, rate_per_s=a.export_rate_per_s, queue_s=a.export_queue_s
        )
        processing = vendor_bounds.critical_import(
            log,
            rows,
            self.limits,
            queue_s=a.queue_s,
            rate_per_s=a.rate_per_s,
            serial=self.imports == SERIAL,
            export=export,
        )
        # the "other" calls the work needs: those that are not polls, plus one completion read per import when
        # polling (none with notify: the completion arrives as a notice)
        needed = counts.get("brevo_other", 0) - counts.get("process_polls", 0)
        needed += 0 if notify_url else counts.get("imports", 0)
        bound = vendor_bounds.lower_bound(
            counts, self.limits, other_needed=needed, processing=processing, export=export
        )
        s = res["summary"]
        return {
            "label": label,
            "read": s.get("read", 0),
            "created": s.get("created", 0),
            "updated": s.get("updated", 0),
            "rejected": s.get("rejected", 0),
            "unchanged": s.get("unchanged", 0),
            "imports": s.get("imports", 0),
            "calls": max(len(log), int(answered.get("total") or 0)),
            "calls_by_api": dict(counts),
            "process_polls": counts.get("process_polls", 0),
            "calls_per_1000": 1000.0 * len(log) / max(1, s.get("read", 0)),
            "brevo_writes": sum(
                1 for r in log if r.get("vendor") == "brevo" and r.get("method") in ("POST", "PUT", "DELETE")
            ),
            # from the sandbox's counts (every answer since the log was cleared; the log keeps the last 50,000)
            "http_429": int((answered.get("by_status") or {}).get("429", 0))
            if answered
            else sum(1 for r in log if r.get("status") == 429),
            "http_429_from": "counts" if answered else "log",
            "wall_s": res["wall_s"],
            "rss_mb": res["peak_rss_mb"],
            "cpu_s": res.get("cpu_s"),
            "sync_cpu_s": res.get("sync_cpu_s"),
            "sandbox_cpu_s": sandbox_cpu,
            "bound": bound,
            "bound_s": bound["bound_s"],
            "bound_line": vendor_bounds.describe(bound, counts, self.limits),
        }

    def change_people(self, count: int) -> tuple[datetime, datetime, int]:
        """Change ``count`` live people (first name) through the Track API v2 batch; limits off meanwhile."""
        import requests

        info, ctl = self.info, self.info["control_url"]
        http = requests.Session()
        vendor_bounds.reset_buckets(ctl, enabled=False)
        app_h = {"Authorization": f"Bearer {info['app_api_key']}"}
        ids: list[str] = []
        start = None
        while len(ids) < count:
            body = http.post(
                f"{info['app_url']}/v1/customers",
                params={"limit": 1000, **({"start": start} if start else {})},
                json={"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}},
                headers=app_h,
                timeout=120,
            ).json()
            ids += [
                i["cio_id"]
                for i in body.get("identifiers") or []
                if i.get("cio_id") and i.get("id") and "@" in (i.get("email") or "") and "@@" not in i["email"]
            ]
            start = body.get("next")
            if not start:
                break
        ids = ids[:count]
        window_start = datetime.now(timezone.utc) - timedelta(seconds=2)
        auth = (info["site_id"], info["track_api_key"])
        for i in range(0, len(ids), 200):
            ops = [
                {
                    "type": "person",
                    "action": "identify",
                    "identifiers": {"cio_id": cid},
                    "attributes": {"first_name": f"Changed {i + j}"},
                }
                for j, cid in enumerate(ids[i : i + 200])
            ]
            http.post(f"{info['track_url']}/api/v2/batch", json={"batch": ops}, auth=auth, timeout=120)
        window_end = datetime.now(timezone.utc) + timedelta(seconds=2)
        vendor_bounds.reset_buckets(ctl, enabled=True)
        return window_start, window_end, len(ids)

    def run(self, incremental: float) -> dict[str, Any]:
        import requests

        t0 = time.monotonic()
        proc, self.info = _start_sandbox(self.people, self.workdir)
        self.sandbox_pid = proc.pid
        seed_s = time.monotonic() - t0
        out: dict[str, Any] = {"people": self.people, "store": "postgres" if self.store_url else "sqlite"}
        out.update(imports=self.imports, max_imports_in_flight=self.in_flight or 1)
        a = self.args
        try:
            ctl = self.info["control_url"]
            requests.post(  # --rate-per-s 0: poll-driven (the sandbox's default runs imports on its clock)
                f"{ctl}/brevo/processes/settings",
                json={"rate_per_s": a.rate_per_s or None, "queue_s": a.queue_s, "serial": self.imports == SERIAL},
                timeout=30,
            ).raise_for_status()
            requests.put(  # --export-rate-per-s 0: poll-driven exports
                f"{ctl}/customerio/settings",
                json={"export_rate_per_s": a.export_rate_per_s or None, "export_queue_s": a.export_queue_s},
                timeout=30,
            ).raise_for_status()
            self.limits = vendor_bounds.sandbox_limits(ctl)
            with _notify_server(self.args.notify == "on", self.workdir, self.store_url) as notify_url:
                out["notify"] = bool(notify_url)
                out["first"] = self.measured("run1", notify_url)
                if self.args.rerun:
                    out["second"] = self.measured("run2", notify_url)
                if incremental:
                    changed = round(self.people * incremental)
                    start, end, done = self.change_people(changed)
                    inc = self.measured("incremental", notify_url, mode="incremental", window=(start, end))
                    out["incremental"] = {**inc, "changed": done, "fraction": incremental}
        finally:
            _stop(proc)
        out["seed_s"] = seed_s
        out["limits"] = self.limits
        out["processing"] = {"rate_per_s": a.rate_per_s, "queue_s": a.queue_s, "serial": self.imports == SERIAL}
        out["export"] = {"rate_per_s": a.export_rate_per_s, "queue_s": a.export_queue_s}
        out["polls"] = {"poll_interval": a.poll_interval, "export_check_interval": a.export_check_interval}
        return out


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``run_all.py`` drives every option the report states)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--batch-bytes",
        type=int,
        default=8_000_000,
        help="connectors.customerio.people.import_batch_bytes for the run (Brevo advises <= 8 MB)",
    )
    parser.add_argument("--store", nargs="+", choices=("sqlite", "postgres"), default=["sqlite"])
    parser.add_argument(
        "--incremental",
        type=float,
        default=0.0,
        help="at the largest scale, change this fraction of the seeded people and run an incremental sync",
    )
    parser.add_argument(
        "--imports",
        nargs="+",
        choices=(SERIAL, SIDE_BY_SIDE),
        default=[SERIAL],
        help="how the sandbox processes an account's Brevo imports, one run per value: serial (its default, one at a "
        "time) or side-by-side (serial: false, and the provider may keep --max-imports-in-flight in flight); the "
        "re-run, the incremental run and its baseline use the first value",
    )
    parser.add_argument(
        "--max-imports-in-flight",
        type=int,
        default=64,
        help="the Brevo connection extra max_imports_in_flight in the side-by-side runs (serial: the default, 1)",
    )
    parser.add_argument(
        "--rate-per-s", type=float, default=1000.0, help="sandbox Brevo import processing rate (rows/s); 0: polls"
    )
    parser.add_argument("--queue-s", type=float, default=5.0, help="sandbox Brevo import queue time (s)")
    parser.add_argument(
        "--export-rate-per-s",
        type=float,
        default=10_000.0,
        help="sandbox Customer.io export rate (people/s, sized by the whole workspace); 0: poll-driven",
    )
    parser.add_argument("--export-queue-s", type=float, default=5.0, help="sandbox Customer.io export queue (s)")
    parser.add_argument("--notify", choices=("on", "off"), default="on", help="Brevo notifyUrl when available")
    parser.add_argument(
        "--poll-interval", type=float, default=5.0, help="operator poll_interval (first wait between import polls)"
    )
    parser.add_argument(
        "--export-check-interval", type=float, default=5.0, help="operator export_check_interval (export polls)"
    )
    parser.add_argument("--no-rerun", dest="rerun", action="store_false", help="skip the unchanged re-run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    parser.add_argument("--notify-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--in-flight", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_imports_in_flight < 1:
        parser.error("--max-imports-in-flight: must be >= 1")
    for name in ("rate_per_s", "queue_s", "export_rate_per_s", "export_queue_s"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')}: must be >= 0")
    return args


def run_scales(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every store x scale x import mode; the re-run and the incremental run in the first mode only."""
    largest, primary = max(args.people), args.imports[0]
    rows = []
    for store in args.store:
        for n in sorted(args.people):
            for imports in args.imports:
                with _store_url(store) as url:  # a fresh store per run, like the SQLite file of each workdir
                    print(f"... {n} people, store {store}, imports {imports}", file=sys.stderr, flush=True)
                    run_args = args if imports == primary else argparse.Namespace(**{**vars(args), "rerun": False})
                    inc = args.incremental if n == largest and imports == primary else 0.0
                    rows.append(Scale(n, args.batch_bytes, url, run_args, imports).run(inc))
        if args.incremental:  # the changed-only baseline: a full sync of a sandbox seeded with the changed count
            base_n = round(largest * args.incremental)
            if base_n not in args.people:
                with _store_url(store) as url:
                    print(f"... {base_n} people (changed-only baseline), store {store}", file=sys.stderr, flush=True)
                    base_args = argparse.Namespace(**{**vars(args), "rerun": False})
                    rows.append({**Scale(base_n, args.batch_bytes, url, base_args, primary).run(0.0), "baseline": True})
    return rows


def print_rows(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """The markdown table, the bound's terms per run, then one ``RESULT {json}`` line per run."""
    print(
        "\nPeople sync Customer.io -> Brevo, sandbox rate limits on "
        f"(import_batch_bytes={args.batch_bytes:,}; Brevo imports processed at {args.rate_per_s:g} rows/s after "
        f"{args.queue_s:g} s queued, {' and '.join(args.imports)} (side by side: max_imports_in_flight "
        f"{args.max_imports_in_flight}); Customer.io exports at {args.export_rate_per_s:g} people/s after "
        f"{args.export_queue_s:g} s queued; notify {args.notify}; operator poll_interval {args.poll_interval:g} s, "
        f"export_check_interval {args.export_check_interval:g} s)\n"
    )
    print(
        "| store | imports | people | read | created | rejected | imports | API calls | calls/1,000 | GET /processes | "
        "wall s | vendor bound s | wall/bound | CPU µs/person | peak RSS MB | 2nd run: calls | 2nd run: Brevo writes | "
        "2nd run: unchanged | 429s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f, s = r["first"], r.get("second") or {}
        cpu = 1e6 * (f.get("sync_cpu_s") or 0) / max(1, f["read"])
        print(
            f"| {r['store']} | {r['imports']} | {r['people']:,} | {f['read']:,} | {f['created']:,} | "
            f"{f['rejected']:,} | {f['imports']} | {f['calls']} | {f['calls_per_1000']:.2f} | {f['process_polls']} | "
            f"{f['wall_s']:.1f} | {f['bound_s']:.1f} | {f['wall_s'] / max(f['bound_s'], 1e-9):.2f} | {cpu:.0f} | "
            f"{f['rss_mb']:.0f} | {s.get('calls', '-')} | {s.get('brevo_writes', '-')} | {s.get('unchanged', '-')} | "
            f"{f['http_429']} |"
        )
    for r in rows:
        f = r["first"]
        tag = " (changed-only baseline)" if r.get("baseline") else ""
        print(f"\n{r['people']:,} people, imports {r['imports']}{tag}: {f['bound_line']}")
        print(f"  calls by API {f['calls_by_api']}; sandbox seeding took {r['seed_s']:.1f} s; notify {r['notify']}")
        print(
            f"  CPU during the run: the sync process {f.get('cpu_s') or 0:.1f} s (its execute() "
            f"{f.get('sync_cpu_s') or 0:.1f} s), the sandbox (both vendors) {f.get('sandbox_cpu_s') or 0:.1f} s, on "
            f"{os.cpu_count()} cores; wall {f['wall_s']:.1f} s"
        )
        if r.get("second"):
            s = r["second"]
            print(f"  second run: calls by API {s['calls_by_api']}, wall {s['wall_s']:.1f} s")
        if r.get("incremental"):
            i = r["incremental"]
            print(
                f"  incremental, {i['changed']:,} people changed ({i['fraction']:.0%}): read {i['read']:,}, "
                f"{i['calls']} calls ({i['process_polls']} GET /processes), wall {i['wall_s']:.1f} s, "
                f"peak RSS {i['rss_mb']:.0f} MB; {i['bound_line']}"
            )
    for r in rows:
        print("RESULT " + json.dumps(r))


def main() -> None:
    args = parse_args()
    if args.child:
        _child(args)
        return
    POLLS[:] = [args.poll_interval, args.export_check_interval]
    print_rows(args, run_scales(args))


if __name__ == "__main__":
    main()
