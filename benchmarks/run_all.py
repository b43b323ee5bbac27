"""One command for every benchmark: runs each part's script and the official-SDK baselines, writes one report.

Usage::

    python benchmarks/run_all.py --quick    # every part at small scale (people 20 and 2,000)
    python benchmarks/run_all.py --results benchmarks/RESULTS.md     # full scale (hours), the committed report
    python benchmarks/run_all.py --only people --merge-into benchmarks/results/results.json \\
        --results benchmarks/RESULTS.md                              # one part, merged into the committed figures
    python benchmarks/run_all.py --render benchmarks/results/results.json --results benchmarks/RESULTS.md

Parts (``--only`` / ``--skip``): ``people`` (people sync at every scale, Brevo imports one at a time and side by
side, the unchanged re-run, the incremental run and its changed-only baseline), ``people_pg`` (the PostgreSQL store
at 100,000), ``reverse``, ``segments`` (one at a time and side by side), ``webhooks``, ``rps``, ``sdk`` (the
official-SDK baselines). Each part's figures, with when it ran, at which commit, by which command and under which
assumptions, go into ``results.json``; ``--merge-into PATH`` replaces only the parts run now in PATH, so a report can
be assembled from separate invocations. The report itself is rendered by ``bench_report.py`` from that file alone.
Every server binds to 127.0.0.1; nothing reaches the vendors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PY = sys.executable
sys.path.insert(0, str(BENCH))

import bench_parse  # noqa: E402
import bench_report  # noqa: E402
import sdk_baseline  # noqa: E402
import vendor_bounds  # noqa: E402

#: The assumptions every part runs under (stated in the report; never tuned to meet a target).
PROCESS_RATE_PER_S = 1000.0  # Brevo import rows/s
PROCESS_QUEUE_S = 5.0  # Brevo import queue, s
EXPORT_RATE_PER_S = 10_000.0  # Customer.io export people/s (the whole workspace)
EXPORT_QUEUE_S = 5.0  # Customer.io export queue, s
#: The Brevo connection extra max_imports_in_flight of the side-by-side runs (one at a time: the default, 1); above
#: the ~25 imports of 8 MB a 1,000,000-person sync sends, so the provider never waits for a slot.
SIDE_BY_SIDE_IN_FLIGHT = 64

SCALES: dict[str, dict[str, Any]] = {
    "quick": {
        # 1 % of 2,000 is 20, the smallest scale: its run doubles as the changed-only baseline (as 10,000 at full)
        "people": [20, 2000],
        "pg_people": [2000],
        "incremental": 0.01,
        "rerun": False,  # the unchanged re-run (0 Brevo writes) is checked at full scale only
        "contacts": [20, 2000],
        "members": 1000,
        "events": 1000,
        "forward": 1000,
        "rps_people": 20_000,
        "rps_seconds": 0.5,
        "baseline_people": [20, 2000],
        "sdk_max": 20,  # the per-record baselines; the import-call baseline is capped by the budget only
        "sdk_budget_s": 600.0,
        # a smoke test: shorter operator waits between export and import polls than the defaults (5 s)
        "poll_interval": 1.0,
    },
    "full": {
        "people": [10_000, 100_000, 1_000_000],
        "pg_people": [100_000],
        "incremental": 0.01,
        "rerun": True,
        "contacts": [10_000, 100_000, 1_000_000],
        "members": 200_000,
        "events": 100_000,
        "forward": 100_000,
        "rps_people": 1_000_000,
        "rps_seconds": 3.0,
        "baseline_people": [10_000, 100_000],
        "sdk_max": 100_000,
        # brevo-python per record at 100,000 people: its vendor bound alone is ~10,000 s (Brevo's 10/s), over it
        "sdk_budget_s": 3600.0,
        "poll_interval": 5.0,
    },
}

PARTS = ("people", "people_pg", "reverse", "segments", "webhooks", "rps", "sdk")
#: The keys of ``results`` each part fills (a merge replaces exactly these).
PART_KEYS = {"sdk": ("sdk_brevo", "sdk_brevo_import", "sdk_customerio")}


def assumptions(sc: dict[str, Any]) -> dict[str, Any]:
    """The rates a run depends on, as the report states them."""
    return {
        "import_rate_per_s": PROCESS_RATE_PER_S,
        "import_queue_s": PROCESS_QUEUE_S,
        "export_rate_per_s": EXPORT_RATE_PER_S,
        "export_queue_s": EXPORT_QUEUE_S,
        "max_imports_in_flight_side_by_side": SIDE_BY_SIDE_IN_FLIGHT,
        "poll_interval": sc["poll_interval"],
        "export_check_interval": sc["poll_interval"],
        "import_check_interval": sc["poll_interval"],
        "sdk_poll_s": sdk_baseline.POLL_S,
        "notify": "on (when the notice module exists)",
    }


# ------------------------------------------------------------------------------------------------ running scripts


def run_script(name: str, args: list[str], raw_dir: Path, timeout: float, tag: str = "") -> tuple[str, str | None]:
    """Run one benchmark script; return (stdout, error or None). Raw output is kept in ``raw_dir``."""
    print(f"[run_all] {name} {' '.join(args)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    raw = raw_dir / f"{Path(name).stem}{'_' + tag if tag else ''}.txt"
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
        raw.write_text(out)
        return out, f"timed out after {timeout:.0f} s"
    raw.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    took = time.monotonic() - started
    print(f"[run_all] {name} done in {took:.0f} s (exit {proc.returncode})", file=sys.stderr, flush=True)
    err = None if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
    return proc.stdout, err


def _processing_argv(sc: dict[str, Any]) -> list[str]:
    argv = ["--rate-per-s", str(PROCESS_RATE_PER_S), "--queue-s", str(PROCESS_QUEUE_S)]
    argv += ["--export-rate-per-s", str(EXPORT_RATE_PER_S), "--export-queue-s", str(EXPORT_QUEUE_S)]
    argv += ["--imports", "serial", "side-by-side", "--max-imports-in-flight", str(SIDE_BY_SIDE_IN_FLIGHT)]
    return argv + ["--poll-interval", str(sc["poll_interval"]), "--export-check-interval", str(sc["poll_interval"])]


def people_argv(sc: dict[str, Any], part: str) -> list[str]:
    """people_sync.py's command line for the ``people`` part (every scale) or ``people_pg`` (PostgreSQL)."""
    if part == "people_pg":
        return ["--people", *map(str, sc["pg_people"]), "--store", "postgres", "--no-rerun", *_processing_argv(sc)]
    argv = ["--people", *map(str, sc["people"]), "--incremental", str(sc["incremental"]), *_processing_argv(sc)]
    return argv + ([] if sc["rerun"] else ["--no-rerun"])


def segments_argv(sc: dict[str, Any], imports: str) -> list[str]:
    argv = ["--members", str(sc["members"]), "--rate-per-s", str(PROCESS_RATE_PER_S), "--queue-s"]
    argv += [str(PROCESS_QUEUE_S), "--import-check-interval", str(sc["poll_interval"]), "--imports", imports]
    return argv + ["--max-imports-in-flight", str(SIDE_BY_SIDE_IN_FLIGHT)]


Runner = Callable[[str, list[str], str], tuple[str, str | None]]


def run_part(part: str, sc: dict[str, Any], run: Runner) -> tuple[dict[str, Any], str | None]:
    """One part's figures (``{results key: figures}``) and its error. ``run(script, argv, tag)`` runs a script."""
    scripts: list[tuple[str, list[str], str]]
    if part in ("people", "people_pg"):
        scripts = [("people_sync.py", people_argv(sc, part), part)]
        parse: Callable[[str], Any] = bench_parse.parse_people
    elif part == "reverse":
        scripts, parse = [("reverse_sync.py", ["--contacts", *map(str, sc["contacts"])], "")], bench_parse.parse_reverse
    elif part == "segments":
        scripts = [("segments_mirror.py", segments_argv(sc, m), m) for m in ("serial", "side-by-side")]
        parse = bench_parse.parse_segments
    elif part == "webhooks":
        argv = ["--events", str(sc["events"]), "--forward", str(sc["forward"])]
        scripts, parse = [("webhook_receiver.py", argv, "")], bench_parse.parse_webhooks
    else:  # rps
        argv = ["--people", str(sc["rps_people"]), "--seconds", str(sc["rps_seconds"])]
        scripts, parse = [("sandbox_rps.py", argv, "")], bench_parse.parse_rps
    figures: Any = None
    errors = []
    for script, argv, tag in scripts:
        out, err = run(script, argv, tag)
        got = parse(out)
        figures = got if figures is None else figures + got
        if err:
            errors.append(f"{script} {tag}: {err}".replace("  ", " "))
        elif not got:
            errors.append(f"{script} {tag}: no figures found in its output (see the raw output)".replace("  ", " "))
    return {part: figures}, "; ".join(errors) or None


def run_sdk(
    sc: dict[str, Any], args: argparse.Namespace, have: dict[str, Any], out_dir: Path, raw_dir: Path
) -> tuple[dict[str, Any], str]:
    """The three SDK baselines at ``baseline_people``; capped ones get their vendor bound instead. ``have``: the
    figures so far (the provider's people read at each size, and the sandbox's limits)."""
    limits = dict(vendor_bounds.DEFAULT_LIMITS)
    for row in have.get("people") or []:
        limits = {k: float(v) for k, v in (row.get("limits") or limits).items()}
    processing = {"rate_per_s": PROCESS_RATE_PER_S, "queue_s": PROCESS_QUEUE_S}
    processing.update(export_rate_per_s=EXPORT_RATE_PER_S, export_queue_s=EXPORT_QUEUE_S)
    sdk_max = sc["sdk_max"] if args.sdk_max is None else args.sdk_max
    budget = sc["sdk_budget_s"] if args.sdk_budget_s is None else args.sdk_budget_s
    try:
        sdk_py, note = sdk_baseline.ensure_sdk_venv(out_dir)
    except Exception as exc:
        sdk_py, note = None, f"could not create the SDK venv: {exc}"
    res: dict[str, Any] = {}
    for mode in sdk_baseline.MODES:
        provider = list(have.get("reverse" if mode == "customerio" else "people") or [])
        res[f"sdk_{mode}"] = rows = []
        for n in sc["baseline_people"]:
            match = next((r for r in provider if r["records"] == n and not r.get("baseline")), None)
            records = match["read"] if match else n
            bound = sdk_baseline.bound(mode, records, limits, processing)
            why = f"> --sdk-max {sdk_max:,}" if n > sdk_max and mode != "brevo_import" else ""
            if not why and bound["bound_s"] > budget:
                why = f"its bound > --sdk-budget-s {budget:,.0f}"
            if why or sdk_py is None:
                rows.append({"skipped": bool(why), "size": n, "records": records, "why": why, "bound": bound})
                if sdk_py is None and not why:
                    rows[-1]["error"] = note
                continue
            print(f"[run_all] SDK baseline {mode} ({n} people)", file=sys.stderr, flush=True)
            try:
                got = sdk_baseline.run_baseline(sdk_py, mode, n, raw_dir, processing)
            except Exception as exc:
                got = {"error": f"{type(exc).__name__}: {exc}"}
            if got.get("records"):
                bound = sdk_baseline.bound(mode, got["records"], limits, processing)
            rows.append({**got, "size": n, "bound": bound})
    return res, note


# ------------------------------------------------------------------------------------------------ estimate

#: Provider CPU per person assumed by the estimate (µs): the figure before issue 26 (251 µs), so an upper estimate.
EST_CPU_US = 250.0
#: Other per-part figures the estimate takes from the full run of 2026-12-04 (benchmarks/RESULTS.md then), in s.
EST_FIXED_S = {"reverse": 760.0, "webhooks": 120.0, "rps": 60.0, "segments_setup": 90.0, "seed_per_million": 60.0}


def _people_estimate(n: int, sc: dict[str, Any], serial: bool) -> float:
    export = EXPORT_QUEUE_S + n / EXPORT_RATE_PER_S
    cpu = n * EST_CPU_US / 1e6
    imports = max(1, -(-n // 40_000))
    brevo = n / PROCESS_RATE_PER_S + imports * PROCESS_QUEUE_S if serial else 40_000 / PROCESS_RATE_PER_S
    return EST_FIXED_S["seed_per_million"] * n / 1e6 + export + max(cpu, brevo) + 2 * sc["poll_interval"]


def estimate_s(sc: dict[str, Any]) -> dict[str, float]:
    """A rough duration of each part at scale ``sc`` on the 2-core machine (stated assumptions, CPU at today's
    251 µs per person: an upper estimate for the people parts)."""
    people = sum(_people_estimate(n, sc, s) for n in sc["people"] for s in (True, False))
    big = max(sc["people"])
    if sc["rerun"]:
        people += sum(EXPORT_QUEUE_S + n / EXPORT_RATE_PER_S + n * EST_CPU_US / 1e6 for n in sc["people"])
    changed = round(big * sc["incremental"])
    people += changed / 100 / 10 + _people_estimate(changed, sc, True)  # the incremental run: hydration at 10/s
    pg = sum(_people_estimate(n, sc, s) * 1.2 for n in sc["pg_people"] for s in (True, False))
    members = sc["members"]
    seg = (
        2 * (20 + EST_FIXED_S["segments_setup"] * members / 200_000)
        + members / PROCESS_RATE_PER_S
        + 2 * members * EST_CPU_US / 1e6
        + 120
    )
    sdk = 0.0
    for n in sc["baseline_people"]:
        for mode in sdk_baseline.MODES:
            b = sdk_baseline.bound(
                mode, n, vendor_bounds.DEFAULT_LIMITS, {"rate_per_s": PROCESS_RATE_PER_S, "queue_s": PROCESS_QUEUE_S}
            )["bound_s"]
            if b <= sc["sdk_budget_s"] and (mode == "brevo_import" or n <= sc["sdk_max"]):
                sdk += 1.1 * b + 10
    scale = big / 1_000_000
    return {
        "people": people,
        "people_pg": pg,
        "reverse": EST_FIXED_S["reverse"] * scale,
        "segments": seg,
        "webhooks": EST_FIXED_S["webhooks"] * scale,
        "rps": EST_FIXED_S["rps"] * scale,
        "sdk": sdk,
    }


# ------------------------------------------------------------------------------------------------ provenance


def _git(*argv: str) -> str:
    try:
        return subprocess.run(["git", *argv], capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
    except Exception:
        return ""


def commit() -> str:
    """The checkout's commit, marked when tracked files differ from it."""
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return (_git("rev-parse", "HEAD") or "unknown") + (" (with uncommitted changes)" if dirty else "")


def machine_info() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and Airflow."""
    import importlib.metadata

    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
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
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": os_name,
        "python": platform.python_version(),
        "airflow": airflow,
    }


def now_utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


# ------------------------------------------------------------------------------------------------ merging


def merge(into: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new``'s parts replace the same parts of ``into`` (their result keys, error and provenance); the other
    parts of ``into`` stay. Refuses to mix scales."""
    if not into:
        return new
    if into.get("scale") != new.get("scale"):
        raise SystemExit(
            f"--merge-into: that file holds a {into.get('scale')} run and this is a {new.get('scale')} run; "
            "merge runs of one scale (or start a new file)"
        )
    out = json.loads(json.dumps(into))
    out["version"] = 2
    for part in new.get("parts", {}):
        for key in PART_KEYS.get(part, (part,)):
            out.setdefault("results", {}).pop(key, None)
            if key in new["results"]:
                out["results"][key] = new["results"][key]
        out.setdefault("errors", {}).pop(part, None)
        if part in new.get("errors", {}):
            out["errors"][part] = new["errors"][part]
        out.setdefault("parts", {})[part] = new["parts"][part]
    meta = {**out.get("meta", {}), **new.get("meta", {})}
    meta.pop("rendered", None)
    out["meta"] = meta
    return out


def render(path: Path, out_dir: Path, target: Path | None) -> int:
    """Rebuild the reports from a ``results.json`` (no benchmark runs; the figures stay the runs')."""
    saved = json.loads(path.read_text())
    saved.setdefault("meta", {})["rendered"] = now_utc()
    for path_written in bench_report.write_reports(saved, out_dir, target):
        print(f"[run_all] wrote {path_written}", file=sys.stderr)
    return 1 if saved.get("errors") else 0


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small scale (a few minutes)")
    ap.add_argument("--out", default=str(BENCH / "out"), help="output folder (default benchmarks/out)")
    ap.add_argument("--results", default=None, help="also write this report (e.g. benchmarks/RESULTS.md)")
    ap.add_argument("--only", nargs="+", choices=PARTS, default=None, help="run only these parts")
    ap.add_argument("--skip", nargs="+", choices=PARTS, default=[], help="leave these parts out")
    ap.add_argument(
        "--merge-into",
        metavar="RESULTS_JSON",
        help="merge the parts run now into this results.json (created if missing; other parts stay), and render "
        "the reports from the merged figures",
    )
    ap.add_argument("--sdk-max", type=int, default=None, help="largest per-record SDK baseline run (else its bound)")
    ap.add_argument(
        "--sdk-budget-s",
        type=float,
        default=None,
        help="run an SDK baseline only if its computed vendor bound is at most this (default 3600 at full scale)",
    )
    ap.add_argument("--render", metavar="RESULTS_JSON", help="rebuild the reports from a results.json, run nothing")
    ap.add_argument("--estimate", action="store_true", help="print each part's estimated duration and exit")
    return ap.parse_args(argv)


def run_parts(args: argparse.Namespace, sc: dict[str, Any], have: dict[str, Any]) -> dict[str, Any]:
    """Run the chosen parts; the saved layout of :mod:`bench_report` with this invocation's parts only."""
    out_dir = Path(args.out)
    raw_dir = out_dir / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    timeout = 3600 if args.quick else 24 * 3600
    command = "python " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0])), *sys.argv[1:]])
    saved: dict[str, Any] = {"version": 2, "scale": "quick" if args.quick else "full", "results": {}, "errors": {}}
    saved["parts"], saved["meta"] = {}, {"machine": machine_info(), "command": command, "scale_settings": sc}
    chosen = [p for p in (args.only or PARTS) if p not in args.skip]
    for part in chosen:
        started, t0 = now_utc(), time.monotonic()
        if part == "sdk":
            figures, note = run_sdk(sc, args, {**have, **saved["results"]}, out_dir, raw_dir)
            saved["meta"]["sdk_note"], err = note, None
        else:
            figures, err = run_part(part, sc, lambda s, a, t: run_script(s, a, raw_dir, timeout, t))
        saved["results"].update(figures)
        if err:
            saved["errors"][part] = err
        saved["parts"][part] = {
            "started": started,
            "duration_s": round(time.monotonic() - t0, 1),
            "commit": commit(),
            "command": command,
            "assumptions": assumptions(sc),
        }
    return saved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(Path(args.render), Path(args.out), Path(args.results) if args.results else None)
    sc = SCALES["quick" if args.quick else "full"]
    est = estimate_s(sc)
    chosen = [p for p in (args.only or PARTS) if p not in args.skip]
    print(
        "[run_all] estimated: "
        + ", ".join(f"{p} {est[p] / 60:.0f} min" for p in chosen)
        + f"; in all about {sum(est[p] for p in chosen) / 60:.0f} min",
        file=sys.stderr,
    )
    if args.estimate:
        return 0
    started = time.monotonic()
    target_json = Path(args.merge_into) if args.merge_into else None
    before = json.loads(target_json.read_text()) if target_json and target_json.exists() else None
    saved = run_parts(args, sc, (before or {}).get("results", {}))
    if "sdk_note" not in saved["meta"] and before:
        saved["meta"]["sdk_note"] = (before.get("meta") or {}).get("sdk_note", "not run")
    merged = merge(before, saved) if target_json else saved
    out_dir = Path(args.out)
    (out_dir / "results.json").write_text(json.dumps(merged, indent=1, default=str) + "\n")
    if target_json:
        target_json.parent.mkdir(parents=True, exist_ok=True)
        target_json.write_text(json.dumps(merged, indent=1, default=str) + "\n")
    for path in bench_report.write_reports(merged, out_dir, Path(args.results) if args.results else None):
        print(f"[run_all] wrote {path}", file=sys.stderr)
    print(f"[run_all] total {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 1 if saved["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
