"""The event operators' wiring without a server: the activity window."""

from __future__ import annotations

from pathlib import Path

import pendulum
import pytest

from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator
from airflow_provider_customerio.webhooks.store import EventStore

BASE = "https://api.brevo.test/v3"
DAG_FILE = Path(__file__).resolve().parents[3] / "dags" / "customerio_events_to_brevo.py"
EVENT = {
    "event_name": "X",
    "identifiers": {"ext_id": "1"},
    "event_date": "2026-01-10T00:00:00+00:00",
    "event_properties": {"cio_event_id": "E1"},
}


def test_activity_window_sources(tmp_path):
    store = EventStore.sqlite(tmp_path / "w.db")
    op = CustomerIOEventsToBrevoOperator(task_id="t")
    ctx = {
        "data_interval_start": pendulum.datetime(2026, 1, 1, 0, 0, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 1, 1, 0, 5, tz="UTC"),
    }
    assert op.activity_window(ctx, store, 9e9)[:2] == (1767225600, 1767225900)
    assert op.activity_window({}, store, 10_000.0)[:2] == (6400, 10_000)  # first manual run: the last hour
    store.set_meta("activity_window_end", "9000")
    assert op.activity_window({}, store, 10_000.0)[:2] == (9000, 10_000)  # then from the watermark
    op.window_start, op.window_end = "2026-01-01T00:00:00Z", "None"
    assert op.activity_window(ctx, store, 1767229200.0)[:2] == (1767225600, 1767229200)
    op.window_start, op.window_end = "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="must be before"):
        op.activity_window(ctx, store, 0)
    op.window_start = "next tuesday"
    with pytest.raises(ValueError, match="window_start"):
        op.activity_window(ctx, store, 0)
    store.dispose()
