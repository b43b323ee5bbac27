"""The run summary and the reject threshold (``sync/summary.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.summary import RejectThresholdExceeded, SyncSummary, check_threshold


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
