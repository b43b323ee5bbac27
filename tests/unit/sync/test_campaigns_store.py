"""The reporting table on SQLite: stdlib backend and a real common-sql DbApiHook backend, same behaviour."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.sql.metrics_store import (
    COLUMNS,
    MetricsStore,
    check_table_name,
    create_table_sql,
    hook_store,
    sqlite_store,
    store_for,
    upsert_sql,
)
from airflow_provider_customerio.sync.campaigns import MetricRow


def row(cid: int, day: str, sent: int, name: str = "Camp", source: str = "campaign:v2:UTC") -> MetricRow:
    return MetricRow(
        cid,
        date.fromisoformat(day),
        source,
        name,
        {"sent": sent, "delivered": sent - 1, "opened": 3, "clicked": 1, "human_opened": None},
    )


class SqliteFileHook(DbApiHook):
    """A real DbApiHook over a SQLite file (the SQLite provider is not installed in this environment)."""

    conn_name_attr = "sqlite_test_conn_id"
    default_conn_name = "sqlite_test_default"
    _placeholder = "?"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def get_conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)


@pytest.fixture(params=["stdlib", "dbapihook"])
def store(request: pytest.FixtureRequest, tmp_path: Path, airflow_conn: Any) -> MetricsStore:
    path = tmp_path / "metrics.db"
    airflow_conn("sqlite_test_default", conn_type="sqlite", host=str(path))
    s = sqlite_store(path) if request.param == "stdlib" else hook_store(SqliteFileHook(path))
    s.ensure_table()
    yield s
    s.close()


def test_upsert_is_keyed_by_campaign_date_and_source(store: MetricsStore) -> None:
    store.upsert([row(1, "2026-11-20", 10), row(1, "2026-11-21", 11), row(2, "2026-11-20", 20)], updated_at="t1")
    store.upsert([row(1, "2026-11-20", 10, source="campaign:v1:EST")], updated_at="t1")
    assert store.count() == 4
    store.upsert([row(1, "2026-11-20", 15), row(1, "2026-11-22", 12)], updated_at="t2")
    assert store.count() == 5
    recs = {(r["campaign_id"], r["date"], r["source"]): r for r in store.fetch("2026-11-01", "2026-11-30")}
    assert recs[(1, "2026-11-20", "campaign:v2:UTC")]["sent"] == 15
    assert recs[(1, "2026-11-20", "campaign:v2:UTC")]["updated_at"] == "t2"
    assert recs[(1, "2026-11-20", "campaign:v1:EST")]["sent"] == 10
    assert recs[(1, "2026-11-21", "campaign:v2:UTC")]["updated_at"] == "t1"
    assert recs[(1, "2026-11-21", "campaign:v2:UTC")]["human_opened"] is None


def test_existing_hashes_and_fetch_filters(store: MetricsStore) -> None:
    rows = [row(1, "2026-11-19", 9), row(1, "2026-11-20", 10), row(2, "2026-11-20", 20)]
    store.upsert(rows, updated_at="t")
    assert store.existing_hashes(1, "campaign:v2:UTC", "2026-11-20", "2026-11-30") == {
        "2026-11-20": rows[1].content_hash
    }
    assert store.existing_hashes(1, "campaign:v1:EST", "2026-11-01", "2026-11-30") == {}
    assert [r["campaign_id"] for r in store.fetch("2026-11-20", "2026-11-20", [2])] == [2]
    assert [r["date"] for r in store.fetch("2026-11-01", "2026-11-30", [1])] == ["2026-11-19", "2026-11-20"]


def test_same_upsert_twice_leaves_the_table_identical(store: MetricsStore) -> None:
    rows = [row(1, "2026-11-20", 10), row(1, "2026-11-21", 11)]
    store.upsert(rows, updated_at="t")
    before = store.fetch("2026-01-01", "2026-12-31")
    store.upsert(rows, updated_at="t")
    store.ensure_table()  # idempotent too
    assert store.fetch("2026-01-01", "2026-12-31") == before


def test_a_failed_batch_is_rolled_back(tmp_path: Path) -> None:
    s = sqlite_store(tmp_path / "m.db")
    s.ensure_table()
    bad = MetricRow(1, date(2026, 11, 21), "s", "x", {})
    object.__setattr__(bad, "campaign_id", None)  # NOT NULL violation in the second row
    with pytest.raises(sqlite3.IntegrityError):
        s.upsert([row(1, "2026-11-20", 1), bad], updated_at="t")
    assert s.count() == 0


@pytest.mark.parametrize("name", ["1abc", "a-b", "a;drop table x", "", "x" * 64, "schema.table"])
def test_table_names_are_plain_identifiers(name: str) -> None:
    with pytest.raises(ConfigError, match="campaigns.table"):
        check_table_name(name)


def test_sql_is_plain_portable_text() -> None:
    ddl = create_table_sql("t")
    assert "PRIMARY KEY (campaign_id, date, source)" in ddl and "AUTOINCREMENT" not in ddl
    sql = upsert_sql("t", "%s")
    assert sql.count("%s") == len(COLUMNS)
    assert "ON CONFLICT (campaign_id, date, source) DO UPDATE SET name = excluded.name" in sql
    assert "campaign_id = excluded" not in sql


def test_without_a_sql_connection_the_table_is_in_the_sync_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    s = store_for(None)
    s.ensure_table()
    s.upsert([row(1, "2026-11-20", 1)], updated_at="t")
    s.close()
    # the embedded store file under $AIRFLOW_HOME, which the sync state shares
    db = tmp_path / "customerio_sync" / "state.db"
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM customerio_campaign_metrics").fetchone()[0] == 1
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM store_version").fetchone()[0] >= 2


def test_sqlite_connection_without_provider_uses_its_host_path(airflow_conn: Any, tmp_path: Path) -> None:
    db = tmp_path / "reporting.db"
    airflow_conn("reporting_db", conn_type="sqlite", host=str(db))
    s = store_for("reporting_db", table="cio_metrics")
    s.ensure_table()
    s.upsert([row(1, "2026-11-20", 1)], updated_at="t")
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM cio_metrics").fetchone()[0] == 1
    s.close()


def test_a_non_sql_connection_is_refused_with_the_fix(airflow_conn: Any) -> None:
    airflow_conn("not_sql", conn_type="http", host="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="sql_conn_id"):
        store_for("not_sql")


def test_ensure_table_tolerates_a_table_created_meanwhile(tmp_path: Path) -> None:
    """A racing creator: the second CREATE fails, the table exists, so ensure_table succeeds."""
    calls = {"n": 0}
    path = tmp_path / "m.db"

    class RacingCursor:
        def __init__(self, cur: sqlite3.Cursor) -> None:
            self.cur = cur

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("CREATE TABLE") and calls["n"] == 0:
                calls["n"] += 1
                self.cur.execute(sql, *args)  # the other task wins the race
                raise sqlite3.OperationalError("duplicate key value violates unique constraint")
            return self.cur.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.cur, name)

    class RacingConn:
        def __init__(self) -> None:
            self.conn = sqlite3.connect(path)

        def cursor(self) -> RacingCursor:
            return RacingCursor(self.conn.cursor())

        def __getattr__(self, name: str) -> Any:
            return getattr(self.conn, name)

    s = MetricsStore(RacingConn, placeholder="?")
    s.ensure_table()
    assert calls["n"] == 1 and s.count() == 0
    calls["n"] = -100  # now CREATE fails without creating anything: the real error is raised

    class FailingCursor(RacingCursor):
        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("CREATE TABLE"):
                raise sqlite3.OperationalError("permission denied for schema public")
            return self.cur.execute(sql, *args)

    class FailingConn(RacingConn):
        def cursor(self) -> FailingCursor:
            return FailingCursor(self.conn.cursor())

    with pytest.raises(sqlite3.OperationalError, match="permission denied"):
        MetricsStore(FailingConn, placeholder="?", table="other").ensure_table()
