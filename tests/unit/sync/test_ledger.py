from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.ledger import (
    Ledger,
    RejectThresholdExceeded,
    check_threshold,
    read_ledger,
    safe_name,
)


def test_ledger_lines_counts_and_location(tmp_path):
    led = Ledger.for_run(tmp_path, "customerio_people_to_brevo", "manual__2024-01-01T00:00:00+00:00", "sync_people")
    led.reject(
        record_id="c1", reason="invalid_email", message="bad", stage="map", identifiers={"email": "x", "id": None}
    )
    led.reject(record_id="c2", reason="invalid_date", message="bad date", stage="map", detail={"attribute": "D"})
    led.close()
    assert led.path.parent.name == "customerio_people_to_brevo"
    assert led.path.name == "manual__2024-01-01T00_00_00+00_00.sync_people.jsonl"
    lines = read_ledger(led.path)
    assert [(l["record_id"], l["reason"], l["stage"]) for l in lines] == [
        ("c1", "invalid_email", "map"),
        ("c2", "invalid_date", "map"),
    ]
    assert lines[0]["identifiers"] == {"email": "x"} and lines[0]["run_id"].startswith("manual__")
    assert led.total == 2 and led.record_rejects == 1  # the date problem only left a value out


def test_truncate_to_checkpoint_offset_forgets_later_lines(tmp_path):
    led = Ledger(tmp_path / "l.jsonl")
    led.reject(record_id="a", reason="invalid_email", message="m", stage="map")
    offset = led.flush()
    led.reject(record_id="b", reason="invalid_email", message="m", stage="map")
    led.close()
    resumed = Ledger(tmp_path / "l.jsonl", truncate_to=offset)
    assert resumed.counts["invalid_email"] == 1
    resumed.reject(record_id="c", reason="missing_identifier", message="m", stage="map")
    resumed.close()
    assert [l["record_id"] for l in read_ledger(tmp_path / "l.jsonl")] == ["a", "c"]


def test_threshold():
    check_threshold(rejected=5, read=100, threshold=0.05, ledger_path="x")
    check_threshold(rejected=0, read=0, threshold=0.0, ledger_path="x")
    with pytest.raises(RejectThresholdExceeded, match=r"6 of 100 records rejected \(6.0%\).*ledger x"):
        check_threshold(rejected=6, read=100, threshold=0.05, ledger_path="x")


def test_safe_name():
    assert safe_name("scheduled__2024-01-01T00:00:00+00:00") == "scheduled__2024-01-01T00_00_00+00_00"
    assert safe_name("../..") == "run"
