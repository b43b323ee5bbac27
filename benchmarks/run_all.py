"""One command for every benchmark: runs each capability's script, an official-SDK baseline, writes one report.

Usage::

    python benchmarks/run_all.py            # full scale (people 10,000 and 100,000; takes hours under the limits)
    python benchmarks/run_all.py --quick    # small scale (people 300 and 1,200; a few minutes)

Writes ``benchmarks/out/report.md`` (markdown with inline SVG charts) and keeps every script's raw output in
``benchmarks/out/raw/``. The capability scripts (people_sync.py, reverse_sync.py, segments_mirror.py,
webhook_receiver.py, sandbox_rps.py) run as subprocesses and their printed output is parsed; nothing is timed by a
test. The baseline installs the official SDKs (``customerio`` and ``brevo-python``, NOT project dependencies) into
``benchmarks/out/sdk-venv`` on demand and syncs the same seeded people one call per person against a sandbox with
the same rate limits, so the speed-up is a ratio measured side by side. If an SDK cannot be installed or pointed at
the sandbox, the report says so instead of giving a number. Every server binds to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
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

SCALES = {
    "quick": {
        "people": [300, 1200],
        "contacts": [300, 1200],
        "members": 2000,
        "events": 1500,
        "forward": 1000,
        "rps_people": 20_000,
        "rps_seconds": 1.0,
        "baseline_people": [300, 1200],
    },
    "full": {
        "people": [10_000, 100_000],
        "contacts": [10_000, 100_000],
        "members": 200_000,
        "events": 6000,
        "forward": 4000,
        "rps_people": 1_000_000,
        "rps_seconds": 3.0,
        # one call per person at Brevo's 10/s: 100,000 people would take ~3 h, so the baseline stops at 10,000
        "baseline_people": [10_000],
    },
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
    """Rows of people_sync.py's markdown table."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 14 and re.fullmatch(r"[\d,]+", cells[0]):
            rows.append(
                {
                    "records": int(_num(cells[0])),
                    "read": int(_num(cells[1])),
                    "calls": int(_num(cells[5])),
                    "calls_per_1000": _num(cells[6]),
                    "wall_s": _num(cells[7]),
                    "bound_s": _num(cells[8]),
                    "rss_mb": _num(cells[9]),
                    "rerun_writes": int(_num(cells[11])),
                    "http_429": int(_num(cells[13])),
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
        # rate-limit bound from the printed calls, at the sandbox's vendor limits (Brevo contacts 10/s, App 10/s,
        # Track 1000/s; the one "other" Brevo call fits the 10-call burst of the 100/h bucket)
        brevo_reads = _num(reads.group(1)) * count / 1000.0
        bound = (
            brevo_reads / 10.0
            + _num(track.group(2)) * count / 1000.0 / 10.0
            + _num(track.group(1)) * count / 1000.0 / 1000.0
        )
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
            requests.post(f"{control}/brevo/seed", json={"seed": 1, "contacts": n}, timeout=600).raise_for_status()
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
        out["calls_per_1000"] = 1000.0 * len(log) / max(1, out["records"])
        return out
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


def build_report(
    scale_name: str, sc: dict[str, Any], results: dict[str, Any], errors: dict[str, str], sdk_note: str
) -> str:
    people, reverse = results.get("people", []), results.get("reverse", [])
    seg, hooks, rps = results.get("segments", []), results.get("webhooks", {}), results.get("rps", [])
    bases_b, bases_c = results.get("sdk_brevo", []), results.get("sdk_customerio", [])
    L = [
        f"# Benchmark report ({scale_name} scale)",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} by `python benchmarks/run_all.py"
        f"{' --quick' if scale_name == 'quick' else ''}` on {os.cpu_count()} CPU(s). Every figure below is parsed "
        "from a benchmark script's printed output (raw output in `benchmarks/out/raw/`) or measured by the SDK "
        "baseline; the sandbox runs on the same machine with the vendors' rate limits on unless stated.",
        "",
        "Scale: people sync "
        + " and ".join(f"{n:,}" for n in sc["people"])
        + " seeded people; reverse sync "
        + " and ".join(f"{n:,}" for n in sc["contacts"])
        + f" Brevo contacts; segment {sc['members']:,} members; "
        f"webhooks {sc['events']:,} received / {sc['forward']:,} forwarded; SDK baseline "
        + " and ".join(f"{n:,}" for n in sc["baseline_people"])
        + " people.",
        "",
    ]
    if errors:
        L += ["## Failures", ""] + [f"- **{k}**: {v}" for k, v in errors.items()] + [""]

    L += ["## Calls per 1,000 records", ""]
    groups = []
    for r in people:
        groups.append((f"people CIO→Brevo {r['records']:,}", [("provider", r["calls_per_1000"])]))
    for r in reverse:
        groups.append((f"reverse Brevo→CIO {r['records']:,}", [("provider", r["calls_per_1000"])]))
    if hooks.get("forward_calls_per_1000") is not None:
        groups.append((f"events → Brevo {hooks['forwarded']:,}", [("provider", hooks["forward_calls_per_1000"])]))
    for base in bases_b:
        if base.get("calls_per_1000"):
            groups.append((f"people, SDK per contact {base['records']:,}", [("official SDK", base["calls_per_1000"])]))
    for base in bases_c:
        if base.get("calls_per_1000"):
            groups.append((f"reverse, SDK per person {base['records']:,}", [("official SDK", base["calls_per_1000"])]))
    if groups:
        L += [svg_bars("API calls per 1,000 records (log scale)", groups, "calls", log_scale=True), ""]
    L += [
        "| capability | records | calls/1,000 | wall s | rate-limit bound s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in people:
        L.append(
            f"| people CIO→Brevo | {r['records']:,} | {r['calls_per_1000']:.2f} | {r['wall_s']:.1f} | "
            f"{r['bound_s']:.1f} | {r['rss_mb']:.0f} |"
        )
    for r in reverse:
        L.append(
            f"| reverse Brevo→CIO | {r['records']:,} | {r['calls_per_1000']:.2f} | {r['wall_s']:.1f} | "
            f"{r['bound_s']:.2f} (computed from the printed calls) | {r['rss_mb']:.0f} |"
        )
    if hooks.get("forwarded"):
        L.append(f"| events forwarding | {hooks['forwarded']:,} | {hooks['forward_calls_per_1000']:.2f} | | | |")
    L.append("")

    if people or reverse:
        L += [
            "## Wall time against the rate-limit bound",
            "",
            "The bound is the least time the same calls need under the vendors' limits (people_sync.py's figure; "
            "for the reverse sync computed here from its printed calls). A ratio near 1 means the sync is limited "
            "by the vendors, not by the provider. The people sync waits for an asynchronous export and for Brevo "
            "import processes, polled every 5 s (the operator defaults, which people_sync.py keeps): at small "
            "scales those fixed waits dominate its wall time, and the ratio only becomes meaningful from about "
            "10,000 people.",
            "",
        ]
        L += [
            svg_bars(
                "Wall time vs rate-limit bound (s)",
                [(f"people {r['records']:,}", [("wall", r["wall_s"]), ("bound", r["bound_s"])]) for r in people]
                + [(f"reverse {r['records']:,}", [("wall", r["wall_s"]), ("bound", r["bound_s"])]) for r in reverse],
                "s",
            ),
            "",
        ]
        L += [
            "| people | wall s | bound s | wall / bound | HTTP 429 seen | re-run Brevo writes |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in people:
            ratio = r["wall_s"] / r["bound_s"] if r["bound_s"] else float("nan")
            L.append(
                f"| {r['records']:,} | {r['wall_s']:.1f} | {r['bound_s']:.1f} | {ratio:.2f} | {r['http_429']} | "
                f"{r['rerun_writes']} |"
            )
        L.append("")

    L += ["## Peak RSS at two scales", ""]
    rss_groups = [(f"people {r['records']:,}", [("peak RSS", r["rss_mb"])]) for r in people]
    rss_groups += [(f"reverse {r['records']:,}", [("peak RSS", r["rss_mb"])]) for r in reverse]
    if rss_groups:
        L += [svg_bars("Peak RSS of the syncing process (MB)", rss_groups, "MB"), ""]
    for label, rows in (("people", people), ("reverse", reverse)):
        if len(rows) >= 2:
            a, b = rows[0], rows[-1]
            L.append(
                f"- {label}: {a['records']:,} → {b['records']:,} records ({b['records'] / a['records']:.0f}×): "
                f"peak RSS {a['rss_mb']:.0f} → {b['rss_mb']:.0f} MB ({b['rss_mb'] / max(a['rss_mb'], 1e-9):.2f}×)"
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
        "provider, so the ratio is conservative).",
        "",
    ]
    L += [
        "| direction | records | provider calls/1,000 | SDK calls/1,000 | provider wall s | SDK wall s | "
        "speed-up (SDK wall / provider wall) | SDK failures (by status) | SDK 429s seen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    speed_groups = []
    pairs = [("CIO→Brevo (brevo-python)", b, people) for b in bases_b or [{}]]
    pairs += [("Brevo→CIO (customerio)", b, reverse) for b in bases_c or [{}]]
    for label, base, rows in pairs:
        if base.get("error") or not base:
            L.append(f"| {label} | | | | | | not measured: {base.get('error', 'not run')} | | |")
            continue
        match = next((r for r in rows if r["records"] == base["size"]), None)
        if match is None:
            L.append(
                f"| {label} | {base['records']:,} | (no provider run at this size) | {base['calls_per_1000']:.1f} "
                f"| | {base['wall_s']:.1f} | n/a | {base['failed']} | {base['http_429']} |"
            )
            continue
        speed = base["wall_s"] / match["wall_s"] if match["wall_s"] else float("nan")
        L.append(
            f"| {label} | {base['records']:,} | {match['calls_per_1000']:.2f} | {base['calls_per_1000']:.1f} | "
            f"{match['wall_s']:.1f} | {base['wall_s']:.1f} | **{speed:.1f}×** | {base['failed']} "
            f"{base.get('failures') or ''} | {base['http_429']} |"
        )
        speed_groups.append(
            (f"{label} {base['size']:,}", [("provider", match["wall_s"]), ("official SDK", base["wall_s"])])
        )
    if speed_groups:
        L += ["", svg_bars("Wall time, same people: provider vs official SDK (s)", speed_groups, "s")]
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
        L += ["## Webhook receiver", ""]
        if "events_per_s" in hooks:
            L.append(
                f"- sustained {hooks['events_per_s']:,.0f} events/s (goal ≥ 500/s); latency ms p50 "
                f"{hooks.get('p50', 0):.1f}, p95 {hooks.get('p95', 0):.1f}, p99 {hooks.get('p99', 0):.1f}; "
                f"stored {hooks.get('stored')} of {hooks.get('acked')} acknowledged ({hooks.get('check')})"
            )
        if "forwarded" in hooks:
            L.append(f"- forwarding: {hooks['forwarded']:,} events in {hooks['forward_calls']} Brevo calls")
        L.append("")
    if rps:
        L += ["## Sandbox throughput (rate limits off)", "", "| call | req/s |", "|---|---:|"]
        L += [f"| {name} | {v:,.1f} |" for name, v in rps] + [""]
    return "\n".join(L) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small scale (a few minutes)")
    ap.add_argument("--out", default=str(BENCH / "out"), help="output folder (default benchmarks/out)")
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["people", "reverse", "segments", "webhooks", "rps", "sdk"]
    )
    args = ap.parse_args()
    scale_name = "quick" if args.quick else "full"
    sc = SCALES[scale_name]
    out_dir = Path(args.out)
    raw_dir = out_dir / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    timeout = 1800 if args.quick else 12 * 3600
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}

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

    step("people", "people_sync.py", ["--people", *map(str, sc["people"])], parse_people)
    step("reverse", "reverse_sync.py", ["--contacts", *map(str, sc["contacts"])], parse_reverse)
    step("segments", "segments_mirror.py", ["--members", str(sc["members"])], parse_segments)
    step(
        "webhooks",
        "webhook_receiver.py",
        ["--events", str(sc["events"]), "--forward", str(sc["forward"])],
        parse_webhooks,
    )
    step("rps", "sandbox_rps.py", ["--people", str(sc["rps_people"]), "--seconds", str(sc["rps_seconds"])], parse_rps)

    sdk_note = "not run"
    if "sdk" not in args.skip:
        try:
            sdk_py, sdk_note = ensure_sdk_venv(out_dir)
        except Exception as exc:
            sdk_py, sdk_note = None, f"could not create the SDK venv: {exc}"
        for mode in ("brevo", "customerio"):
            results[f"sdk_{mode}"] = []
            for n in sc["baseline_people"]:
                if sdk_py is None:
                    results[f"sdk_{mode}"].append({"error": sdk_note, "size": n})
                    continue
                print(f"[run_all] SDK baseline {mode} ({n} people)", file=sys.stderr, flush=True)
                try:
                    res = run_baseline(sdk_py, mode, n, raw_dir)
                except Exception as exc:
                    res = {"error": f"{type(exc).__name__}: {exc}"}
                results[f"sdk_{mode}"].append({**res, "size": n})

    (out_dir / "results.json").write_text(
        json.dumps({"scale": scale_name, "results": results, "errors": errors}, indent=2, default=str)
    )
    report = build_report(scale_name, sc, results, errors, sdk_note)
    (out_dir / "report.md").write_text(report)
    print(f"[run_all] wrote {out_dir / 'report.md'}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
