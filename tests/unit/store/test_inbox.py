"""The durable event store / outbox (SQLite file and a generic SQLAlchemy engine)."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from airflow_provider_customerio.store.inbox import (
    IN_FLIGHT,
    PENDING,
    REJECTED,
    SENT,
    SKIPPED,
    EventStore,
    StoredEvent,
)


def ev(i: int, source: str = "webhook") -> StoredEvent:
    return StoredEvent(
        event_id=f"E{i:04d}",
        source=source,
        payload=json.dumps({"event_id": f"E{i:04d}"}),
        event_ts=1_700_000_000 + i,
        received_at=1000.0 + i,
    )


@pytest.fixture
def store(tmp_path):
    s = EventStore.sqlite(tmp_path / "events.db")
    yield s
    s.dispose()


def test_add_dedupes_on_event_id_across_and_within_calls(store):
    assert store.add([ev(1), ev(2), ev(1)]) == {"E0001", "E0002"}
    assert store.add([ev(2), ev(3)]) == {"E0003"}
    assert store.counts()[PENDING] == 3


def test_rows_survive_reopening_the_file(tmp_path):
    path = tmp_path / "events.db"
    first = EventStore.sqlite(path)
    first.add([ev(1), ev(2)])
    first.mark_in_flight({"E0002": {"event_name": "X"}}, "batch-1")
    first.dispose()
    second = EventStore.sqlite(path)
    assert [r.event_id for r in second.fetch(PENDING)] == ["E0001"]
    in_flight = second.in_flight()
    assert list(in_flight) == ["batch-1"]
    row = in_flight["batch-1"][0]
    assert row.outbound_json() == {"event_name": "X"} and row.attempts == 1
    second.dispose()


def test_sqlite_file_is_durable_wal_full_sync(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_status_transitions_and_counts(store):
    store.add([ev(i) for i in range(5)])
    store.mark_in_flight({"E0000": {"a": 1}, "E0001": {"a": 2}}, "b1")
    store.mark({"E0002": (SKIPPED, "unmapped_event"), "E0003": (REJECTED, "missing_identifier")})
    assert store.counts() == {PENDING: 1, IN_FLIGHT: 2, SENT: 0, REJECTED: 1, SKIPPED: 1}
    store.mark({"E0000": (SENT, None), "E0001": (PENDING, None)})
    back = store.get("E0001")
    assert back is not None and back.status == PENDING and back.batch_id is None
    assert store.get("E0000").status == SENT  # type: ignore[union-attr]
    assert store.get("E0003").reason == "missing_identifier"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown status"):
        store.mark({"E0000": ("delivered", None)})


def test_fetch_is_oldest_first_and_limited(store):
    store.add([ev(3), ev(1), ev(2)])
    assert [r.event_id for r in store.fetch(PENDING, limit=2)] == ["E0001", "E0002"]


def test_purge_keeps_pending_and_recent_rows(tmp_path):
    now = [10_000.0]
    s = EventStore.sqlite(tmp_path / "p.db", clock=lambda: now[0])
    s.add([ev(1), ev(2), ev(3)])
    s.mark({"E0001": (SENT, None), "E0002": (SKIPPED, "x")})
    now[0] += 100
    s.mark({"E0003": (REJECTED, "y")})
    assert s.purge(50) == 2  # E0001 and E0002 are 100 s old; E0003 is fresh
    assert s.get("E0001") is None and s.get("E0003") is not None
    s.dispose()


def test_meta_values(store):
    assert store.get_meta("w") is None
    store.set_meta("w", "1")
    store.set_meta("w", "2")
    assert store.get_meta("w") == "2"


def test_generic_sqlalchemy_engine_works_too(tmp_path):
    """The portable SQLAlchemy path used for any non-SQLite database (exercised here on a plain SQLite engine)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'generic.db'}")
    s = EventStore(engine, sqlite_fast_path=False)
    assert not s.sqlite_fast_path
    assert s.add([ev(1), ev(1), ev(2)]) == {"E0001", "E0002"}
    assert s.add([ev(2)]) == set()
    tables = sa.inspect(engine).get_table_names()
    assert "customerio_webhook_events" in tables and "customerio_webhook_events_meta" in tables
    s.dispose()


def test_concurrent_writers_store_each_event_once(tmp_path):
    """Two stores on one file (the api-server and a worker), many threads adding overlapping ids."""
    path = tmp_path / "c.db"
    stores = [EventStore.sqlite(path), EventStore.sqlite(path)]
    inserted: list[set[str]] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        got = stores[k % 2].add([ev(i) for i in range(k, k + 20)])
        with lock:
            inserted.append(got)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [i for s in inserted for i in s]
    assert len(all_ids) == len(set(all_ids)) == 27  # ids 0..26, each inserted by exactly one call
    assert stores[0].counts()[PENDING] == 27
    for s in stores:
        s.dispose()


def test_default_is_the_sync_stores_file_under_airflow_home(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    store = EventStore.sqlite()
    store.add([ev(1)])
    assert store.engine.url.database == str(tmp_path / "customerio_sync" / "state.db")
    store.dispose()


def test_from_conn_id_refuses_a_non_sql_connection(airflow_conn):
    from airflow_provider_customerio.store.inbox import StoreError

    airflow_conn("not_sql", conn_type="http", host="example.com")
    with pytest.raises(StoreError, match="not a SQL connection"):
        EventStore.from_conn_id("not_sql")


def _inbox_as_created_before_migrations(engine: sa.Engine) -> None:
    """The inbox's tables exactly as provider versions before the inbox's migration made them (their own
    ``MetaData.create_all``, outside the store's versions), with one event and one watermark in them."""
    md = sa.MetaData()
    events = sa.Table(
        "customerio_webhook_events",
        md,
        sa.Column("event_id", sa.String(191), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("event_ts", sa.BigInteger, nullable=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=True),
        sa.Column("outbound", sa.Text, nullable=True),
        sa.Column("status_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Index("ix_customerio_webhook_events_status", "status", "received_at"),
    )
    meta = sa.Table(
        "customerio_webhook_events_meta",
        md,
        sa.Column("name", sa.String(191), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            events.insert().values(
                event_id="OLD1",
                source="webhook",
                event_ts=1,
                received_at=1.0,
                payload="{}",
                status=PENDING,
                status_at=1.0,
                attempts=0,
            )
        )
        conn.execute(meta.insert().values(name="activity_window_end", value="123", updated_at=1.0))


@pytest.mark.parametrize("store_before", ["sync store at version 9", "inbox only (its own database)"])
def test_an_inbox_made_by_create_all_is_adopted_by_the_migration(tmp_path, store_before):
    """A database whose inbox tables an earlier provider created outside the migrations upgrades cleanly: the
    inbox's migration adopts the tables (their rows stay, nothing is recreated) and records the store's version."""
    from airflow_provider_customerio.store import schema

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    if store_before.startswith("sync store"):
        assert schema.migrate(engine, schema.MIGRATIONS[:9]) == 9
    _inbox_as_created_before_migrations(engine)

    inbox = EventStore(engine)
    with engine.connect() as conn:
        assert schema.current_version(conn) == schema.LATEST
        described = conn.execute(sa.select(schema.store_version.c.description)).scalars().all()
    assert any("webhook inbox" in d for d in described)
    old = inbox.get("OLD1")
    assert old is not None and old.status == PENDING and old.event_ts == 1
    assert inbox.get_meta("activity_window_end") == "123"
    assert inbox.add([ev(1), StoredEvent(event_id="OLD1", source="webhook", payload="{}")]) == {"E0001"}
    assert inbox.counts()[PENDING] == 2
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("customerio_webhook_events")}
    assert indexes == {"ix_customerio_webhook_events_status"}
    inbox.dispose()


def test_a_new_database_gets_the_inbox_from_the_migrations(tmp_path):
    from airflow_provider_customerio.store import schema

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    EventStore(engine).dispose()
    with engine.connect() as conn:
        assert schema.current_version(conn) == schema.LATEST
    assert {"customerio_webhook_events", "customerio_webhook_events_meta", "store_version"} <= set(
        sa.inspect(engine).get_table_names()
    )


def test_webhook_payloads_of_a_time_range_are_read_in_pages(store):
    events = [ev(i) for i in range(7)]  # event_ts 1_700_000_000 + i
    events.append(StoredEvent(event_id="bad", source="webhook", payload="not json", event_ts=1_700_000_003))
    events.append(StoredEvent(event_id="act", source="activity", payload="{}", event_ts=1_700_000_003))
    store.add(events)
    got = list(store.iter_webhook_payloads(1_700_000_001, 1_700_000_005, page=2))
    assert [p["event_id"] for p in got] == ["E0001", "E0002", "E0003", "E0004", "E0005"]
