from __future__ import annotations

import csv
import json

import pytest

from airflow_provider_customerio.store.ledger import Ledger, export_rejects, read_ledger
from airflow_provider_customerio.store.sync_store import SyncStore


def test_ledger_rows_counts_and_location(tmp_path):
    led = Ledger.for_run(
        tmp_path / "store.db", "customerio_people_to_brevo", "manual__2024-01-01T00:00:00+00:00", "sync_people"
    )
    led.reject(
        record_id="c1", reason="invalid_email", message="bad", stage="map", identifiers={"email": "x", "id": None}
    )
    led.reject(record_id="c2", reason="invalid_date", message="bad date", stage="map", detail={"attribute": "D"})
    led.close()
    assert led.key == "customerio_people_to_brevo/manual__2024-01-01T00:00:00+00:00/sync_people"
    assert led.key in led.location and "rejected_record" in led.location
    lines = read_ledger(tmp_path / "store.db", led.key)
    assert [(l["record_id"], l["reason"], l["stage"]) for l in lines] == [
        ("c1", "invalid_email", "map"),
        ("c2", "invalid_date", "map"),
    ]
    assert lines[0]["identifiers"] == {"email": "x"} and lines[0]["run_id"].startswith("manual__")
    assert lines[1]["detail"] == {"attribute": "D"}
    assert led.total == 2 and led.record_rejects == 1  # the date problem only left a value out


def test_truncate_to_checkpoint_offset_forgets_later_rows(tmp_path):
    led = Ledger(tmp_path / "store.db")
    led.reject(record_id="a", reason="invalid_email", message="m", stage="map")
    offset = led.flush()
    led.reject(record_id="b", reason="invalid_email", message="m", stage="map")
    led.close()
    resumed = Ledger(tmp_path / "store.db", truncate_to=offset)
    assert resumed.counts["invalid_email"] == 1
    resumed.reject(record_id="c", reason="missing_identifier", message="m", stage="map")
    resumed.close()
    assert [l["record_id"] for l in read_ledger(tmp_path / "store.db")] == ["a", "c"]


def test_ledgers_of_runs_are_apart_and_rows_beyond_a_page_are_read(tmp_path):
    store = SyncStore.at(tmp_path / "store.db")
    one = store.ledger("dag", "r1", "t")
    two = store.ledger("dag", "r2", "t")
    for i in range(1203):  # over the flush size and the read page
        one.reject(record_id=f"p{i}", reason="invalid_email", message="m", stage="map")
    two.reject(record_id="q", reason="not_found", message="m", stage="hydrate")
    one.close()
    two.close()
    assert len(read_ledger(store.engine, one.key)) == 1203
    assert [r["record_id"] for r in read_ledger(store.engine, run_id="r2")] == ["q"]
    assert len(read_ledger(store.engine, dag_id="dag", reason="invalid_email")) == 1203


def test_export_to_jsonl_and_csv(tmp_path):
    store = SyncStore.at(tmp_path / "store.db")
    with store.ledger("dag", "r1", "t") as led:
        led.reject(
            record_id="c1", reason="invalid_email", message='bad, "quoted"', stage="map", identifiers={"email": "x@"}
        )
    assert export_rejects(store.engine, tmp_path / "r.jsonl", run_id="r1") == 1
    line = json.loads((tmp_path / "r.jsonl").read_text())
    assert line["record_id"] == "c1" and line["identifiers"] == {"email": "x@"}
    assert export_rejects(store.engine, tmp_path / "r.csv", fmt="csv", run_id="r1") == 1
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert rows[0]["message"] == 'bad, "quoted"' and json.loads(rows[0]["identifiers"]) == {"email": "x@"}
    with pytest.raises(ValueError, match="jsonl or csv"):
        export_rejects(store.engine, tmp_path / "r.xml", fmt="xml")


def test_run_reject_counts_are_of_one_dag_run_every_task(tmp_path):
    from airflow_provider_customerio.store.ledger import run_reject_counts

    store = SyncStore.at(tmp_path / "s.db")
    for task, reasons in (("a", ["invalid_email", "invalid_date"]), ("b", ["invalid_email"])):
        with store.ledger("dag", "run_1", task) as led:
            for reason in reasons:
                led.reject(record_id="x", reason=reason, message="m", stage="map")
    with store.ledger("dag", "run_2", "a") as led:
        led.reject(record_id="y", reason="not_found", message="m", stage="read")
    assert run_reject_counts(store.engine, "dag", "run_1") == {"invalid_email": 2, "invalid_date": 1}
    assert run_reject_counts(store.engine, "other", "run_1") == {}
