"""Reconciling interrupted sends: which forwarded events Brevo already holds (``GET /events``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.events.ports import SOURCE_ID_PROPERTY


def reconcile_query(events: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any]:
    """``GET /events`` parameters covering ``events``: their names, and a date window (whole days, one day of
    margin either side) from the oldest ``event_date`` to today."""
    names = sorted({str(e["event_name"]) for e in events})
    dates: list[datetime] = [datetime.fromtimestamp(now, tz=timezone.utc)]
    for e in events:
        raw = e.get("event_date")
        if isinstance(raw, str):
            try:
                dates.append(parse_iso(raw))
            except ValueError:
                continue
    start = (min(dates) - timedelta(days=1)).date().isoformat()
    end = (max(dates) + timedelta(days=1)).date().isoformat()
    return {"event_name": names, "startDate": start, "endDate": end}


def forwarded_ids(brevo_events: Iterable[Mapping[str, Any]], wanted: set[str]) -> set[str]:
    """The ``cio_event_id`` values among ``wanted`` found in Brevo's ``GET /events`` items."""
    found: set[str] = set()
    for item in brevo_events:
        props = item.get("event_properties")
        if isinstance(props, str):  # tolerate a JSON-encoded properties string
            try:
                props = json.loads(props)
            except ValueError:
                props = None
        if isinstance(props, Mapping):
            key = props.get(SOURCE_ID_PROPERTY)
            if isinstance(key, str) and key in wanted:
                found.add(key)
    return found
