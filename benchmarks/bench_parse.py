"""Parsing the printed output of the benchmark scripts into the figures of the report (``run_all.py``).

Each script prints a markdown table and machine lines; people_sync.py prints one ``RESULT {json}`` line per run.
A figure a parser cannot find is left out, and ``run_all.py`` reports the script as failed ("no figures found").
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vendor_bounds


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_people(out: str) -> list[dict[str, Any]]:
    """The ``RESULT {json}`` lines of people_sync.py, flattened to the first (full) run's figures, each with how
    the sandbox processed imports (``imports``: ``serial`` or ``side-by-side``) and the store."""
    rows = []
    for line in out.splitlines():
        if not line.startswith("RESULT "):
            continue
        r = json.loads(line[7:])
        f = r["first"]
        rows.append(
            {
                "records": r["people"],
                "store": r.get("store", "sqlite"),
                "imports_mode": r.get("imports", "serial"),
                "max_imports_in_flight": r.get("max_imports_in_flight", 1),
                "read": f["read"],
                "calls": f["calls"],
                "calls_per_1000": f["calls_per_1000"],
                "calls_by_api": f["calls_by_api"],
                "process_polls": f["process_polls"],
                "imports": f["imports"],
                "wall_s": f["wall_s"],
                "bound_s": f["bound_s"],
                "bound": {k: v for k, v in f.get("bound", {}).items() if isinstance(v, (int, float))},
                "bound_line": f["bound_line"],
                "rss_mb": f["rss_mb"],
                "cpu_s": f.get("cpu_s"),
                "sync_cpu_s": f.get("sync_cpu_s"),
                "sandbox_cpu_s": f.get("sandbox_cpu_s"),
                "rerun_writes": (r.get("second") or {}).get("brevo_writes", "-"),
                "http_429": f["http_429"],
                "http_429_from": f.get("http_429_from", "log"),
                "notify": r.get("notify", False),
                "baseline": r.get("baseline", False),
                "incremental": r.get("incremental"),
                "limits": r.get("limits"),
                "processing": r.get("processing"),
                "export": r.get("export"),
                "polls": r.get("polls"),
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
    """The runs of segments_mirror.py (first mirror, 1 % change, re-run), each with its import mode."""
    rows: list[dict[str, Any]] = []
    mode = "serial"
    for line in out.splitlines():
        if im := re.match(r"imports: ([\w-]+), max_imports_in_flight (\d+)", line):
            mode = im.group(1)
            continue
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
                    "imports_mode": mode,
                }
            )
        elif rows and (b := re.search(r"GET /processes (\d+); vendor lower bound ([\d.]+) s = (.*)$", line)):
            rows[-1].update(process_polls=int(b.group(1)), bound_s=float(b.group(2)), bound_line=b.group(3))
            if n429 := re.search(r"HTTP 429 (\d+);", line):
                rows[-1]["http_429"] = int(n429.group(1))
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
