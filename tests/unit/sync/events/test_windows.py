"""The activity feed's window: backdated events keep their place, reading stops only after a run of older items."""

from __future__ import annotations

from airflow_provider_customerio.sync.events.windows import iter_window_activities


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
