"""What one mirror run reports (``sync/segments/result.py``)."""

from __future__ import annotations

from airflow_provider_customerio.sync.segments.result import MirrorResult


def test_the_summary_reports_the_list_size_after_and_a_redirected_list() -> None:
    result = MirrorResult(segment_id=42, list_id=77, requested_list_id=13, list_size_before=10, added=3, removed=2)
    summary = result.summary()
    assert (summary["list_size_after"], summary["requested_list"]) == (11, 13)
    assert "plan" not in summary and "sample_adds" not in summary


def test_a_dry_run_summary_carries_the_plan() -> None:
    result = MirrorResult(segment_id=42, list_id=13, dry_run=True, added=2, removed=1, lifecycle_updated=4)
    result.planned_adds = [{"cio_id": "c1"}]
    plan = result.summary()["plan"]
    assert (plan["list_adds"], plan["list_removals"], plan["updates"]) == (2, 1, 4)
    assert plan["list_adds_items"] == [{"cio_id": "c1"}]
