"""Parsing the benchmark scripts' printed output (benchmarks/bench_parse.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import bench_parse


def test_people_results_keep_their_import_mode_store_and_cpu():
    first = {
        "read": 1960,
        "calls": 15,
        "calls_per_1000": 7.65,
        "calls_by_api": {},
        "process_polls": 2,
        "imports": 2,
        "wall_s": 16.5,
        "bound_s": 12.0,
        "bound_line": "vendor lower bound 12.0 s",
        "rss_mb": 135.0,
        "cpu_s": 3.3,
        "sync_cpu_s": 1.2,
        "http_429": 0,
        "http_429_from": "counts",
        "bound": {"bound_s": 12.0, "export_s": 5.2, "processing": {"x": 1}},
    }
    line = {
        "people": 2000,
        "store": "postgres",
        "imports": "side-by-side",
        "max_imports_in_flight": 64,
        "first": first,
        "notify": True,
    }
    rows = bench_parse.parse_people("table\nRESULT " + json.dumps(line) + "\n")
    assert len(rows) == 1
    r = rows[0]
    assert (r["imports_mode"], r["store"], r["max_imports_in_flight"]) == ("side-by-side", "postgres", 64)
    assert (r["sync_cpu_s"], r["http_429_from"]) == (1.2, "counts")
    assert r["bound"] == {"bound_s": 12.0, "export_s": 5.2}  # the numeric terms only


def test_segment_runs_carry_the_mode_printed_before_them_and_their_429s():
    out = "\n".join(
        [
            "imports: side-by-side, max_imports_in_flight 64",
            "setup: 1000 members in segment 5 (1.0 s)",
            "first mirror (empty list): added=990 removed=0 unchanged=0 rejected=0 | operator api_calls=9 "
            "write_calls=2 | sandbox log: app read=3 | 12.5 s",
            "  limits on: HTTP 429 0; GET /processes 1; vendor lower bound 7.0 s = max(calls 0.0 s)",
        ]
    )
    (row,) = bench_parse.parse_segments(out)
    assert (row["imports_mode"], row["added"], row["http_429"], row["bound_s"]) == ("side-by-side", 990, 0, 7.0)
