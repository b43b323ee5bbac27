"""One events run over fake ports and a real outbox: the activity window and its watermark, the dry-run plan, and a
feed failure that still forwards the stored events."""

from __future__ import annotations

import json
from typing import Any

import pendulum
import pytest

from airflow_provider_customerio.exceptions import ServerError
from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.events.mapping import EventMapper
from airflow_provider_customerio.sync.events.run import EventsRun, EventsSettings
from airflow_provider_customerio.sync.events.windows import ACTIVITY_WATERMARK, iter_window_activities
from tests.unit.sync.events.fakes import ACTIVITY, FakeBrevo, webhook_rows

MAPPER = EventMapper({"email_opened": "EMAIL_OPENED", "purchase_completed": "PURCHASE"})


class FakeFeed:
    """The activity feed: ``activities`` newest first; ``fail`` makes the next read raise it."""

    def __init__(self, activities: list[dict[str, Any]], fail: Exception | None = None) -> None:
        self.activities = activities
        self.fail = fail
        self.reads: list[tuple[int, int]] = []

    def _rows(self, start: int, end: int) -> list[StoredEvent]:
        self.reads.append((start, end))
        if self.fail is not None:
            raise self.fail
        return [
            StoredEvent(f"activity:{a['id']}", "activity", json.dumps(a), int(a["timestamp"]))
            for a in iter_window_activities(self.activities, start, end)
        ]

    def ingest(self, store: EventStore, start: int, end: int) -> tuple[int, int]:
        rows = self._rows(start, end)
        return len(rows), len(store.add(rows))

    def unseen(self, store: EventStore, start: int, end: int, known: set[str]) -> list[StoredEvent]:
        return [r for r in self._rows(start, end) if r.event_id not in known and store.get(r.event_id) is None]


def make_run(store: EventStore, feed: FakeFeed | None, brevo: FakeBrevo | None = None, **settings: Any) -> EventsRun:
    return EventsRun(
        store=store,
        sink=brevo or FakeBrevo(),
        feed=feed,
        mapper=MAPPER,
        settings=EventsSettings(**{"lookback_seconds": 0, "reconcile_grace_seconds": 0, **settings}),
        context=settings.pop("context", {}),
        now=lambda: 10_000.0,
    )


def test_the_window_comes_from_the_params_the_interval_or_the_store_watermark(outbox: EventStore) -> None:
    ctx = {
        "data_interval_start": pendulum.datetime(2026, 1, 1, 0, 0, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 1, 1, 0, 5, tz="UTC"),
    }
    run = EventsRun(store=outbox, sink=FakeBrevo(), feed=None, mapper=MAPPER, settings=EventsSettings(), context=ctx)
    assert run.window() == (1767225600, 1767225900, "data interval")
    assert run.summary.window_start == "2026-01-01T00:00:00+00:00"
    assert make_run(outbox, None).window()[:2] == (6400, 10_000)  # first manual run: the last hour
    outbox.set_meta(ACTIVITY_WATERMARK, "9000")
    assert make_run(outbox, None).window()[:2] == (9000, 10_000)  # then from the watermark
    assert make_run(outbox, None, window_start="1970-01-01T02:00:00Z").window()[:2] == (7200, 10_000)
    with pytest.raises(ValueError, match="must be before"):
        make_run(outbox, None, window_start="1970-01-01T03:00:00Z", window_end="1970-01-01T02:00:00Z").window()
    with pytest.raises(ValueError, match="window_start"):
        make_run(outbox, None, window_start="next tuesday").window()


def test_a_run_ingests_its_window_moves_the_watermark_and_forwards(outbox: EventStore, tmp_path) -> None:
    outbox.add(webhook_rows(2))
    feed = FakeFeed([{**ACTIVITY, "timestamp": 9500}, {**ACTIVITY, "id": "old", "timestamp": 100}])
    brevo = FakeBrevo()
    with SyncStore.at(tmp_path / "s.db").ledger("d", "r", "t") as ledger:
        out = make_run(outbox, feed, brevo, window_start=9000, window_end=10_000).forward(ledger)
    assert (out["activities_read"], out["activities_new"], out["created"]) == (1, 1, 3)
    assert sorted(brevo.ids()) == ["W00000", "W00001", f"activity:{ACTIVITY['id']}"]
    assert outbox.get_meta(ACTIVITY_WATERMARK) == "10000" and out["store"]["sent"] == 3 == sum(out["store"].values())
    assert out["window"]["start"] == "1970-01-01T02:30:00+00:00" and out["ledger"] is None


def test_a_feed_failure_forwards_the_stored_events_and_leaves_the_window_unread(outbox: EventStore, tmp_path) -> None:
    outbox.add(webhook_rows(1))
    outbox.set_meta(ACTIVITY_WATERMARK, "9000")
    run = make_run(outbox, FakeFeed([], fail=ServerError("feed down", status=503, api="customerio_app")))
    with SyncStore.at(tmp_path / "s.db").ledger("d", "r", "t") as ledger:
        out = run.forward(ledger)
    assert out["created"] == 1 and isinstance(run.feed_error, ServerError)
    assert outbox.get_meta(ACTIVITY_WATERMARK) == "9000"  # the next run re-reads the window


def test_a_dry_run_plans_stored_and_unseen_feed_events_and_writes_nothing(outbox: EventStore) -> None:
    outbox.add(webhook_rows(2) + webhook_rows(1, "bounced", start=5))
    feed = FakeFeed([{**ACTIVITY, "timestamp": 9500}])
    brevo = FakeBrevo()
    out = make_run(outbox, feed, brevo, window_start=9000, window_end=10_000).plan()
    assert out["dry_run"] is True and out["read"] == 4
    assert out["plan"]["send"] == 3 and out["plan"]["skip"] == {"unmapped_event": 1}
    assert out["plan"]["by_event"] == {"EMAIL_OPENED": 2, "PURCHASE": 1}
    assert (
        brevo.calls == 0
        and outbox.counts()["pending"] == 3 == sum(outbox.counts().values())
        and outbox.get_meta(ACTIVITY_WATERMARK) is None
    )
