"""The official-SDK baselines' vendor bounds (benchmarks/sdk_baseline.py), pure arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import sdk_baseline
import vendor_bounds

LIMITS = dict(vendor_bounds.DEFAULT_LIMITS)


def test_the_import_call_baseline_is_bound_by_its_reads_then_its_imports_one_at_a_time():
    b = sdk_baseline.bound("brevo_import", 100_000, LIMITS, {"rate_per_s": 1000.0, "queue_s": 5.0})
    # reads: 100 searches + 1,000 attribute calls at 10/s after the burst = 109 s; then 3 imports one after
    # the other: 3 x 5 s queued + 100,000 rows / 1,000 rows/s
    assert b["counts"] == {"app": 1100, "brevo_contacts": 3}
    assert b["bound_s"] == pytest.approx(109.0 + 15.0 + 100.0)
    assert "3 imports processed one after the other" in b["line"]


def test_the_per_record_baselines_keep_one_write_per_person():
    assert sdk_baseline.bound("brevo", 10_000, LIMITS, {})["counts"]["brevo_contacts"] == 10_000
    assert sdk_baseline.bound("customerio", 10_000, LIMITS, {})["counts"]["track"] == 10_000
