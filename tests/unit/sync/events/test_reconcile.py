"""Reconciliation reads: the GET /events query and the forwarded ids found in its items."""

from __future__ import annotations

import json

from airflow_provider_customerio.sync.events.reconcile import forwarded_ids, reconcile_query


def test_reconcile_query_covers_names_and_dates():
    events = [
        {"event_name": "B", "event_date": "2026-01-10T23:30:00+00:00"},
        {"event_name": "A", "event_date": "2026-01-12T01:00:00+00:00"},
        {"event_name": "A"},
    ]
    q = reconcile_query(events, now=1767225600.0 + 20 * 86400)  # 2026-01-21
    assert q == {"event_name": ["A", "B"], "startDate": "2026-01-09", "endDate": "2026-01-22"}


def test_forwarded_ids_reads_event_properties():
    items = [
        {"event_properties": {"cio_event_id": "E1"}},
        {"event_properties": json.dumps({"cio_event_id": "E2"})},
        {"event_properties": {"cio_event_id": "other"}},
        {"event_properties": None},
        {},
    ]
    assert forwarded_ids(items, {"E1", "E2", "E3"}) == {"E1", "E2"}
