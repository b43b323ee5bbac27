"""The reporting table (``store/reporting.py``) on SQLite: the store's engine and a real common-sql DbApiHook's
engine, same behaviour. The PostgreSQL run is in ``tests/integration/test_campaign_metrics_postgres.py``."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.providers.common.sql.hooks.sql import DbApiHook

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.store.reporting import (
    COLUMNS,
    MetricsStore,
    check_table_name,
    hook_store,
    metrics_table,
    sqlite_store,
    store_for,
)
from airflow_provider_customerio.sync.campaigns import METRIC_COLUMNS, MetricRow


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

    def get_uri(self) -> str:
        return f"sqlite:///{self.path}"


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
    with pytest.raises(sa.exc.IntegrityError):
        s.upsert([row(1, "2026-11-20", 1), bad], updated_at="t")
    assert s.count() == 0


@pytest.mark.parametrize("name", ["1abc", "a-b", "a;drop table x", "", "x" * 64, "schema.table"])
def test_table_names_are_plain_identifiers(name: str) -> None:
    with pytest.raises(ConfigError, match="campaigns.table"):
        check_table_name(name)


def test_the_table_is_declared_on_core_with_the_key_and_quoted_names(tmp_path: Path) -> None:
    """The DDL comes from SQLAlchemy Core: the primary key is the upsert's key, no autoincrement, and a name that
    is a reserved word on some database (``date``) is quoted by the dialect where needed."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    t = metrics_table("t")
    assert [c.name for c in t.primary_key.columns] == ["campaign_id", "date", "source"]
    assert [c.name for c in t.columns] == list(COLUMNS)
    ddl = str(CreateTable(t).compile(dialect=postgresql.dialect()))
    assert "PRIMARY KEY (campaign_id, date, source)" in ddl and "SERIAL" not in ddl and "AUTOINCREMENT" not in ddl
    assert "campaign_id BIGINT NOT NULL" in ddl and "date DATE NOT NULL" in ddl


def test_a_table_made_by_the_earlier_ddl_keeps_working(tmp_path: Path) -> None:
    """A table created by earlier provider versions (their hand-written ``CREATE TABLE``, dates stored as text
    ``YYYY-MM-DD`` on SQLite) is read and upserted as before."""
    path = tmp_path / "old.db"
    metric_cols = ", ".join(f"{m} BIGINT" for m in METRIC_COLUMNS)
    old_ddl = (  # the earlier provider's create_table_sql("customerio_campaign_metrics"), verbatim
        "CREATE TABLE IF NOT EXISTS customerio_campaign_metrics (campaign_id BIGINT NOT NULL, date DATE NOT NULL, "
        f"source VARCHAR(64) NOT NULL, name VARCHAR(1024), {metric_cols}, row_hash VARCHAR(64) NOT NULL, "
        "updated_at VARCHAR(40) NOT NULL, PRIMARY KEY (campaign_id, date, source))"
    )
    with sqlite3.connect(path) as db:
        db.execute(old_ddl)
        db.execute(
            "INSERT INTO customerio_campaign_metrics (campaign_id, date, source, name, sent, row_hash, updated_at) "
            "VALUES (1, '2026-11-20', 'campaign:v2:UTC', 'Camp', 1, 'h-old', 't0')"
        )
    s = sqlite_store(path)
    s.ensure_table()
    assert s.existing_hashes(1, "campaign:v2:UTC", "2026-11-20", "2026-11-20") == {"2026-11-20": "h-old"}
    s.upsert([row(1, "2026-11-20", 7)], updated_at="t1")
    assert s.count() == 1
    assert sqlite3.connect(path).execute("SELECT date, sent FROM customerio_campaign_metrics").fetchall() == [
        ("2026-11-20", 7)
    ]


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
    """A racing creator: another task creates the table between the check and the CREATE, so the CREATE fails;
    the table exists, so ensure_table succeeds. A CREATE that fails without a table raises its error."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    s = MetricsStore(engine)
    calls = {"n": 0}

    def other_task_wins(target: sa.Table, connection: Any, **kw: Any) -> None:
        calls["n"] += 1
        with sqlite3.connect(tmp_path / "m.db") as other:
            other.execute(f"CREATE TABLE {target.name} (campaign_id BIGINT)")

    sa.event.listen(s.t, "before_create", other_task_wins)
    s.ensure_table()
    assert calls["n"] == 1 and s.count() == 0

    def permission_denied(target: sa.Table, connection: Any, **kw: Any) -> None:
        raise sa.exc.OperationalError("CREATE TABLE other", {}, Exception("permission denied for schema public"))

    failing = MetricsStore(engine, table="other")
    sa.event.listen(failing.t, "before_create", permission_denied)
    with pytest.raises(sa.exc.OperationalError, match="permission denied"):
        failing.ensure_table()


def test_a_day_of_a_date_subclass_is_stored(tmp_path: Path) -> None:
    """Airflow's context dates are pendulum ``Date``s (a ``date`` subclass the SQLite driver does not bind)."""
    import pendulum

    s = sqlite_store(tmp_path / "m.db")
    s.ensure_table()
    day = pendulum.Date(2026, 11, 20)
    s.upsert([MetricRow(1, day, "campaign:v2:UTC", "Camp", {"sent": 1})], updated_at="t")
    assert [r["date"] for r in s.fetch("2026-11-20", "2026-11-20")] == ["2026-11-20"]


def test_the_store_is_the_campaign_syncs_port(tmp_path: Path) -> None:
    from airflow_provider_customerio.sync.campaigns import MetricsStorePort

    port: MetricsStorePort = sqlite_store(tmp_path / "m.db")
    wanted = {n for n in vars(MetricsStorePort) if not n.startswith("_")}
    assert wanted and wanted <= set(dir(port))
