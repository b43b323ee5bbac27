"""The sync store on a real PostgreSQL (throw-away cluster on 127.0.0.1): the same contract as on SQLite, the webhook
event store and the metrics table on the same database, reached through the Airflow connection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_customerio.store.engine import dispose_all
from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.reporting import store_for
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.campaigns import MetricRow
from tests import store_contract as contract
from tests.postgres_server import PostgresUnavailable, temporary_postgres

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    try:
        with temporary_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture
def store(pg: Any, airflow_conn: Any, request: pytest.FixtureRequest) -> Iterator[SyncStore]:
    db = "s_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    pg.psql(f"CREATE DATABASE {db}")
    airflow_conn("customerio_sync_store", conn_type="postgres", host="127.0.0.1", port=pg.port, login="cio", schema=db)
    dispose_all()
    s = SyncStore.open()
    assert s.engine.dialect.name == "postgresql"
    yield s
    dispose_all()


def test_state_roundtrip(store: SyncStore) -> None:
    contract.check_migrated(store.engine)
    contract.check_state_roundtrip(store)


def test_ledger_and_objects(store: SyncStore) -> None:
    contract.check_ledger_and_objects(store)


def test_leases(store: SyncStore) -> None:
    contract.check_leases(store)
    contract.check_concurrent_lease_has_one_winner(store)


def test_request_budget(store: SyncStore) -> None:
    """Brevo's hourly budget per account: the contract, and four reservers on four engines at once (the rows are
    read ``FOR UPDATE`` and moved by a conditional update: no window holds more than the budget)."""
    contract.check_request_budget(store)
    url = store.engine.url.render_as_string(hide_password=False)
    contract.check_concurrent_request_budget(lambda: SyncStore(sa.create_engine(url)))


def test_a_retry_takes_the_lease_over_and_the_stale_try_commits_nothing(store: SyncStore) -> None:
    contract.check_fencing(store)


def test_import_slots(store: SyncStore) -> None:
    contract.check_import_slots(store)
    contract.check_concurrent_import_slot_has_one_winner(store)


def test_webhook_events_and_metrics_live_in_the_same_database(store: SyncStore) -> None:
    events = EventStore(store.engine)
    rows = [StoredEvent(f"E{i}", "webhook", json.dumps({"event_id": f"E{i}"}), 1_700_000_000 + i) for i in range(5)]
    assert events.add(rows + rows[:2]) == {f"E{i}" for i in range(5)}
    assert events.add(rows) == set()  # stored once
    assert events.counts()["pending"] == 5
    metrics = store_for(None, engine=store.engine)
    metrics.ensure_table()
    row = MetricRow(
        1,
        date(2026, 11, 20),
        "campaign:v2:UTC",
        "Camp",
        {"sent": 3, "delivered": 2, "opened": 1, "clicked": 0, "human_opened": None},
    )
    metrics.upsert([row], updated_at="t1")
    metrics.upsert([row], updated_at="t1")
    assert metrics.count() == 1
    metrics.close()


@pytest.mark.parametrize("driver", ["postgresql+psycopg2", "postgresql+asyncpg"])
def test_store_through_a_sqlalchemy_uri(pg: Any, monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    """``AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE=postgresql+psycopg2://...`` (a SQLAlchemy-style URI, as many deployments
    write it; ``+asyncpg`` is mapped to the synchronous psycopg2) reaches the same PostgreSQL store."""
    db = "s_uri_" + driver.rsplit("+", 1)[1]
    pg.psql(f"CREATE DATABASE {db}")
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE", pg.url(db, driver=driver))
    dispose_all()
    try:
        s = SyncStore.open()
        assert (s.engine.dialect.name, s.engine.dialect.driver) == ("postgresql", "psycopg2")
        contract.check_migrated(s.engine)
        contract.check_state_roundtrip(s)
        # the rows are in that database, seen from outside the provider
        tables = {row[0] for row in pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", db)}
        assert "identity" in tables
    finally:
        dispose_all()


@pytest.mark.parametrize("store_before", ["sync store at version 9", "inbox only"])
def test_an_inbox_made_by_create_all_is_adopted_by_the_migration_on_postgres(pg: Any, store_before: str) -> None:
    """On PostgreSQL too, a database whose inbox tables an earlier provider created outside the migrations (the old
    ``create_all``) upgrades cleanly: the inbox migration adopts them, rows and index, and records the version."""
    import sqlalchemy as sa

    from airflow_provider_customerio.store import schema
    from airflow_provider_customerio.store.inbox import PENDING
    from tests.unit.store.test_inbox import _inbox_as_created_before_migrations

    db = "s_adopt_" + store_before.split()[0]
    pg.psql(f"CREATE DATABASE {db}")
    engine = sa.create_engine(pg.url(db))
    try:
        if store_before.startswith("sync store"):
            assert schema.migrate(engine, schema.MIGRATIONS[:9]) == 9
        _inbox_as_created_before_migrations(engine)
        inbox = EventStore(engine)
        with engine.connect() as conn:
            assert schema.current_version(conn) == schema.LATEST
        old = inbox.get("OLD1")
        assert old is not None and old.status == PENDING and inbox.get_meta("activity_window_end") == "123"
        new = StoredEvent("E1", "webhook", "{}", 1)
        assert inbox.add([new, StoredEvent("OLD1", "webhook", "{}")]) == {"E1"}
        indexes = {i["name"] for i in sa.inspect(engine).get_indexes("customerio_webhook_events")}
        assert indexes == {"ix_customerio_webhook_events_status"}
        assert EventStore(engine).counts()[PENDING] == 2  # opened again: nothing to migrate
    finally:
        engine.dispose()


def test_bulk_writes_take_one_unnest_statement_per_page(pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On psycopg2 every bulk write is ``INSERT ... SELECT * FROM unnest(arrays)``, paged: text with quotes,
    braces, backslashes and non-ASCII, NULLs, floats and big integers survive; ``insert_new`` returns the keys."""
    import sqlalchemy as sa

    from airflow_provider_customerio.store import _sql
    from tests.unit.store.test_sql import BULK, BULK_COLS, check_bulk_paths

    pg.psql("CREATE DATABASE s_bulk")
    engine = sa.create_engine(pg.url("s_bulk"))
    calls: list[int] = []
    real = _sql._pg_unnest

    def spy(conn: Any, table: Any, cols: Any, values: Any, *args: Any, **kw: Any) -> Any:
        out = real(conn, table, cols, values, *args, **kw)
        assert out is not False, "the unnest path was not taken"
        calls.append(len(values))
        return out

    monkeypatch.setattr(_sql, "_pg_unnest", spy)
    try:
        check_bulk_paths(engine, monkeypatch)
        with engine.begin() as conn:
            got = _sql.insert_new_values(conn, BULK, BULK_COLS, [("k0", 1, 1.0, None), ("new", None, 2.0, "x")], "k")
        assert got == {"new"} and calls and calls[0] == 7
    finally:
        engine.dispose()


def test_field_digests_and_own_writes_merge_per_field_in_one_row_per_person(store: SyncStore) -> None:
    contract.check_per_person_field_state(store)


def test_per_field_rows_move_into_one_row_per_person_on_postgres(pg: Any) -> None:
    """A PostgreSQL store at version 10 keeps its field digests and own writes through migration 12 (the rows
    read through a server-side cursor while the new rows are written in the same transaction)."""
    import sqlalchemy as sa

    from airflow_provider_customerio.store import schema
    from airflow_provider_customerio.store.state import TO_BREVO, OwnWrite, StateStore

    pg.psql("CREATE DATABASE s_move")
    engine = sa.create_engine(pg.url("s_move"))
    try:
        assert schema.migrate(engine, schema.MIGRATIONS[:10]) == 10
        with engine.begin() as conn:
            conn.execute(
                schema.field_state.insert(),
                [
                    {"cio_id": f"c{i}", "field": f, "digest": f"d{i}{f}", "synced_at": 1.0}
                    for i in range(12)
                    for f in "AB"
                ],
            )
            conn.execute(
                schema.own_write.insert(),
                [{"direction": TO_BREVO, "cio_id": "c1", "field": "A", "value": '{"x": [1, null]}', "written_at": 5.0}],
            )
        st = StateStore(engine)
        assert st.get_field_digests(["c0", "c11"]) == {
            "c0": {"A": "d0A", "B": "d0B"},
            "c11": {"A": "d11A", "B": "d11B"},
        }
        assert st.get_own_writes(TO_BREVO, ["c1"]) == {"c1": {"A": OwnWrite({"x": [1, None]}, 5.0)}}
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(schema.field_state)).scalar() == 0
    finally:
        engine.dispose()


def test_reads_by_key_probe_the_primary_key_on_a_table_not_analysed_yet(pg: Any) -> None:
    """``get_hashes`` on a table the run just filled (no statistics yet) probes the primary key once per key: with
    ``IN``/``= ANY`` PostgreSQL read every row of the direction through the leading index column and filtered."""
    import sqlalchemy as sa

    from airflow_provider_customerio.store import _sql
    from airflow_provider_customerio.store.schema import content_hash
    from airflow_provider_customerio.store.state import StateStore

    pg.psql("CREATE DATABASE s_probe")
    engine = sa.create_engine(pg.url("s_probe"))
    try:
        st = StateStore(engine)
        st.set_hashes("d", [(f"k{i}", f"h{i}") for i in range(5000)])
        st.set_hashes("other", [("k1", "x")])
        assert st.get_hashes("d", ["k1", "k4999", "nope", "k1"]) == {"k1": "h1", "k4999": "h4999"}
        seen: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        with engine.connect() as conn:
            rows = _sql.rows_by_key(
                conn, content_hash, ("person_key", "hash"), {"direction": "d"}, "person_key", ["k2"]
            )
            assert [tuple(r) for r in rows] == [("k2", "h2")]
            plan = "\n".join(
                r[0] for r in conn.exec_driver_sql("EXPLAIN " + seen[-1], {"direction": "d", "keys": ["k2"]})
            )
        assert "Index Scan using content_hash_pkey" in plan and "person_key" in plan.split("Index Cond")[1], plan
    finally:
        engine.dispose()
