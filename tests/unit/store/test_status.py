"""The status page's reads of the store (``store/status.py``): bounded, filtered by the DAGs a viewer may read."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.reporting import engine_store
from airflow_provider_customerio.store.status import StatusQueries
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.campaigns import MetricRow


@pytest.fixture
def store(tmp_path):
    st = SyncStore.at(tmp_path / "state.db")
    for i in range(3):
        st.record_summary("people", "dag_p", f"run_{i}", "sync", {"read": i})
    st.record_summary("custom_capability", "dag_c", "run_c", "t", {"read": 9})
    with st.ledger("dag_p", "run_0", "sync") as led:
        for i in range(5):
            led.reject(record_id=f"p{i}", reason="invalid_email", message="bad", stage="map", identifiers={"x": i})
    with st.ledger("dag_s", "run_s", "mirror") as led:
        led.reject(record_id="s1", reason="list_full", message="full", stage="import")
    return st


def test_run_summaries_are_the_latest_per_capability_named_first(store):
    got = StatusQueries(store.engine).run_summaries(("segments", "people"), None, per_capability=2)
    assert list(got) == ["segments", "people", "custom_capability"]
    assert got["segments"] == []
    assert [r["run_id"] for r in got["people"]] == ["run_2", "run_1"]
    assert got["people"][0]["summary"] == {"read": 2}


def test_a_viewer_sees_only_the_dags_they_may_read(store):
    reads = StatusQueries(store.engine)
    assert reads.reject_counts({"dag_s"}) == {"list_full": 1}
    assert reads.reject_counts(set()) == {}
    assert reads.reject_counts(None) == {"invalid_email": 5, "list_full": 1}
    assert reads.run_summaries(("people",), {"dag_c"})["people"] == []
    assert reads.provider_dag_ids() == {"dag_p", "dag_c", "dag_s"}


def test_reject_pages_continue_by_keyset(store):
    reads = StatusQueries(store.engine)
    first = reads.reject_page(None, "invalid_email", size=2)
    assert [r["record_id"] for r in first.rows] == ["p4", "p3"] and first.rows[0]["identifiers"] == {"x": 4}
    second = reads.reject_page(None, "invalid_email", before=first.next_before, size=2)
    last = reads.reject_page(None, "invalid_email", before=second.next_before, size=2)
    assert [r["record_id"] for r in second.rows + last.rows] == ["p2", "p1", "p0"] and last.next_before is None


def test_rejects_as_csv_in_batches(store):
    text = "".join(StatusQueries(store.engine).iter_rejects_csv(None, "invalid_email", batch=2))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["record_id"] for r in rows] == ["p0", "p1", "p2", "p3", "p4"]


def test_webhook_health_counts_the_inbox_and_the_receivers_counters(store):
    store.add_counts("webhook_receiver", {"stored": 3, "duplicate": 1, "unauthorized": 2})
    inbox = EventStore(store.engine)
    inbox.add([StoredEvent(event_id=f"e{i}", source="webhook", payload="{}", received_at=100.0 + i) for i in range(3)])
    inbox.mark({"e0": ("sent", None)})
    health = StatusQueries(store.engine).webhook_health()
    assert health.statuses == {"pending": 2, "sent": 1}
    assert health.oldest_unforwarded_at == 101.0
    assert health.received == 6 and health.refused == {"unauthorized": 2}


def test_metrics_rows_of_a_missing_table_are_none_and_else_the_range(store):
    reads = StatusQueries(store.engine)
    assert reads.metrics_rows(date(2026, 1, 1), date(2026, 1, 31)) == []
    metrics = engine_store(store.engine)
    metrics.ensure_table()
    metrics.upsert([MetricRow(1, date(2026, 1, 5), "campaign:v2:UTC", "C", {"sent": 4})], updated_at="t")
    rows = reads.metrics_rows(date(2026, 1, 1), date(2026, 1, 31))
    assert [(r["campaign_id"], r["date"], r["sent"]) for r in rows] == [(1, "2026-01-05", 4)]
