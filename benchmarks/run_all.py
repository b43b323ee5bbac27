"""One command for every benchmark: runs each capability's script, an official-SDK baseline, writes one report.

Usage::

    python benchmarks/run_all.py            # full scale (people 10,000 / 100,000 / 1,000,000; hours under the limits)
    python benchmarks/run_all.py --quick    # small scale (people 20 and 2,000; under 3 minutes)
    python benchmarks/run_all.py --results benchmarks/RESULTS.md   # also the committed report, charts as files

Writes ``benchmarks/out/report.md`` (markdown with inline SVG charts) and keeps every script's raw output in
``benchmarks/out/raw/``. With ``--results PATH`` it also writes PATH (markdown whose charts are separate SVG files in
``results/`` next to it, so GitHub renders them) with the machine, the command, the date and the git commit.
The capability scripts (people_sync.py, reverse_sync.py, segments_mirror.py, webhook_receiver.py,
sandbox_rps.py) run as subprocesses and their printed output is parsed; nothing is timed by a test. The baseline
installs the official SDKs (``customerio`` and ``brevo-python``, NOT project dependencies) into
``benchmarks/out/sdk-venv`` on demand and syncs the same seeded people one call per person against a sandbox with
the same rate limits, so the speed-up is a ratio measured side by side. If an SDK cannot be installed or pointed at
the sandbox, the report says so instead of giving a number; above ``--sdk-max`` people the baseline is not run and
its vendor lower bound stands in, marked as a bound. Every server binds to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PY = sys.executable
sys.path.insert(0, str(BENCH))

import vendor_bounds  # noqa: E402

#: Brevo import processing the sandbox models for every run (rows/s, queue s): an assumption, see ASSUMPTION.
PROCESS_RATE_PER_S = 1000.0
PROCESS_QUEUE_S = 5.0
ASSUMPTION = (
    f"Brevo import processes complete in the background at **{PROCESS_RATE_PER_S:,.0f} rows/s after "
    f"{PROCESS_QUEUE_S:g} s queued** (the sandbox's processing-rate mode, `POST /_sandbox/brevo/processes/settings`, "
    "the same value at every scale and in every run). Brevo documents imports as background processes (it returns "
    "a process id and calls the `notifyUrl` on completion) and a body limit (10 MB, 8 MB advised), but publishes no "
    "processing throughput. 1,000 rows/s is an order-of-magnitude assumption fixed before any measurement (an 8 MB "
    "import of ~40,000 contacts takes ~40 s; a million contacts ~17 min of processing in total), not fitted to any "
    "target. The sandbox processes an account's imports one after the other (Brevo: \"Wait for your current import "
    'to finish before starting a new one"), and the provider keeps one import in flight per account, so the '
    "processing of all the imports adds up: the bound is the end of the last import, each starting at the later of "
    "its submission + queue and the end of the one before; the bounds print that term, so a reader can rescale it."
)

SCALES = {
    "quick": {
        # 1 % of 2,000 is 20, the smallest scale: its run doubles as the changed-only baseline (as 10,000 at full)
        "people": [20, 2000],
        "incremental": 0.01,
        "rerun": False,  # the unchanged re-run (0 Brevo writes) is checked at full scale only
        "contacts": [20, 2000],
        "members": 1000,
        "events": 1000,
        "forward": 1000,
        "rps_people": 20_000,
        "rps_seconds": 0.5,
        "baseline_people": [20, 2000],
        "sdk_max": 20,
        # a smoke test: shorter operator waits between export and import polls than the defaults (5 s) so that
        # --quick stays under 3 minutes; the full scale keeps the operator defaults
        "poll_interval": 1.0,
    },
    "full": {
        "people": [10_000, 100_000, 1_000_000],
        "incremental": 0.01,
        "rerun": True,
        "contacts": [10_000, 100_000, 1_000_000],
        "members": 200_000,
        "events": 100_000,
        "forward": 100_000,
        "rps_people": 1_000_000,
        "rps_seconds": 3.0,
        # one call per person at Brevo's 10/s: 100,000 people take >= 10,000 s (2.8 h); --sdk-max caps it
        "baseline_people": [10_000, 100_000],
        "sdk_max": 100_000,
        "poll_interval": 5.0,
    },
}

#: The targets of the report (evaluated on the largest scale of the run).
TARGETS = {
    "calls_per_1000": 1.5,
    "wall_over_bound": 1.3,
    "rss_growth": 1.3,
    "rss_mb": 300.0,
    "incremental_over_changed_only": 1.1,
    "sdk_speedup": 50.0,
}


# ------------------------------------------------------------------------------------------------ running scripts


def run_script(name: str, args: list[str], raw_dir: Path, timeout: float) -> tuple[str, str | None]:
    """Run one benchmark script; return (stdout, error or None). Raw output is kept in ``raw_dir``."""
    print(f"[run_all] {name} {' '.join(args)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [PY, str(BENCH / name), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        (raw_dir / f"{name}.txt").write_text(out)
        return out, f"timed out after {timeout:.0f} s"
    (raw_dir / f"{name}.txt").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    print(
        f"[run_all] {name} done in {time.monotonic() - started:.0f} s (exit {proc.returncode})",
        file=sys.stderr,
        flush=True,
    )
    err = None if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
    return proc.stdout, err


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_people(out: str) -> list[dict[str, Any]]:
    """The ``RESULT {json}`` lines of people_sync.py, flattened to the first (full) run's figures."""
    rows = []
    for line in out.splitlines():
        if not line.startswith("RESULT "):
            continue
        r = json.loads(line[7:])
        f = r["first"]
        rows.append(
            {
                "records": r["people"],
                "read": f["read"],
                "calls": f["calls"],
                "calls_per_1000": f["calls_per_1000"],
                "calls_by_api": f["calls_by_api"],
                "process_polls": f["process_polls"],
                "imports": f["imports"],
                "wall_s": f["wall_s"],
                "bound_s": f["bound_s"],
                "bound_line": f["bound_line"],
                "rss_mb": f["rss_mb"],
                "cpu_s": f.get("cpu_s"),
                "sandbox_cpu_s": f.get("sandbox_cpu_s"),
                "rerun_writes": (r.get("second") or {}).get("brevo_writes", "-"),
                "http_429": f["http_429"],
                "notify": r.get("notify", False),
                "baseline": r.get("baseline", False),
                "incremental": r.get("incremental"),
                "limits": r.get("limits"),
            }
        )
    return rows


def parse_reverse(out: str) -> list[dict[str, Any]]:
    rows = []
    for block in re.split(r"\n== ", out)[1:]:
        n = re.match(r"([\d,]+) changed Brevo contacts", block)
        reads = re.search(r"Brevo reads ([\d.]+) \(\+(\d+) other", block)
        track = re.search(r"Track batches ([\d.]+), App API ([\d.]+)", block)
        wall = re.search(r"wall ([\d.]+) s .*peak RSS ([\d.]+) MB", block)
        read = re.search(r"read ([\d,]+)", block)
        if not (n and reads and track and wall and read):
            continue
        per_k = _num(reads.group(1)) + _num(track.group(1)) + _num(track.group(2))
        count = int(_num(read.group(1)))
        per_k += 1000.0 * int(reads.group(2)) / max(1, count)
        # vendor bound from the printed calls at the sandbox's limits (Brevo /contacts 10/s, App 10/s, Track
        # 1000/s; the one "other" Brevo call is far inside the 100/h budget)
        per_call = count / 1000.0
        bound = vendor_bounds.lower_bound(
            {
                "brevo_contacts": round(_num(reads.group(1)) * per_call),
                "app": round(_num(track.group(2)) * per_call),
                "track": round(_num(track.group(1)) * per_call),
            },
            vendor_bounds.DEFAULT_LIMITS,
        )["bound_s"]
        rows.append(
            {
                "records": int(_num(n.group(1))),
                "read": count,
                "calls_per_1000": per_k,
                "wall_s": _num(wall.group(1)),
                "rss_mb": _num(wall.group(2)),
                "bound_s": bound,
            }
        )
    return rows


def parse_segments(out: str) -> list[dict[str, Any]]:
    rows = []
    for line in out.splitlines():
        m = re.match(
            r"(.+?): added=(\d+) removed=(\d+) unchanged=(\d+) rejected=(\d+) \| operator api_calls=(\d+) "
            r"write_calls=(\d+) \| sandbox log: (.*) \| ([\d.]+) s$",
            line,
        )
        if m:
            rows.append(
                {
                    "label": m.group(1),
                    "added": int(m.group(2)),
                    "removed": int(m.group(3)),
                    "unchanged": int(m.group(4)),
                    "api_calls": int(m.group(6)),
                    "writes": int(m.group(7)),
                    "log": m.group(8),
                    "wall_s": float(m.group(9)),
                }
            )
        elif rows and (b := re.search(r"GET /processes (\d+); vendor lower bound ([\d.]+) s = (.*)$", line)):
            rows[-1].update(process_polls=int(b.group(1)), bound_s=float(b.group(2)), bound_line=b.group(3))
    return rows


def parse_webhooks(out: str) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if m := re.search(r"sustained: ([\d,.]+) events/s", out):
        res["events_per_s"] = _num(m.group(1))
    if m := re.search(r"p50 ([\d.]+)\s+p95 ([\d.]+)\s+p99 ([\d.]+)", out):
        res["p50"], res["p95"], res["p99"] = map(float, m.groups())
    if m := re.search(r"stored: (\d+) of (\d+) acknowledged \((\w+)\)", out):
        res["stored"], res["acked"], res["check"] = int(m.group(1)), int(m.group(2)), m.group(3)
    if m := re.search(r"forwarding: (\d+) events in (\d+) Brevo calls = ([\d.]+) events per call", out):
        res["forwarded"], res["forward_calls"] = int(m.group(1)), int(m.group(2))
        res["forward_calls_per_1000"] = 1000.0 * int(m.group(2)) / max(1, int(m.group(1)))
    if m := re.search(r"forwarding wall ([\d.]+) s, rate limits (\w+); vendor lower bound ([\d.]+) s", out):
        res["forward_wall_s"], res["forward_limits"], res["forward_bound_s"] = (
            float(m.group(1)),
            m.group(2),
            float(m.group(3)),
        )
    return res


def parse_rps(out: str) -> list[tuple[str, float]]:
    return [(m.group(1).strip(), _num(m.group(2))) for m in re.finditer(r"^(.{10,44}?)\s+([\d.]+) req/s", out, re.M)]


# ------------------------------------------------------------------------------------------------ SDK baseline

SDK_SCRIPT = r'''
"""Runs in the SDK venv: per-person sync with the official SDKs against the sandbox. Prints one JSON line."""
import json, sys, time
info = json.loads(open(sys.argv[1]).read())
mode, n = sys.argv[2], int(sys.argv[3])
import requests
out = {"mode": mode}
if mode == "brevo":
    from brevo import Brevo
    from brevo.core.api_error import ApiError
    out["sdk"] = "brevo-python " + __import__("importlib.metadata").metadata.version("brevo-python")
    client = Brevo(api_key=info["brevo_api_key"], base_url=info["brevo_url"], timeout=30)
    t0 = time.monotonic()
    # read the same people as the provider does (App API: search, then attributes per 100 ids; no official SDK)
    app, bearer = info["app_url"], {"Authorization": "Bearer " + info["app_api_key"]}
    http, ids, start, reads = requests.Session(), [], None, 0
    while True:
        params = {"limit": 1000, **({"start": start} if start else {})}
        while True:
            r = http.post(app + "/v1/customers", params=params, headers=bearer, timeout=60,
                          json={"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}})
            reads += 1
            if r.status_code != 429:
                break
            time.sleep(float(r.headers.get("Retry-After", "1")))
        body = r.json()
        ids += [i["cio_id"] for i in body.get("identifiers") or []]
        start = body.get("next")
        if not start:
            break
    people = []
    for i in range(0, len(ids), 100):
        while True:
            r = http.post(app + "/v1/customers/attributes", params={"id_type": "cio_id"}, headers=bearer,
                          json={"ids": ids[i:i + 100]}, timeout=60)
            reads += 1
            if r.status_code != 429:
                break
            time.sleep(float(r.headers.get("Retry-After", "1")))
        people += r.json().get("customers") or []
    ok = failed = calls = 0
    statuses = {}
    for p in people:
        attrs = p.get("attributes") or {}
        email, ext = attrs.get("email"), p.get("id") or attrs.get("id")
        fields = {"attributes": {"FIRSTNAME": attrs.get("first_name") or ""}, "list_ids": [12], "update_enabled": True}
        if email:
            fields["email"] = email
        if ext:
            fields["ext_id"] = ext
        calls += 1
        try:
            client.contacts.create_contact(**fields)
            ok += 1
        except ApiError as exc:
            failed += 1
            statuses[str(exc.status_code)] = statuses.get(str(exc.status_code), 0) + 1
        except Exception as exc:
            failed += 1
            statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
    out.update(records=len(people), ok=ok, failed=failed, failures=statuses, write_calls=calls, read_calls=reads,
               wall_s=time.monotonic() - t0)
elif mode == "customerio":
    from customerio import CustomerIO, CustomerIOException
    out["sdk"] = "customerio " + __import__("importlib.metadata").metadata.version("customerio")
    cio = CustomerIO(info["site_id"], info["track_api_key"], host="127.0.0.1", retries=3)
    assert cio.base_url.startswith("https://"), cio.base_url  # the client builds https URLs from host (ref 9.1)
    cio.base_url = info["track_url"] + "/api/v1"  # the documented way to point it at a plain-http emulator
    t0 = time.monotonic()
    brevo, key = info["brevo_url"], {"api-key": info["brevo_api_key"]}
    http, contacts, offset, reads = requests.Session(), [], 0, 0
    while len(contacts) < n:
        while True:
            r = http.get(brevo + "/contacts", params={"limit": 1000, "offset": offset}, headers=key, timeout=60)
            reads += 1
            if r.status_code != 429:
                break
            time.sleep(float(r.headers.get("x-sib-ratelimit-reset", "1")))
        page = r.json().get("contacts") or []
        contacts += page
        offset += len(page)
        if len(page) < 1000:
            break
    ok = failed = calls = 0
    statuses = {}
    for c in contacts:
        attrs = c.get("attributes") or {}
        ident = attrs.get("EXT_ID") or c.get("email")
        if not ident:
            continue
        calls += 1
        try:
            cio.identify(id=ident, email=c.get("email"), first_name=attrs.get("FIRSTNAME"))
            ok += 1
        except CustomerIOException as exc:
            failed += 1
            key = str(exc)[:3]
            statuses[key] = statuses.get(key, 0) + 1
    out.update(records=len(contacts), ok=ok, failed=failed, failures=statuses, write_calls=calls, read_calls=reads,
               wall_s=time.monotonic() - t0)
import resource
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("SDK " + json.dumps(out), flush=True)
'''


def ensure_sdk_venv(out_dir: Path) -> tuple[Path | None, str]:
    """Create ``out_dir/sdk-venv`` with the official SDKs; return (python, note)."""
    vdir = out_dir / "sdk-venv"
    py = vdir / "bin" / "python"
    if not py.exists():
        venv.create(vdir, with_pip=True)
    probe = subprocess.run([str(py), "-c", "import customerio, brevo"], capture_output=True, text=True)
    if probe.returncode != 0:
        inst = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "customerio", "brevo-python"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if inst.returncode != 0:
            return None, "pip install customerio brevo-python failed: " + inst.stderr.strip()[-400:]
    vers = subprocess.run([str(py), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    found = {p["name"].lower(): p["version"] for p in json.loads(vers.stdout or "[]")}
    return py, f"customerio {found.get('customerio', '?')}, brevo-python {found.get('brevo-python', '?')}"


def start_sandbox(workdir: Path, people: int = 0) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    info_file = workdir / "sandbox.json"
    proc = subprocess.Popen(
        [
            PY,
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
    while not info_file.exists() or not info_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start; see {workdir / 'sandbox.log'}")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


#: The sandbox's request log keeps this many entries (airflow_provider_customerio/sandbox/core.py).
REQUEST_LOG_MAX = 50_000


def _sdk_calls(out: dict[str, Any]) -> dict[str, Any]:
    """Calls per 1,000 of an SDK baseline. When the sandbox's request log was full (it keeps the last
    :data:`REQUEST_LOG_MAX`), the baseline's own count of its calls (reads + writes) is used instead."""
    own = int(out.get("write_calls") or 0) + int(out.get("read_calls") or 0)
    if out.get("calls", 0) >= REQUEST_LOG_MAX and own > out["calls"]:
        out["calls"] = own
        out["calls_note"] = (
            "counted by the baseline: the sandbox's request log keeps the last 50,000, so its 429 count is a floor"
        )
    out["calls_per_1000"] = 1000.0 * out.get("calls", 0) / max(1, out.get("records") or 0)
    return out


def run_baseline(sdk_py: Path, mode: str, n: int, raw_dir: Path) -> dict[str, Any]:
    """One SDK baseline in its own sandbox, seeded exactly like the provider's benchmark of the same size."""
    import requests

    workdir = Path(tempfile.mkdtemp(prefix=f"bench-sdk-{mode}-"))
    script = workdir / "sdk_baseline.py"
    script.write_text(SDK_SCRIPT)
    proc, info = start_sandbox(workdir, people=n if mode == "brevo" else 0)
    try:
        control = info["control_url"]
        if mode == "customerio":  # reverse_sync.py seeds Brevo with seed 1 and n contacts
            requests.post(f"{control}/brevo/seed", json={"seed": 1, "contacts": n}, timeout=3600).raise_for_status()
        requests.delete(f"{control}/requests", timeout=60)
        res = subprocess.run(
            [str(sdk_py), str(script), str(workdir / "sandbox.json"), mode, str(n)],
            capture_output=True,
            text=True,
            timeout=6 * 3600,
        )
        (raw_dir / f"sdk_{mode}_{n}.txt").write_text(res.stdout + "\n--- stderr ---\n" + res.stderr)
        line = next((x for x in res.stdout.splitlines() if x.startswith("SDK ")), None)
        if line is None:
            return {"error": (res.stderr.strip().splitlines() or ["no output"])[-1][:300]}
        out = json.loads(line[4:])
        log = requests.get(f"{control}/requests", timeout=120).json()["requests"]
        out["calls"] = len(log)
        out["http_429"] = sum(1 for r in log if r.get("status") == 429)
        return _sdk_calls(out)
    finally:
        stop(proc)


# ------------------------------------------------------------------------------------------------ report


def svg_bars(title: str, groups: list[tuple[str, list[tuple[str, float]]]], unit: str, log_scale: bool = False) -> str:
    """Horizontal grouped bar chart as inline SVG (no dependency). ``groups``: (label, [(series, value)])."""
    import math

    colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"]
    series = []
    for _, vals in groups:
        for name, _v in vals:
            if name not in series:
                series.append(name)
    values = [v for _, vals in groups for _, v in vals if v is not None]
    vmax = max(values or [1.0])

    def scale(v: float) -> float:
        if log_scale:
            return 0.0 if v <= 0 else math.log10(1 + v) / math.log10(1 + vmax)
        return v / vmax if vmax else 0.0

    bar_h, gap, left, width = 14, 10, 230, 420
    rows = sum(len(vals) for _, vals in groups)
    height = 40 + rows * bar_h + len(groups) * gap + 20 * len(series)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    y = 30
    for label, vals in groups:
        parts.append(f'<text x="4" y="{y + bar_h - 3}">{html.escape(label)}</text>')
        for name, v in vals:
            c = colors[series.index(name) % len(colors)]
            w = max(1.0, scale(v or 0) * width)
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{c}"/>')
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}">{v:,.2f} {html.escape(unit)}</text>')
            y += bar_h
        y += gap
    for i, name in enumerate(series):
        c = colors[i % len(colors)]
        parts.append(
            f'<rect x="4" y="{y + i * 18}" width="10" height="10" fill="{c}"/>'
            f'<text x="18" y="{y + i * 18 + 9}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


class Charts:
    """Charts inline (``report.md``) or as separate SVG files referenced by relative links (``RESULTS.md``)."""

    def __init__(self, folder: Path | None = None, rel: str = "") -> None:
        self.folder, self.rel = folder, rel

    def __call__(self, name: str, svg: str, alt: str) -> str:
        if self.folder is None:
            return svg
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.svg").write_text(svg + "\n")
        return f"![{alt}]({self.rel}/{name}.svg)"


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
    except Exception:
        return ""


def machine_info() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python, Airflow and the git commit of this checkout."""
    import importlib.metadata

    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") if Path("/proc/cpuinfo").exists() else open(os.devnull) as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    if Path("/proc/meminfo").exists():
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        ram = f"{int(m.group(1)) / 1024 / 1024:.1f} GiB" if m else "?"
    os_name = platform.platform()
    if Path("/etc/os-release").exists():
        m = re.search(r'PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text())
        os_name = f"{m.group(1)} ({platform.system()} {platform.release()})" if m else os_name
    try:
        airflow = importlib.metadata.version("apache-airflow")
    except importlib.metadata.PackageNotFoundError:
        airflow = "not installed"
    commit = _run(["git", "rev-parse", "HEAD"]) or "unknown"
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": os_name,
        "python": platform.python_version(),
        "airflow": airflow,
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def _people_split(people: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The scales (sorted) and the changed-only baseline row (a scale or the extra run)."""
    scales = sorted((r for r in people if not r.get("baseline")), key=lambda r: r["records"])
    largest = scales[-1] if scales else None
    inc = (largest or {}).get("incremental")
    base = None
    if inc:
        want = round(largest["records"] * inc["fraction"])  # type: ignore[index]
        base = next((r for r in people if r["records"] == want), None)
    return scales, base


def sdk_speedups(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per SDK baseline: measured, or skipped/capped with a speed-up computed against its vendor bound."""
    people, reverse = results.get("people", []), results.get("reverse", [])
    rows = []
    for key, label, provider in (
        ("sdk_brevo", "CIO→Brevo (brevo-python)", people),
        ("sdk_customerio", "Brevo→CIO (customerio)", reverse),
    ):
        for base in results.get(key, []):
            match = next((r for r in provider if r["records"] == base.get("size") and not r.get("baseline")), None)
            row: dict[str, Any] = {"label": label, "size": base.get("size"), "base": base, "provider": match}
            if match and base.get("skipped"):
                sdk_bound = base["bound"]["bound_s"]
                row["speedup"] = sdk_bound / match["wall_s"] if match["wall_s"] and sdk_bound >= 0.05 else None
                row["kind"] = "bound"
            elif match and base.get("wall_s"):
                row["speedup"] = base["wall_s"] / match["wall_s"] if match["wall_s"] else None
                row["kind"] = "measured"
            rows.append(row)
    return rows


def ratio_txt(wall: float, bound: float | None) -> str:
    """wall / bound, or a dash when the bound is about 0 (the calls fit in the vendors' burst)."""
    if bound is None or bound < 0.05:
        return "– (bound ≈ 0)"
    return f"{wall / bound:.2f}"


def calls_text(c: dict[str, Any]) -> str:
    """A run's calls by rate-limit family, in words."""
    return (
        f"App {c.get('app', 0)}, Brevo /contacts {c.get('brevo_contacts', 0)} ({c.get('imports', 0)} imports), "
        f"Brevo other {c.get('brevo_other', 0)} (GET /processes {c.get('process_polls', 0)}), Track "
        f"{c.get('track', 0)}, export files {c.get('files', 0)}"
    )


def evaluate_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, figure, verdict, measured reason) for the report; evaluated on the largest scale of the run."""
    T = TARGETS
    out: list[tuple[str, str, str, str]] = []
    scales, base = _people_split(results.get("people", []))
    if not scales:
        return [("all people targets", "no people figures", "not evaluated", "people_sync.py gave no figures")]
    big, small = scales[-1], scales[0]
    polls = big["process_polls"]
    calls = big["calls_by_api"]
    verdict = "met" if big["calls_per_1000"] <= T["calls_per_1000"] else "not met"
    out.append(
        (
            f"full sync ≤ {T['calls_per_1000']} API calls per 1,000 people",
            f"{big['calls_per_1000']:.2f} at {big['records']:,} ({big['calls']} calls)",
            verdict,
            "calls: " + calls_text(calls),
        )
    )
    ratio = big["wall_s"] / big["bound_s"] if big["bound_s"] else float("inf")
    verdict = "met" if ratio <= T["wall_over_bound"] else "not met"
    out.append(
        (
            f"wall ≤ {T['wall_over_bound']}× the vendor bound at {big['records']:,}",
            f"{ratio:.2f}× ({big['wall_s']:.1f} s / {big['bound_s']:.1f} s)",
            verdict,
            (
                f"{big['wall_s'] - big['bound_s']:.1f} s above the bound; in that run: {polls} GET /processes "
                f"(notify {'on' if big['notify'] else 'not in use: polling'}), the export polled by the operator (the "
                "sandbox's export has no modelled duration, so the bound has no term for it), and the provider's "
                "own reading, hashing and staging of every person"
                + (
                    f"; CPU used during the run: the sync process {big['cpu_s']:.0f} s, the sandbox emulating both "
                    f"vendors {big['sandbox_cpu_s']:.0f} s, sharing {os.cpu_count()} cores"
                    if big.get("cpu_s")
                    else ""
                )
            )
            if verdict == "not met"
            else f"{big['wall_s'] - big['bound_s']:.1f} s above the bound",
        )
    )
    growth = big["rss_mb"] / small["rss_mb"] if small["rss_mb"] else float("inf")
    verdict = "met" if growth <= T["rss_growth"] and big["rss_mb"] < T["rss_mb"] else "not met"
    out.append(
        (
            f"peak RSS at the largest scale ≤ {T['rss_growth']}× the smallest and < {T['rss_mb']:.0f} MB",
            f"{small['rss_mb']:.0f} MB at {small['records']:,} → {big['rss_mb']:.0f} MB at {big['records']:,} "
            f"({growth:.2f}×)",
            verdict,
            "peak RSS of the sync's own process (ru_maxrss), every scale in a fresh child",
        )
    )
    inc = big.get("incremental")
    if inc and base:
        for what, a, b in (("API calls", inc["calls"], base["calls"]), ("wall", inc["wall_s"], base["wall_s"])):
            r = a / b if b else float("inf")
            verdict = "met" if r <= T["incremental_over_changed_only"] else "not met"
            out.append(
                (
                    f"incremental ({inc['changed']:,} changed of {big['records']:,}) ≤ "
                    f"{T['incremental_over_changed_only']}× a full sync of {base['records']:,} people, by {what}",
                    f"{r:.2f}× ({a:,.1f} vs {b:,.1f})" if what == "wall" else f"{r:.2f}× ({a:,} vs {b:,} calls)",
                    verdict,
                    f"incremental: {calls_text(inc['calls_by_api'])}; changed-only full sync: "
                    f"{calls_text(base['calls_by_api'])}",
                )
            )
    else:
        out.append(("incremental ≤ 1.1× changed-only", "not run", "not evaluated", "no incremental figures"))
    speed = [r for r in sdk_speedups(results) if r["label"].startswith("CIO→Brevo") and r.get("speedup")]
    if speed:
        r = max(speed, key=lambda x: x["size"])
        kind = "≥ " if r["kind"] == "bound" else ""
        verdict = "met" if r["speedup"] >= T["sdk_speedup"] else "not met"
        if r["kind"] == "bound":
            verdict += " (against the SDK's computed bound, not a measurement)"
        out.append(
            (
                f"≥ {T['sdk_speedup']:.0f}× faster than the per-record SDK baseline at {r['size']:,}",
                f"{kind}{r['speedup']:.1f}×",
                verdict,
                f"SDK {'bound' if r['kind'] == 'bound' else 'wall'} "
                f"{(r['base']['bound']['bound_s'] if r['kind'] == 'bound' else r['base']['wall_s']):,.0f} s vs "
                f"provider wall {r['provider']['wall_s']:,.1f} s",
            )
        )
    else:
        out.append(("≥ 50× faster than the SDK", "not measured", "not evaluated", "no SDK baseline figures"))
    return out


def build_report(
    scale_name: str,
    sc: dict[str, Any],
    results: dict[str, Any],
    errors: dict[str, str],
    sdk_note: str,
    *,
    charts: Charts | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    charts = charts or Charts()
    meta = meta or {}
    people, reverse = results.get("people", []), results.get("reverse", [])
    seg, hooks, rps = results.get("segments", []), results.get("webhooks", {}), results.get("rps", [])
    scales, base = _people_split(people)
    L = [f"# Benchmark report ({scale_name} scale)", ""]
    if meta.get("machine"):
        m = meta["machine"]
        L += [
            f"- **Command**: `{meta['command']}` ({meta['duration']})",
            f"- **Date**: {meta['date']}",
            *(
                [f"- **Rendered again**: {meta['rendered']} from that run's `results.json` (`run_all.py --render`)"]
                if meta.get("rendered")
                else []
            ),
            f"- **Git commit**: `{m['commit']}`",
            f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; {m['os']}; Python {m['python']}; "
            f"Airflow {m['airflow']}",
            "",
        ]
    else:
        L += [
            f"Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} by `python benchmarks/run_all.py"
            f"{' --quick' if scale_name == 'quick' else ''}` on {os.cpu_count()} CPU(s).",
            "",
        ]
    L += [
        "Every figure below is parsed from a benchmark script's printed output (raw output in "
        "`benchmarks/out/raw/`) or measured by the SDK baseline, in one run on one machine; the sandbox (127.0.0.1) "
        "emulates both vendors with their rate limits on. Nothing here is asserted by a test.",
        "",
        "Scale: people sync "
        + ", ".join(f"{n:,}" for n in sc["people"])
        + f" seeded people (incremental: {sc['incremental']:.0%} of the largest changed); reverse sync "
        + ", ".join(f"{n:,}" for n in sc["contacts"])
        + f" Brevo contacts; segment {sc['members']:,} members; "
        f"webhooks {sc['events']:,} received / {sc['forward']:,} forwarded; SDK baseline "
        + ", ".join(f"{n:,}" for n in sc["baseline_people"])
        + f" people (measured up to --sdk-max {meta.get('sdk_max', sc['sdk_max']):,}). Operator poll_interval and "
        f"export_check_interval: {sc['poll_interval']:g} s.",
        "",
        "**Assumption.** " + ASSUMPTION,
        "",
    ]
    if scale_name == "quick":
        L += [
            "*Quick scale: a smoke test. The targets are stated for the full scale (1,000,000 people); at this "
            "scale fixed waits dominate and the verdicts are indicative only.*",
            "",
        ]
    if errors:
        L += ["## Failures", ""] + [f"- **{k}**: {v}" for k, v in errors.items()] + [""]

    L += ["## Targets", "", "| target | measured | verdict | measured reason |", "|---|---|---|---|"]
    L += [f"| {a} | {b} | **{c}** | {d} |" for a, b, c, d in evaluate_targets(results)] + [""]

    L += [
        "## Headline figures",
        "",
        "| capability | records | calls/1,000 | GET /processes | wall s | vendor bound s | wall / bound | "
        "peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in scales:
        L.append(
            f"| people CIO→Brevo, full | {r['records']:,} | {r['calls_per_1000']:.2f} | {r['process_polls']} | "
            f"{r['wall_s']:.1f} | {r['bound_s']:.1f} | {ratio_txt(r['wall_s'], r['bound_s'])} | "
            f"{r['rss_mb']:.0f} |"
        )
    if scales and scales[-1].get("incremental"):
        i = scales[-1]["incremental"]
        L.append(
            f"| people CIO→Brevo, incremental ({i['changed']:,} changed) | {i['read']:,} | "
            f"{1000.0 * i['calls'] / max(1, i['read']):.2f} | {i['process_polls']} | {i['wall_s']:.1f} | "
            f"{i['bound_s']:.1f} | {ratio_txt(i['wall_s'], i['bound_s'])} | {i['rss_mb']:.0f} |"
        )
    if base and base.get("baseline"):
        L.append(
            f"| people CIO→Brevo, full, changed-only baseline | {base['records']:,} | {base['calls_per_1000']:.2f} | "
            f"{base['process_polls']} | {base['wall_s']:.1f} | {base['bound_s']:.1f} | "
            f"{ratio_txt(base['wall_s'], base['bound_s'])} | {base['rss_mb']:.0f} |"
        )
    for r in reverse:
        L.append(
            f"| reverse Brevo→CIO | {r['records']:,} | {r['calls_per_1000']:.2f} | | {r['wall_s']:.1f} | "
            f"{r['bound_s']:.1f} | {ratio_txt(r['wall_s'], r['bound_s'])} | {r['rss_mb']:.0f} |"
        )
    for r in seg:
        if r.get("bound_s") is not None:
            L.append(
                f"| segment mirror: {r['label']} | {r['added'] + r['removed'] + r['unchanged']:,} | | "
                f"{r.get('process_polls', '')} | {r['wall_s']:.1f} | {r['bound_s']:.1f} | "
                f"{ratio_txt(r['wall_s'], r['bound_s'])} | |"
            )
    if hooks.get("forwarded"):
        fb = hooks.get("forward_bound_s")
        L.append(
            f"| events forwarding (limits {hooks.get('forward_limits', '?')}) | {hooks['forwarded']:,} | "
            f"{hooks['forward_calls_per_1000']:.2f} | | {hooks.get('forward_wall_s', float('nan')):.1f} | "
            f"{fb if fb is not None else float('nan'):.1f} | "
            f"{ratio_txt(hooks.get('forward_wall_s', 0), fb)} | |"
        )
    L.append("")
    cpu = [r for r in scales if r.get("cpu_s")]
    if cpu:
        L += [
            "Where the people sync's wall time goes (CPU seconds used during each full run; the sync process includes "
            "its start-up, the sandbox emulates both vendors on the same cores): "
            + "; ".join(
                f"{r['records']:,} people: wall {r['wall_s']:.0f} s, sync CPU {r['cpu_s']:.0f} s "
                f"({1e6 * r['cpu_s'] / max(1, r['read']):.0f} µs per person), sandbox CPU {r['sandbox_cpu_s']:.0f} s"
                for r in cpu
            )
            + ".",
            "",
        ]

    L += [
        "### How each bound was computed",
        "",
        "From the sandbox's rate limits (`GET /_sandbox/ratelimits`: App 10/s, Track 1000/s, Brevo /contacts 10/s "
        "and 36,000/h, /events 10/s, other endpoints 100/h), the calls of the run (the sandbox's request log) and "
        "the import processing above (`benchmarks/vendor_bounds.py`). Brevo's other-endpoints budget covers "
        "`GET /processes/{id}`; the bound counts the other calls the work needs (one completion read per import "
        "when polling, none when Brevo notifies), not the polls made. A per-second limit lets a full bucket (one "
        "second of calls) through at once, so N calls need (N - burst) / rate. Reverse sync: computed here from its "
        "printed calls (Brevo 10/s, App 10/s, Track 1000/s).",
        "",
    ]
    for r in people:
        tag = " (changed-only baseline)" if r.get("baseline") else ""
        L.append(f"- people {r['records']:,}{tag}: {r['bound_line']}")
        if r.get("incremental"):
            L.append(f"- people {r['records']:,}, incremental: {r['incremental']['bound_line']}")
    for r in seg:
        if r.get("bound_line"):
            L.append(f"- segment mirror, {r['label']}: vendor lower bound {r['bound_s']:.1f} s = {r['bound_line']}")
    L.append("")

    L += ["## Calls per 1,000 records", ""]
    groups = []
    for r in scales:
        groups.append((f"people CIO→Brevo {r['records']:,}", [("provider", r["calls_per_1000"])]))
    for r in reverse:
        groups.append((f"reverse Brevo→CIO {r['records']:,}", [("provider", r["calls_per_1000"])]))
    if hooks.get("forward_calls_per_1000") is not None:
        groups.append((f"events → Brevo {hooks['forwarded']:,}", [("provider", hooks["forward_calls_per_1000"])]))
    for key, label in (("sdk_brevo", "people, SDK per contact"), ("sdk_customerio", "reverse, SDK per person")):
        for b in results.get(key, []):
            if b.get("calls_per_1000"):
                groups.append((f"{label} {b['records']:,}", [("official SDK", b["calls_per_1000"])]))
    if groups:
        svg = svg_bars("API calls per 1,000 records (log scale)", groups, "calls", log_scale=True)
        L += [charts("calls_per_1000", svg, "API calls per 1,000 records"), ""]

    if scales or reverse:
        L += [
            "## Wall time against the vendor lower bound",
            "",
            "A ratio near 1 means the sync is limited by the vendors, not by the provider. The people sync also "
            "waits for the Customer.io export (polled every export_check_interval; the sandbox models no export "
            "duration, so no bound term) and reads completions of Brevo imports (polled with a growing interval "
            "from poll_interval, kept by the hook within Brevo's 100 per hour, each call as soon as that budget "
            "allows; with notifyUrl one read per import after its notice).",
            "",
        ]
        svg = svg_bars(
            "Wall time vs vendor lower bound (s)",
            [(f"people {r['records']:,}", [("wall", r["wall_s"]), ("bound", r["bound_s"])]) for r in scales]
            + [(f"reverse {r['records']:,}", [("wall", r["wall_s"]), ("bound", r["bound_s"])]) for r in reverse],
            "s",
        )
        L += [charts("wall_vs_bound", svg, "Wall time vs vendor lower bound"), ""]
        L += [
            "| people | wall s | bound s | wall / bound | GET /processes | notify | HTTP 429 seen | "
            "re-run Brevo writes |",
            "|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for r in scales:
            L.append(
                f"| {r['records']:,} | {r['wall_s']:.1f} | {r['bound_s']:.1f} | "
                f"{ratio_txt(r['wall_s'], r['bound_s'])} | {r['process_polls']} | "
                f"{'on' if r['notify'] else 'no (polling)'} | {r['http_429']} | {r['rerun_writes']} |"
            )
        L.append("")

    L += ["## Peak RSS", ""]
    rss_groups = [(f"people {r['records']:,}", [("peak RSS", r["rss_mb"])]) for r in scales]
    rss_groups += [(f"reverse {r['records']:,}", [("peak RSS", r["rss_mb"])]) for r in reverse]
    if rss_groups:
        svg = svg_bars("Peak RSS of the syncing process (MB)", rss_groups, "MB")
        L += [charts("peak_rss", svg, "Peak RSS of the syncing process"), ""]
    for label, rows in (("people", scales), ("reverse", reverse)):
        if len(rows) >= 2:
            a = rows[0]
            L.append(
                f"- {label}: "
                + ", ".join(f"{r['rss_mb']:.0f} MB at {r['records']:,}" for r in rows)
                + f" ({rows[-1]['rss_mb'] / max(a['rss_mb'], 1e-9):.2f}× from the smallest to the largest)"
            )
    L.append("")

    if scales and scales[-1].get("incremental"):
        i, big = scales[-1]["incremental"], scales[-1]
        L += [
            "## Incremental sync",
            "",
            f"After the full sync of {big['records']:,} people, {i['changed']:,} of them ({i['fraction']:.0%}) were "
            "changed through the Track API (a new first name, `POST /api/v2/batch` identify by cio_id), then the "
            'operator ran with `mode="incremental"` for a data interval covering the changes. Its cost is '
            "compared with a full sync of a sandbox seeded with only the changed count "
            f"({base['records']:,} people{', the smallest scale' if base and not base.get('baseline') else ''}).",
            "",
            "| run | people read | API calls | GET /processes | wall s | vendor bound s |",
            "|---|---:|---:|---:|---:|---:|",
            f"| incremental, {i['changed']:,} changed | {i['read']:,} | {i['calls']:,} | {i['process_polls']} | "
            f"{i['wall_s']:.1f} | {i['bound_s']:.1f} |",
        ]
        if base:
            L.append(
                f"| full sync of {base['records']:,} seeded people | {base['read']:,} | {base['calls']:,} | "
                f"{base['process_polls']} | {base['wall_s']:.1f} | {base['bound_s']:.1f} |"
            )
        L.append("")

    L += [
        "## Baseline: the official SDKs, one call per person",
        "",
        f"SDKs: {sdk_note}.",
        "",
        "Same sandbox, same seed and same rate limits as the provider's benchmark at the same size. The "
        "brevo-python baseline reads the people like the provider (App API search + attributes, plain HTTP: there "
        "is no official App API SDK) and then calls `contacts.create_contact(update_enabled=True)` per person; the "
        "customerio baseline reads Brevo contacts (plain HTTP) and calls `CustomerIO.identify` per person. "
        "customerio-python builds `https://` URLs from `host` (its track.py), so its `base_url` is patched to "
        "the sandbox's http Track URL. The baselines map only email, ext_id and first name (less work than the "
        "provider, so the ratio is conservative). Above `--sdk-max` (or when its bound exceeds `--sdk-budget-s`) "
        "the baseline is not run: its vendor lower "
        "bound is computed (reads + one write per person at the vendor's rate) and the speed-up is marked **≥**, "
        "a bound, not a measurement.",
        "",
        "| direction | people | provider calls/1,000 | SDK calls/1,000 | provider wall s | SDK wall s | "
        "SDK vendor bound s | speed-up (SDK / provider wall) | SDK failures | SDK 429s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    speed_groups = []
    for row in sdk_speedups(results):
        b, p = row["base"], row["provider"]
        bound = (b.get("bound") or {}).get("bound_s")
        bound_txt = f"{bound:,.0f}" if bound is not None else ""
        if b.get("error"):
            L.append(f"| {row['label']} | {row['size']:,} | | | | | {bound_txt} | not measured: {b['error']} | | |")
            continue
        pw = f"{p['wall_s']:.1f}" if p else "(no provider run at this size)"
        pc = f"{p['calls_per_1000']:.2f}" if p else ""
        if b.get("skipped"):
            sp = f"**≥ {row['speedup']:,.1f}×** (bound)" if row.get("speedup") else "n/a"
            L.append(
                f"| {row['label']} | {row['size']:,} | {pc} | (1,000+) | {pw} | not run "
                f"({b.get('why') or '> --sdk-max ' + format(b['sdk_max'], ',')}) | {bound_txt} | {sp} | | |"
            )
            if p and row.get("speedup"):
                speed_groups.append(
                    (f"{row['label']} {row['size']:,}", [("provider", p["wall_s"]), ("SDK bound", bound or 0)])
                )
            continue
        sp = f"**{row['speedup']:.1f}×**" if row.get("speedup") else "n/a"
        L.append(
            f"| {row['label']} | {b['records']:,} | {pc} | {b['calls_per_1000']:.1f}"
            f"{' (' + b['calls_note'] + ')' if b.get('calls_note') else ''} | {pw} | {b['wall_s']:.1f} | "
            f"{bound_txt} | {sp} | {b['failed']} {b.get('failures') or ''} | {b['http_429']} |"
        )
        if p and row.get("speedup"):
            speed_groups.append(
                (f"{row['label']} {row['size']:,}", [("provider", p["wall_s"]), ("official SDK", b["wall_s"])])
            )
    for key in ("sdk_brevo", "sdk_customerio"):
        for b in results.get(key, []):
            if (b.get("bound") or {}).get("line"):
                L.append(f"\n- SDK {key[4:]} {b['size']:,}: {b['bound']['line']}")
    if speed_groups:
        svg = svg_bars("Wall time, same people: provider vs official SDK (s, log scale)", speed_groups, "s", True)
        L += ["", charts("sdk_speedup", svg, "Wall time, provider vs official SDK")]
    L.append("")

    if seg:
        L += [
            "## Segment mirror",
            "",
            "| run | added | removed | unchanged | operator API calls | write calls | wall s | sandbox log |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        L += [
            f"| {r['label']} | {r['added']:,} | {r['removed']:,} | {r['unchanged']:,} | {r['api_calls']} | "
            f"{r['writes']} | {r['wall_s']:.1f} | {r['log']} |"
            for r in seg
        ] + [""]
    if hooks:
        L += ["## Webhook receiver and forwarding", ""]
        if "events_per_s" in hooks:
            L.append(
                f"- receiver: {sc['events']:,} events, sustained {hooks['events_per_s']:,.0f} events/s (goal ≥ "
                f"500/s); latency ms p50 {hooks.get('p50', 0):.1f}, p95 {hooks.get('p95', 0):.1f}, p99 "
                f"{hooks.get('p99', 0):.1f}; stored {hooks.get('stored')} of {hooks.get('acked')} acknowledged "
                f"({hooks.get('check')})"
            )
        if "forwarded" in hooks:
            L.append(
                f"- forwarding: {hooks['forwarded']:,} events in {hooks['forward_calls']} Brevo calls, wall "
                f"{hooks.get('forward_wall_s', float('nan')):.1f} s against a vendor bound of "
                f"{hooks.get('forward_bound_s', float('nan')):.1f} s (rate limits {hooks.get('forward_limits', '?')})"
            )
        L.append("")
    if rps:
        L += ["## Sandbox throughput (rate limits off)", "", "| call | req/s |", "|---|---:|"]
        L += [f"| {name} | {v:,.1f} |" for name, v in rps] + [""]
    return "\n".join(L) + "\n"


def main() -> int:
    started = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small scale (under 3 minutes)")
    ap.add_argument("--out", default=str(BENCH / "out"), help="output folder (default benchmarks/out)")
    ap.add_argument(
        "--results",
        default=None,
        help="also write this committed report (e.g. benchmarks/RESULTS.md), its charts as results/*.svg beside it",
    )
    ap.add_argument(
        "--sdk-max",
        type=int,
        default=None,
        help="largest SDK baseline actually run (default 100000 at full scale, 20 with --quick); above it the "
        "baseline's vendor lower bound is printed and the speed-up is a bound (≥)",
    )
    ap.add_argument(
        "--sdk-budget-s",
        type=float,
        default=None,
        help="run an SDK baseline only if its computed vendor lower bound is at most this many seconds (e.g. 3600: "
        "brevo-python at 100,000 people needs >= 10,000 s at Brevo's 10/s); above it, as over --sdk-max",
    )
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["people", "reverse", "segments", "webhooks", "rps", "sdk"]
    )
    ap.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="rebuild the reports from a run's results.json (benchmarks/out/results.json) without running anything",
    )
    args = ap.parse_args()
    if args.render:
        return render(Path(args.render), Path(args.out), Path(args.results) if args.results else None)
    scale_name = "quick" if args.quick else "full"
    sc = SCALES[scale_name]
    sdk_max = sc["sdk_max"] if args.sdk_max is None else args.sdk_max
    out_dir = Path(args.out)
    raw_dir = out_dir / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    timeout = 1800 if args.quick else 24 * 3600
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    processing = ["--rate-per-s", str(PROCESS_RATE_PER_S), "--queue-s", str(PROCESS_QUEUE_S)]

    def step(key: str, script: str, argv: list[str], parser: Any) -> None:
        if key in args.skip:
            return
        out, err = run_script(script, argv, raw_dir, timeout)
        parsed = parser(out)
        results[key] = parsed
        if err:
            errors[script] = err
        elif not parsed:
            errors[script] = "no figures found in its output (see benchmarks/out/raw/)"

    polls = ["--poll-interval", str(sc["poll_interval"]), "--export-check-interval", str(sc["poll_interval"])]
    step(
        "people",
        "people_sync.py",
        ["--people", *map(str, sc["people"]), "--incremental", str(sc["incremental"]), *processing, *polls]
        + ([] if sc["rerun"] else ["--no-rerun"]),
        parse_people,
    )
    step("reverse", "reverse_sync.py", ["--contacts", *map(str, sc["contacts"])], parse_reverse)
    seg_argv = ["--members", str(sc["members"]), *processing, "--import-check-interval", str(sc["poll_interval"])]
    step("segments", "segments_mirror.py", seg_argv, parse_segments)
    step(
        "webhooks",
        "webhook_receiver.py",
        ["--events", str(sc["events"]), "--forward", str(sc["forward"])],
        parse_webhooks,
    )
    step("rps", "sandbox_rps.py", ["--people", str(sc["rps_people"]), "--seconds", str(sc["rps_seconds"])], parse_rps)

    sdk_note = "not run"
    if "sdk" not in args.skip:
        limits = dict(vendor_bounds.DEFAULT_LIMITS)
        for row in results.get("people") or []:
            limits = {k: float(v) for k, v in (row.get("limits") or limits).items()}
        try:
            sdk_py, sdk_note = ensure_sdk_venv(out_dir)
        except Exception as exc:
            sdk_py, sdk_note = None, f"could not create the SDK venv: {exc}"
        for mode, provider in (("brevo", results.get("people") or []), ("customerio", results.get("reverse") or [])):
            results[f"sdk_{mode}"] = []
            for n in sc["baseline_people"]:
                match = next((r for r in provider if r["records"] == n and not r.get("baseline")), None)
                records = match["read"] if match else n
                bound = vendor_bounds.sdk_bound(mode, records, limits)
                why = f"> --sdk-max {sdk_max:,}" if n > sdk_max else ""
                if not why and args.sdk_budget_s is not None and bound["bound_s"] > args.sdk_budget_s:
                    why = f"its bound > --sdk-budget-s {args.sdk_budget_s:,.0f}"
                if why:
                    print(f"[run_all] SDK baseline {mode} ({n} people): {why}, bound only", file=sys.stderr)
                    results[f"sdk_{mode}"].append(
                        {"skipped": True, "size": n, "records": records, "sdk_max": sdk_max, "why": why, "bound": bound}
                    )
                    continue
                if sdk_py is None:
                    results[f"sdk_{mode}"].append({"error": sdk_note, "size": n, "bound": bound})
                    continue
                print(f"[run_all] SDK baseline {mode} ({n} people)", file=sys.stderr, flush=True)
                try:
                    res = run_baseline(sdk_py, mode, n, raw_dir)
                except Exception as exc:
                    res = {"error": f"{type(exc).__name__}: {exc}"}
                if res.get("records"):
                    bound = vendor_bounds.sdk_bound(mode, res["records"], limits)
                results[f"sdk_{mode}"].append({**res, "size": n, "bound": bound})

    elapsed = time.monotonic() - started
    command = "python " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0])), *sys.argv[1:]])
    meta = {
        "machine": machine_info(),
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "duration": f"took {elapsed / 60:.1f} min",
        "sdk_max": sdk_max,
        "sdk_note": sdk_note,
    }
    saved = {"scale": scale_name, "results": results, "errors": errors, "meta": meta}
    (out_dir / "results.json").write_text(json.dumps(saved, indent=2, default=str))
    write_reports(saved, out_dir, Path(args.results) if args.results else None)
    print(f"[run_all] total {elapsed:.0f} s", file=sys.stderr)
    return 1 if errors else 0


def write_reports(saved: dict[str, Any], out_dir: Path, target: Path | None) -> None:
    """``out_dir/report.md`` (inline charts) and, with ``target``, the committed report (charts beside it)."""
    scale_name, results, errors, meta = saved["scale"], saved["results"], saved["errors"], saved.get("meta") or {}
    sc, sdk_note = SCALES[scale_name], meta.get("sdk_note", "")
    for rows in (results.get("sdk_brevo") or [], results.get("sdk_customerio") or []):
        for row in rows:  # results saved before the request-log fix
            if row.get("records") and not row.get("skipped") and not row.get("error"):
                _sdk_calls(row)
    report = build_report(
        scale_name, sc, results, errors, sdk_note, meta={"sdk_max": meta.get("sdk_max") or sc["sdk_max"]}
    )
    (out_dir / "report.md").write_text(report)
    print(f"[run_all] wrote {out_dir / 'report.md'}", file=sys.stderr)
    if target is not None:
        rel = "results"
        text = build_report(
            scale_name, sc, results, errors, sdk_note, charts=Charts(target.parent / rel, rel), meta=meta
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"[run_all] wrote {target} and its charts in {target.parent / rel}/", file=sys.stderr)


def render(path: Path, out_dir: Path, target: Path | None) -> int:
    """Rebuild the reports from a run's ``results.json`` (no benchmark runs; the figures stay the run's)."""
    saved = json.loads(path.read_text())
    meta = saved.setdefault("meta", {})
    meta["rendered"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_reports(saved, out_dir, target)
    return 1 if saved.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
