"""A hand-made full-scale ``results.json`` (version 2) for the report tests: every part, figures chosen so that
each target's verdict is known in advance."""

from __future__ import annotations

from typing import Any

LIMITS = {
    "track": 1000.0,
    "app": 10.0,
    "brevo_contacts": 10.0,
    "brevo_contacts_per_hour": 36000.0,
    "brevo_events": 10.0,
    "brevo_events_per_hour": 36000.0,
    "brevo_other_per_hour": 100.0,
}


def person_row(n: int, mode: str, wall: float, bound: float, **kw: Any) -> dict[str, Any]:
    calls = kw.pop("calls", 92)
    row = {
        "records": n,
        "store": "sqlite",
        "imports_mode": mode,
        "max_imports_in_flight": 1 if mode == "serial" else 64,
        "read": n,
        "calls": calls,
        "calls_per_1000": 1000.0 * calls / n,
        "calls_by_api": {"app": 4, "brevo_contacts": 26, "imports": 25, "brevo_other": 25, "process_polls": 25},
        "process_polls": 25,
        "imports": 25,
        "wall_s": wall,
        "bound_s": bound,
        "bound_line": f"vendor lower bound {bound:.1f} s = max(... {mode} ...)",
        "rss_mb": 250.0,
        "cpu_s": 50.0,
        "sync_cpu_s": 45e-6 * n,
        "sandbox_cpu_s": 30.0,
        "rerun_writes": 0,
        "http_429": 0,
        "http_429_from": "counts",
        "notify": True,
        "baseline": False,
        "incremental": None,
        "limits": LIMITS,
    }
    row.update(kw)
    return row


def saved() -> dict[str, Any]:
    inc = {
        "changed": 10_000,
        "fraction": 0.01,
        "read": 10_000,
        "calls": 24,
        "calls_by_api": {"app": 20},
        "process_polls": 1,
        "wall_s": 45.0,
        "bound_s": 30.0,
        "rss_mb": 150.0,
        "bound_line": "vendor lower bound 30.0 s = max(incremental)",
    }
    people = [
        person_row(10_000, "serial", 30.0, 25.0, calls=20),
        person_row(10_000, "side-by-side", 20.0, 16.0, calls=20),
        person_row(1_000_000, "serial", 1210.0, 1100.0, incremental=inc),
        person_row(1_000_000, "side-by-side", 300.0, 150.0),
    ]
    pg = [
        person_row(100_000, "serial", 260.0, 200.0, store="postgres"),
        person_row(100_000, "side-by-side", 90.0, 40.0, store="postgres"),
    ]
    people += [person_row(100_000, "serial", 200.0, 190.0), person_row(100_000, "side-by-side", 60.0, 40.0)]
    segments = [
        {
            "label": "first mirror (empty list)",
            "imports_mode": mode,
            "added": 195_967,
            "removed": 0,
            "unchanged": 0,
            "api_calls": 430,
            "writes": 5,
            "log": "app read=8",
            "wall_s": wall,
            "process_polls": 5,
            "bound_s": 240.0 if mode == "serial" else 60.0,
            "bound_line": "calls ...",
            "http_429": 0,
        }
        for mode, wall in (("serial", 600.0), ("side-by-side", 100.0))
    ]
    reverse = [
        {
            "records": 1_000_000,
            "read": 1_000_000,
            "calls_per_1000": 1.5,
            "wall_s": 180.0,
            "rss_mb": 140.0,
            "bound_s": 99.0,
        },
    ]
    sdk_bound = {"bound_s": 9900.0, "line": "vendor lower bound 9900.0 s = max(calls ...)"}
    sdk = {
        "sdk_brevo": [
            {
                "size": 10_000,
                "records": 10_000,
                "wall_s": 1000.0,
                "calls": 10_110,
                "calls_per_1000": 1011.0,
                "failed": 0,
                "failures": {},
                "http_429": 3,
                "bound": {"bound_s": 990.0, "line": "b"},
            },
        ],
        "sdk_brevo_import": [
            {
                "size": 10_000,
                "records": 10_000,
                "wall_s": 40.0,
                "calls": 115,
                "calls_per_1000": 11.5,
                "failed": 0,
                "failures": {},
                "http_429": 0,
                "bound": {"bound_s": 25.0, "line": "b"},
            },
        ],
        "sdk_customerio": [
            {
                "size": 1_000_000,
                "skipped": True,
                "why": "its bound > --sdk-budget-s 3,600",
                "records": 1_000_000,
                "bound": sdk_bound,
            }
        ],
    }
    parts = {
        name: {
            "started": f"2026-12-08 0{i}:00 UTC",
            "duration_s": 600.0,
            "commit": f"{i}" * 40,
            "command": f"python benchmarks/run_all.py --only {name} --merge-into benchmarks/results/results.json",
            "assumptions": {
                "import_rate_per_s": 1000.0,
                "import_queue_s": 5.0,
                "export_rate_per_s": 10000.0,
                "export_queue_s": 5.0,
                "max_imports_in_flight_side_by_side": 64,
                "poll_interval": 5.0,
                "export_check_interval": 5.0,
                "import_check_interval": 5.0,
                "sdk_poll_s": 5.0,
                "notify": "on",
            },
        }
        for i, name in enumerate(("people", "people_pg", "reverse", "segments", "sdk"), start=1)
    }
    return {
        "version": 2,
        "scale": "full",
        "results": {"people": people, "people_pg": pg, "reverse": reverse, "segments": segments, **sdk},
        "errors": {},
        "parts": parts,
        "meta": {
            "sdk_note": "customerio 3.2.0, brevo-python 5.1.0",
            "machine": {
                "cpu": "AMD EPYC",
                "cores": "2",
                "ram": "23.5 GiB",
                "os": "Debian",
                "python": "3.11.7",
                "airflow": "3.3.2",
            },
        },
    }
