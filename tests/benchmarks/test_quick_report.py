"""`benchmarks/run_all.py --quick` (the CI mode of the benchmark report) runs every part end to end against the
sandbox with the vendors' limits on, and its figures show the behaviour the report claims. Nothing here is about
time: the assertions are on calls, records and the report's shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    results = out / "RESULTS.md"
    # as from a shell: not the test session's Airflow settings (unit-test mode, its connections), a fresh AIRFLOW_HOME
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(out / "airflow")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run_all.py"),
            "--quick",
            "--out",
            str(out),
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    return {"data": data, "report": (out / "report.md").read_text(), "results": results, "out": out}


def test_every_part_ran_without_errors_and_says_when_and_at_which_commit(quick):
    data = quick["data"]
    assert data["scale"] == "quick" and data["version"] == 2
    assert data["errors"] == {}
    for key in ("people", "people_pg", "reverse", "segments", "webhooks", "rps", "sdk_brevo", "sdk_brevo_import"):
        assert data["results"].get(key), key
    assert data["results"].get("sdk_customerio")
    for part in ("people", "people_pg", "reverse", "segments", "webhooks", "rps", "sdk"):
        p = data["parts"][part]
        assert p["started"].endswith("UTC") and len(p["commit"].split()[0]) == 40 and "--quick" in p["command"]
        assert p["assumptions"]["export_rate_per_s"] > 0 and p["assumptions"]["import_rate_per_s"] > 0


def test_people_sync_runs_one_import_at_a_time_and_side_by_side_and_never_meets_a_429(quick):
    people = [r for r in quick["data"]["results"]["people"] if not r.get("baseline")]
    assert [(r["records"], r["imports_mode"]) for r in people] == [
        (20, "serial"),
        (20, "side-by-side"),
        (2000, "serial"),
        (2000, "side-by-side"),
    ]
    assert [r["max_imports_in_flight"] for r in people] == [1, 64, 1, 64]
    pg = quick["data"]["results"]["people_pg"]
    assert [(r["records"], r["store"]) for r in pg] == [(2000, "postgres"), (2000, "postgres")]
    for r in people + pg:
        assert r["http_429_from"] == "counts"  # the sandbox's counts, not the capped log
        assert r["sync_cpu_s"] > 0 and r["bound"]["export_s"] > 0  # the export's time is a term of the bound
        assert r["notify"] is True
        assert r["http_429"] == 0
        assert r["imports"] >= 1
        # with notifyUrl the completion arrives as a notice: one GET /processes per import, no poll schedule
        assert r["process_polls"] == r["imports"]
        assert r["read"] <= r["records"] and r["read"] > 0.9 * r["records"]
        assert r["bound_line"].startswith("vendor lower bound")


def test_incremental_sync_reads_only_the_changed_people(quick):
    big = [r for r in quick["data"]["results"]["people"] if r["imports_mode"] == "serial"][-1]
    inc = big["incremental"]
    assert inc["changed"] == 20
    assert inc["changed"] <= inc["read"] < big["read"] / 10
    assert inc["calls"] < big["calls"] + 5


def test_reverse_sync_segments_and_events_figures(quick):
    res = quick["data"]["results"]
    assert [r["records"] for r in res["reverse"]] == [20, 2000]
    assert all(r["read"] == r["records"] for r in res["reverse"])
    assert sorted({r["imports_mode"] for r in res["segments"]}) == ["serial", "side-by-side"]
    for r in res["segments"]:
        assert r["http_429"] == 0
        if "no change" in r["label"]:
            assert r["writes"] == 0
    hooks = res["webhooks"]
    assert hooks["stored"] == hooks["acked"] == 1000
    assert hooks["forwarded"] == 1000
    assert hooks["forward_calls_per_1000"] <= 5.0  # 200 events per Brevo call


def test_the_sdk_import_call_baseline_imports_everyone_in_a_few_calls(quick):
    rows = quick["data"]["results"]["sdk_brevo_import"]
    assert [r["size"] for r in rows] == [20, 2000]  # capped by the budget only: both run
    for r in rows:
        if r.get("error"):
            assert r["error"] in quick["report"]
            continue
        assert r["failed"] == 0 and r["ok"] == r["records"] > 0
        assert r["write_calls"] == 1 and r["calls_per_1000"] < 1000


def test_sdk_baseline_makes_one_call_per_person_or_says_why_not(quick):
    for key in ("sdk_brevo", "sdk_customerio"):
        rows = quick["data"]["results"][key]
        assert [r["size"] for r in rows] == [20, 2000]
        measured, capped = rows
        assert capped["skipped"] is True and capped["bound"]["bound_s"] >= 0
        if measured.get("error"):  # pip could not install the SDKs: the report must say so
            assert measured["error"] in quick["report"]
            continue
        assert measured["records"] == 20 and measured["failed"] == 0
        assert measured["calls_per_1000"] >= 1000  # the baseline writes one record per call


def test_the_committed_report_has_its_sections_charts_and_provenance(quick):
    text = quick["results"].read_text()
    for section in ("## Assumptions", "## Targets", "one import at a time and side by side", "### How each bound"):
        assert section in text
    assert "**Command**" in text and "**Machine**" in text and "**Git commit**" in text
    assert "brevo-python import call" in text and "brevo-python per record" in text
    charts = sorted(p.name for p in (quick["results"].parent / "results").glob("*.svg"))
    assert charts == ["calls_per_1000.svg", "peak_rss.svg", "sdk_speedup.svg", "wall_vs_bound.svg"]
    for name in charts:
        assert f"results/{name}" in text
        assert (quick["results"].parent / "results" / name).read_text().startswith("<svg")
