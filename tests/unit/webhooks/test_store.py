"""The durable event store / outbox (SQLite file and a generic SQLAlchemy engine)."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from airflow_provider_customerio.webhooks.store import (
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
    s = EventStore(engine, table="custom_events", sqlite_fast_path=False)
    assert not s.sqlite_fast_path
    assert s.add([ev(1), ev(1), ev(2)]) == {"E0001", "E0002"}
    assert s.add([ev(2)]) == set()
    assert sa.inspect(engine).has_table("custom_events") and sa.inspect(engine).has_table("custom_events_meta")
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
    from airflow_provider_customerio.webhooks.store import StoreError

    airflow_conn("not_sql", conn_type="http", host="example.com")
    with pytest.raises(StoreError, match="not a SQL connection"):
        EventStore.from_conn_id("not_sql")


def test_bad_table_name_is_refused(tmp_path):
    from airflow_provider_customerio.webhooks.store import StoreError

    with pytest.raises(StoreError, match="identifier"):
        EventStore(sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}"), table="events; DROP TABLE x")


def test_generic_path_handles_a_concurrent_insert_of_the_same_id(tmp_path, monkeypatch):
    """Between the read of existing ids and the insert, another writer stores one of them: read again."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'race.db'}")
    s = EventStore(engine, sqlite_fast_path=False)
    other = EventStore(sa.create_engine(f"sqlite:///{tmp_path / 'race.db'}"), sqlite_fast_path=False)
    real = EventStore._existing
    calls = {"n": 0}

    def racing(self, conn, ids):
        found = real(self, conn, ids)
        calls["n"] += 1
        if calls["n"] == 1:
            other.add([ev(2)])  # lands first, in its own transaction
        return found

    monkeypatch.setattr(EventStore, "_existing", racing)
    assert s.add([ev(1), ev(2)]) == {"E0001"}
    assert calls["n"] >= 2 and s.counts()["pending"] == 2
    s.dispose()
    other.dispose()


def test_a_stale_try_marks_nothing_once_its_lease_was_taken_over(tmp_path):
    """On the sync store's database the event store is fenced by the events sync's lease: a try whose lease was
    taken over (it stalled) can neither claim rows for a send nor record an outcome, and commits nothing."""
    import contextvars

    from airflow_provider_customerio.store import LeaseLost, LeaseOwner, SyncStore

    sync_store = SyncStore.at(tmp_path / "store.db")
    events = EventStore(sync_store.engine)
    events.fenced = True
    events.add([ev(1), ev(2)])
    with pytest.raises(LeaseLost), sync_store.leased("events:sync", LeaseOwner("R of d", "forward", 1), ttl=60):
        events.mark_in_flight({"E0002": {"event_name": "X"}}, "batch-1")  # try 1 holds the lease: its marks commit
        events.mark({"E0002": (SENT, None)})
        retry = LeaseOwner("R of d", "forward", 2)
        contextvars.Context().run(sync_store.acquire, "events:sync", retry, ttl=60)  # try 1 stalled; try 2 took over
        with pytest.raises(LeaseLost, match="'events:sync' was taken over"):
            events.mark_in_flight({"E0001": {"event_name": "Y"}}, "batch-2")
        with pytest.raises(LeaseLost, match="'events:sync' was taken over"):
            events.mark({"E0001": (REJECTED, "stale"), "E0002": (PENDING, None)})
    counts = events.counts()
    assert (counts[PENDING], counts[SENT], counts[IN_FLIGHT], counts[REJECTED]) == (1, 1, 0, 0)
    stale = events.get("E0001")
    assert stale is not None and stale.batch_id is None and stale.attempts == 0 and stale.outbound is None
    assert events.get("E0002").batch_id == "batch-1"
