"""The window of an incremental run (sync/people/window.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_customerio.sync.people.ports import PeopleSyncError
from airflow_provider_customerio.sync.people.window import parse_since, resolve_window
from tests.unit.sync.people.fakes import T0


def test_window_resolution():
    now = T0 + timedelta(days=3)
    assert (
        resolve_window(
            mode="full", data_interval_start=None, data_interval_end=None, since=None, now=now, watermark=None
        )
        is None
    )
    w = resolve_window(
        mode="incremental",
        data_interval_start=T0,
        data_interval_end=T0 + timedelta(hours=1),
        since=None,
        now=now,
        watermark=None,
    )
    assert (w.start, w.end) == (T0, T0 + timedelta(hours=1))
    w = resolve_window(
        mode="incremental",
        data_interval_start=None,
        data_interval_end=None,
        since="2024-01-02",
        now=now,
        watermark=None,
    )
    assert w.start == T0 + timedelta(days=1) and w.end == now
    w = resolve_window(
        mode="incremental",
        data_interval_start=None,
        data_interval_end=None,
        since=None,
        now=now,
        watermark=T0.isoformat(),
    )
    assert w.start == T0
    with pytest.raises(PeopleSyncError, match="no data interval.*`since`"):
        resolve_window(
            mode="incremental", data_interval_start=None, data_interval_end=None, since=None, now=now, watermark=None
        )
    with pytest.raises(PeopleSyncError, match="CronDataIntervalTimetable"):
        resolve_window(
            mode="incremental", data_interval_start=T0, data_interval_end=T0, since=None, now=now, watermark=None
        )
    with pytest.raises(PeopleSyncError, match="YYYY-MM-DD"):
        resolve_window(
            mode="incremental", data_interval_start=None, data_interval_end=None, since="soon", now=now, watermark=None
        )


def test_since_as_a_date_a_naive_or_an_aware_time():
    assert parse_since("2024-01-01") == T0
    assert parse_since("2024-01-01T02:00:00") == T0 + timedelta(hours=2)
    assert parse_since(datetime(2024, 1, 1, 3, tzinfo=timezone(timedelta(hours=1)))) == T0 + timedelta(hours=2)
    with pytest.raises(PeopleSyncError, match="`since` = `yesterday` is not a date"):
        parse_since("yesterday")


def test_unknown_mode_names_both_modes():
    with pytest.raises(PeopleSyncError, match="use `incremental` or `full`"):
        resolve_window(
            mode="delta", data_interval_start=None, data_interval_end=None, since=None, now=T0, watermark=None
        )
