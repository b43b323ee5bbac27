"""The per-run summary (sync/summary.py): the XCom dict, the plan of a dry run, and the checkpointed counters."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from airflow_provider_customerio.sync.summary import (
    MAX_PLAN_ITEMS,
    PLAN_KINDS,
    RejectThresholdExceeded,
    SyncSummary,
    check_threshold,
)


def test_xcom_keys_are_stable_and_optional_ones_appear_only_when_set():
    out = SyncSummary(read=3, created=2, unchanged=1).to_xcom()
    assert {"read", "created", "updated", "unchanged", "deleted", "blacklisted", "rejected", "api_calls"} <= set(out)
    assert {"lastSync", "ledger", "rejects_by_reason", "people_count", "events_processed", "campaigns_tracked"} <= set(
        out
    )
    assert (out["read"], out["created"], out["unchanged"]) == (3, 2, 1)
    assert not {"skipped", "stale_reads", "notes", "plan"} & set(out)
    full = SyncSummary(skipped="off", stale_reads=2, notes=[f"n{i}" for i in range(30)], dry_run=True).to_xcom()
    assert full["skipped"] == "off" and full["stale_reads"] == 2 and len(full["notes"]) == 20
    assert full["plan"] == dict.fromkeys(PLAN_KINDS, 0)


def test_plan_counts_every_write_and_keeps_a_bounded_list_of_examples():
    s = SyncSummary(dry_run=True)
    s.plan_add("creates", items=[f"c{i}" for i in range(40)])
    s.plan_add("creates", 30, items=[f"d{i}" for i in range(30)])
    s.plan_add("conflicts")
    plan = s.to_xcom()["plan"]
    assert plan["creates"] == 31 and plan["conflicts"] == 1 and plan["deletes"] == 0
    assert len(plan["creates_items"]) == MAX_PLAN_ITEMS and plan["creates_items"][39:41] == ["c39", "d0"]


def test_state_round_trip_keeps_counters_notes_and_plan():
    s = SyncSummary(mode="full", read=5, rejects_by_reason=Counter({"invalid_email": 2}), notes=["x"])
    s.plan_add("updates", items=["c1"])
    again = SyncSummary.from_state({**s.to_state(), "unknown_key_of_a_newer_version": 1})
    assert again == s
    assert isinstance(again.rejects_by_reason, Counter)


def test_finish_stamps_last_sync_in_utc():
    s = SyncSummary()
    s.finish()
    assert s.last_sync is not None and datetime.fromisoformat(s.last_sync).utcoffset().total_seconds() == 0


def test_threshold():
    check_threshold(rejected=5, read=100, threshold=0.05, ledger_path="ledger x")
    check_threshold(rejected=0, read=0, threshold=0.0, ledger_path="ledger x")
    with pytest.raises(RejectThresholdExceeded, match=r"6 of 100 records rejected \(6.0%\).*ledger x"):
        check_threshold(rejected=6, read=100, threshold=0.05, ledger_path="ledger x")


def test_summary_puts_rejects_by_reason_in_its_xcom():
    s = SyncSummary()
    s.read = 3
    s.rejects_by_reason["invalid_email"] += 2
    out = s.to_xcom()
    assert out["read"] == 3 and out["rejects_by_reason"] == {"invalid_email": 2}
