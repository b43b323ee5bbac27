"""The vendor lower bounds the benchmark report prints (benchmarks/vendor_bounds.py): pure arithmetic, no clock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import vendor_bounds as vb

LIMITS = dict(vb.DEFAULT_LIMITS)


def test_a_full_bucket_goes_through_at_once_then_the_rate_applies():
    assert vb.per_second(10, 10) == 0.0
    assert vb.per_second(110, 10) == pytest.approx(10.0)
    assert vb.per_second(0, 10) == 0.0


def test_the_hourly_window_costs_whole_hours_after_the_first():
    assert vb.window_wait(100, 100) == 0.0
    assert vb.window_wait(101, 100) == vb.HOUR
    assert vb.window_wait(250, 100) == 2 * vb.HOUR


def test_calls_are_counted_per_rate_limit_family():
    log = [
        {"vendor": "app", "path": "/v1/customers", "method": "POST"},
        {"vendor": "brevo", "path": "/brevo/v3/contacts/import", "method": "POST"},
        {"vendor": "brevo", "path": "/brevo/v3/processes/7", "method": "GET"},
        {"vendor": "brevo", "path": "/brevo/v3/events", "method": "POST"},
        {"vendor": "track", "path": "/api/v2/batch", "method": "POST"},
    ]
    c = vb.count_calls(log)
    assert (c["app"], c["track"], c["brevo_contacts"], c["brevo_events"], c["brevo_other"]) == (1, 1, 1, 1, 1)
    assert (c["imports"], c["process_polls"]) == (1, 1)


def test_the_bound_is_the_slowest_import_when_processing_dominates():
    counts = {"app": 4, "brevo_contacts": 3}
    processing = {"rate_per_s": 1000.0, "queue_s": 5.0, "rows": 20_000, "before_s": 0.0}
    b = vb.lower_bound(counts, LIMITS, other_needed=0, processing=processing)
    assert b["processing_s"] == pytest.approx(25.0)
    assert b["bound_s"] == pytest.approx(25.0)
    assert "20,000 rows / 1,000 rows/s" in vb.describe(b, counts, LIMITS)


def test_polls_beyond_the_hourly_budget_lengthen_the_bound_only_when_needed():
    counts = {"brevo_other": 250}
    assert vb.lower_bound(counts, LIMITS)["bound_s"] == 2 * vb.HOUR
    assert vb.lower_bound(counts, LIMITS, other_needed=50)["bound_s"] == 0.0


def test_the_per_record_brevo_baseline_is_bound_by_one_write_per_person():
    b = vb.sdk_bound("brevo", 100_000, LIMITS)
    assert b["counts"]["brevo_contacts"] == 100_000
    assert b["bound_s"] >= 9_999  # 100,000 POST /contacts at 10/s
    assert vb.sdk_bound("customerio", 100_000, LIMITS)["bound_s"] < 200  # Track at 1000/s


def test_the_critical_import_is_the_one_that_ends_last():
    log = [{"vendor": "app", "path": "/v1/customers", "method": "POST", "status": 200} for _ in range(30)]
    log.insert(0, {"vendor": "brevo", "path": "/brevo/v3/contacts/import", "method": "POST", "status": 202})
    log.append({"vendor": "brevo", "path": "/brevo/v3/contacts/import", "method": "POST", "status": 202})
    best = vb.critical_import(log, [1000.0, 1000.0], LIMITS, queue_s=5.0, rate_per_s=1000.0)
    # the second import waits for 30 App calls (2 s at 10/s after the burst), then 5 s + 1 s of processing
    assert best["index"] == 2
    assert best["total_s"] == pytest.approx(8.0)


def test_imports_are_processed_one_after_the_other_so_the_bound_is_serial():
    log = [{"vendor": "brevo", "path": "/brevo/v3/contacts/import", "method": "POST", "status": 202} for _ in range(2)]
    serial = vb.critical_import(log, [10_000.0, 10_000.0], LIMITS, queue_s=5.0, rate_per_s=1000.0)
    # submitted together: the first ends at 5 + 10 s, the second starts then (Brevo: one import at a time)
    assert (serial["index"], serial["total_s"]) == (2, pytest.approx(25.0))
    side_by_side = vb.critical_import(log, [10_000.0, 10_000.0], LIMITS, queue_s=5.0, rate_per_s=1000.0, serial=False)
    assert side_by_side["total_s"] == pytest.approx(15.0)
    b = vb.lower_bound({"brevo_contacts": 2}, LIMITS, other_needed=0, processing=serial)
    assert b["bound_s"] == pytest.approx(25.0)
    assert "2 imports processed one after the other" in vb.describe(b, {"brevo_contacts": 2}, LIMITS)


def _export_then_imports(n_imports: int) -> list[dict]:
    log = [{"vendor": "app", "path": "/app/v1/exports/customers", "method": "POST", "status": 200}]
    log += [{"vendor": "app", "path": "/app/v1/exports/1", "method": "GET", "status": 200} for _ in range(5)]
    log += [
        {"vendor": "brevo", "path": "/brevo/v3/contacts/import", "method": "POST", "status": 202}
        for _ in range(n_imports)
    ]
    return log


def test_the_export_is_a_term_and_no_import_from_it_starts_before_it_is_done():
    log = _export_then_imports(2)
    export = vb.export_term(log, LIMITS, people=100_000, rate_per_s=10_000.0, queue_s=5.0)
    assert export["duration_s"] == pytest.approx(15.0) and export["log_index"] == 0
    serial = vb.critical_import(log, [10_000.0, 10_000.0], LIMITS, queue_s=5.0, rate_per_s=1000.0, export=export)
    # the export ends at 15 s; import 1 then queues 5 s and runs 10 s (30 s); import 2 runs after it (40 s)
    assert serial["total_s"] == pytest.approx(40.0)
    b = vb.lower_bound(vb.count_calls(log), LIMITS, other_needed=0, processing=serial, export=export)
    assert b["bound_s"] == pytest.approx(40.0) and b["export_s"] == pytest.approx(15.0)
    text = vb.describe(b, vb.count_calls(log), LIMITS)
    assert "Customer.io export of 100,000 people" in text and "10,000 people/s" in text


def test_a_run_that_imports_nothing_is_still_bound_by_its_export():
    log = _export_then_imports(0)
    export = vb.export_term(log, LIMITS, people=1_000_000, rate_per_s=10_000.0, queue_s=5.0)
    b = vb.lower_bound(vb.count_calls(log), LIMITS, other_needed=0, export=export)
    assert b["bound_s"] == pytest.approx(105.0)
    assert vb.export_term(log, LIMITS, people=10, rate_per_s=0.0, queue_s=5.0) == {}  # poll-driven: no term
    assert vb.export_term(log[1:], LIMITS, people=10, rate_per_s=1.0, queue_s=5.0) == {}  # no export made
