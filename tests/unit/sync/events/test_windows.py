"""The activity feed's window: backdated events keep their place, reading stops only after a run of older items."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.events.windows import activity_window, iter_window_activities


def test_window_filter_survives_backdated_events():
    feed = (
        [
            {"type": "event", "timestamp": 200, "id": "a"},
            {"type": "event", "timestamp": 10, "id": "backdated"},  # arrived late, older than the window
            {"type": "page", "timestamp": 150, "id": "not-an-event"},
            {"type": "event", "timestamp": 150, "id": "b"},
            {"type": "event", "timestamp": 300, "id": "future"},
        ]
        + [{"type": "event", "timestamp": 50, "id": f"old{i}"} for i in range(5)]
        + [{"type": "event", "timestamp": 120, "id": "never-read"}]
    )
    got = [a["id"] for a in iter_window_activities(feed, 100, 250, stop_after_older=5)]
    assert got == ["a", "b"]


def test_the_activity_window_comes_from_the_params_the_interval_or_the_watermark() -> None:
    interval = {"data_interval_start": "2026-01-01T00:00:00Z", "data_interval_end": "2026-01-01T00:05:00Z"}
    assert activity_window(None, None, interval, watermark="5", now=9e9) == (1767225600, 1767225900, "data interval")
    assert activity_window(None, None, {}, watermark=None, now=10_000.0)[:2] == (6400, 10_000)  # first manual run
    assert activity_window(None, None, {}, watermark="9000", now=10_000.0)[:2] == (9000, 10_000)
    assert activity_window(None, None, {}, watermark="10000", now=10_000.0)[:2] == (10_000, 10_000)  # empty, no error
    assert activity_window("100", None, interval, watermark=None, now=200.0)[:2] == (100, 200)
    with pytest.raises(ValueError, match="window_start .* must be before window_end"):
        activity_window(300, 200, {}, watermark=None, now=0)
