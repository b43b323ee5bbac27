"""benchmarks/run_all.py without running a benchmark: the parts' command lines carry every stated assumption, a
merge replaces only the parts run now, and --render rebuilds the report from a results.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import report_fixture
import run_all


def _flag(argv: list[str], name: str) -> list[str]:
    i = argv.index(name)
    out = []
    for a in argv[i + 1 :]:
        if a.startswith("--"):
            break
        out.append(a)
    return out


def test_the_people_parts_run_both_import_modes_under_the_stated_rates():
    sc = run_all.SCALES["full"]
    argv = run_all.people_argv(sc, "people")
    assert _flag(argv, "--people") == ["10000", "100000", "1000000"]
    assert _flag(argv, "--imports") == ["serial", "side-by-side"]
    assert _flag(argv, "--max-imports-in-flight") == [str(run_all.SIDE_BY_SIDE_IN_FLIGHT)]
    assert _flag(argv, "--rate-per-s") == [str(run_all.PROCESS_RATE_PER_S)]
    assert _flag(argv, "--export-rate-per-s") == [str(run_all.EXPORT_RATE_PER_S)]
    assert _flag(argv, "--export-queue-s") == [str(run_all.EXPORT_QUEUE_S)]
    assert _flag(argv, "--incremental") == ["0.01"] and "--no-rerun" not in argv
    pg = run_all.people_argv(sc, "people_pg")
    assert _flag(pg, "--people") == ["100000"] and _flag(pg, "--store") == ["postgres"]
    segs = [run_all.segments_argv(sc, m) for m in ("serial", "side-by-side")]
    assert [_flag(a, "--imports") for a in segs] == [["serial"], ["side-by-side"]]


def test_a_part_runs_its_scripts_and_reports_a_script_that_printed_no_figures():
    calls: list[tuple[str, str]] = []

    def fake(script: str, argv: list[str], tag: str) -> tuple[str, str | None]:
        calls.append((script, tag))
        return ("imports: serial, max_imports_in_flight 1\n" if tag == "serial" else "nothing"), None

    figures, err = run_all.run_part("segments", run_all.SCALES["quick"], fake)
    assert calls == [("segments_mirror.py", "serial"), ("segments_mirror.py", "side-by-side")]
    assert figures == {"segments": []}
    assert err is not None and "no figures found" in err


def _part(saved: dict[str, Any], name: str) -> dict[str, Any]:
    new = {"version": 2, "scale": saved["scale"], "results": {}, "errors": {}, "parts": {}, "meta": {}}
    new["parts"][name] = {**saved["parts"][name], "started": "2026-12-09 10:00 UTC", "commit": "f" * 40}
    return new


def test_a_merge_replaces_only_the_parts_run_now():
    before = report_fixture.saved()
    new = _part(before, "sdk")
    new["results"]["sdk_brevo"] = [{"size": 10_000, "wall_s": 5.0}]
    new["errors"]["sdk"] = "pip failed"
    merged = run_all.merge(before, new)
    assert merged["results"]["sdk_brevo"] == [{"size": 10_000, "wall_s": 5.0}]
    assert "sdk_brevo_import" not in merged["results"]  # the part's keys are replaced as a whole
    assert merged["results"]["people"] == before["results"]["people"]  # other parts stay
    assert merged["parts"]["sdk"]["commit"] == "f" * 40 and merged["parts"]["people"] == before["parts"]["people"]
    assert merged["errors"] == {"sdk": "pip failed"}
    again = _part(merged, "sdk")
    again["results"]["sdk_brevo"] = []
    assert "sdk" not in run_all.merge(merged, again)["errors"]  # a part that ran clean clears its old error


def test_a_merge_refuses_to_mix_scales():
    quick = {"version": 2, "scale": "quick", "results": {}, "errors": {}, "parts": {}, "meta": {}}
    with pytest.raises(SystemExit, match="quick run"):
        run_all.merge(report_fixture.saved(), quick)


def test_render_rebuilds_the_report_from_a_results_json(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(report_fixture.saved()))
    rc = run_all.main(["--render", str(path), "--out", str(tmp_path / "out"), "--results", str(tmp_path / "R.md")])
    assert rc == 0
    text = (tmp_path / "R.md").read_text()
    assert "- **Rendered**:" in text and "## Targets" in text and "![API calls per 1,000 records]" in text


def test_the_full_run_estimate_covers_every_part():
    est = run_all.estimate_s(run_all.SCALES["full"])
    assert set(est) == set(run_all.PARTS)
    # people at 1,000,000 one import at a time alone: its export and 1,000 s of Brevo processing
    assert est["people"] > 1_000_000 / run_all.PROCESS_RATE_PER_S
