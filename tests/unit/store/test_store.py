"""The sync store on SQLite: the shared contract, upgrading a provider-0.1 state file, where the store lives."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.store.engine import StoreConfigError, dispose_all, store_engine, url_from_connection
from airflow_provider_customerio.store.schema import LATEST
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore
from tests import store_contract as contract

#: The schema provider 0.1 wrote to $AIRFLOW_HOME/customerio_sync/state.db (sync/state.py and sync/objects.py).
PROVIDER_0_1_SCHEMA = """
CREATE TABLE IF NOT EXISTS content_hash (
    direction TEXT NOT NULL, person_key TEXT NOT NULL, hash TEXT NOT NULL, synced_at REAL NOT NULL,
    PRIMARY KEY (direction, person_key));
CREATE TABLE IF NOT EXISTS identity (
    cio_id TEXT PRIMARY KEY, brevo_id INTEGER, email TEXT, ext_id TEXT, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS identity_email ON identity(email);
CREATE INDEX IF NOT EXISTS identity_ext_id ON identity(ext_id);
CREATE INDEX IF NOT EXISTS identity_brevo_id ON identity(brevo_id);
CREATE TABLE IF NOT EXISTS checkpoint (run_key TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS watermark (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS staged_item (
    run_key TEXT NOT NULL, seq INTEGER NOT NULL, item_key TEXT NOT NULL, kind TEXT NOT NULL, data TEXT,
    PRIMARY KEY (run_key, seq));
CREATE UNIQUE INDEX IF NOT EXISTS staged_item_key ON staged_item(run_key, item_key);
CREATE TABLE IF NOT EXISTS pending_process (
    run_key TEXT NOT NULL, process_id TEXT NOT NULL, attempt INTEGER NOT NULL, options TEXT NOT NULL,
    submitted_at REAL NOT NULL, PRIMARY KEY (run_key, process_id));
CREATE TABLE IF NOT EXISTS pending_row (
    run_key TEXT NOT NULL, process_id TEXT NOT NULL, seq INTEGER NOT NULL, person_key TEXT NOT NULL,
    hash TEXT NOT NULL, row TEXT NOT NULL, PRIMARY KEY (run_key, process_id, seq));
CREATE TABLE IF NOT EXISTS seen (run_key TEXT NOT NULL, person_key TEXT NOT NULL, PRIMARY KEY (run_key, person_key));
CREATE TABLE IF NOT EXISTS object_sync (
    brevo_type TEXT NOT NULL, object_id TEXT NOT NULL, hash TEXT NOT NULL, links TEXT NOT NULL,
    synced_at REAL NOT NULL, PRIMARY KEY (brevo_type, object_id));
CREATE TABLE IF NOT EXISTS object_reverse (
    brevo_type TEXT NOT NULL, object_id TEXT NOT NULL, hash TEXT NOT NULL, synced_at REAL NOT NULL,
    PRIMARY KEY (brevo_type, object_id));
"""


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "store.db")


def test_state_roundtrip(store: SyncStore) -> None:
    contract.check_state_roundtrip(store)


def test_ledger_and_objects(store: SyncStore) -> None:
    contract.check_ledger_and_objects(store)


def test_leases(store: SyncStore) -> None:
    contract.check_leases(store)


def test_concurrent_lease_has_one_winner(store: SyncStore) -> None:
    contract.check_concurrent_lease_has_one_winner(store)


def test_a_retry_takes_the_lease_over_and_the_stale_try_commits_nothing(store: SyncStore) -> None:
    contract.check_fencing(store)


def test_a_lease_fences_the_writes_to_its_own_store_only(store: SyncStore, tmp_path: Path) -> None:
    contract.check_fencing_is_per_store(store, SyncStore.at(tmp_path / "other.db"))


def test_import_slots(store: SyncStore) -> None:
    contract.check_import_slots(store)
    contract.check_concurrent_import_slot_has_one_winner(store)


def test_lease_of_a_dead_holder_lapses_and_a_live_one_is_renewed(store: SyncStore) -> None:
    contract.check_lease_of_a_dead_holder_lapses(store)
    contract.check_a_held_lease_is_renewed(store)


def test_a_provider_0_1_state_file_is_upgraded_in_place_without_losing_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(PROVIDER_0_1_SCHEMA)
    db.execute("INSERT INTO content_hash VALUES ('cio_to_brevo', 'c1', 'h1', 1.0)")
    db.execute("INSERT INTO identity VALUES ('c1', 7, 'a@example.com', '42', 1.0)")
    db.execute("INSERT INTO checkpoint VALUES ('d/r/t', '{\"offset\": 5}', 1.0)")
    db.execute("INSERT INTO staged_item VALUES ('d/r/t', 0, 'c1', 'upsert', NULL)")
    db.execute("INSERT INTO object_sync VALUES ('companies', 'o1', 'h', '{}', 1.0)")
    db.commit()
    db.close()

    store = SyncStore.at(path)
    contract.check_migrated(store.engine)
    st = store.state()
    assert st.get_hash(CIO_TO_BREVO, "c1") == "h1"
    assert st.get_identity("c1").brevo_id == 7
    assert st.get_checkpoint("d/r/t") == {"offset": 5}
    assert st.stage_items("d/r/t", [("c2", "upsert", None)]) == 1 and st.count_staged("d/r/t") == 2
    assert store.objects().get("companies", "o1").hash == "h"
    # the new tables work on the upgraded file
    with store.ledger("d", "r", "t") as led:
        led.reject(record_id="c9", reason="not_found", message="m", stage="hydrate")
    versions = sqlite3.connect(path).execute("SELECT version FROM store_version ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST + 1))


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            StateStore(path).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = sqlite3.connect(path).execute("SELECT version FROM store_version").fetchall()
    assert sorted(v for (v,) in versions) == list(range(1, LATEST + 1))


def test_the_store_connection_wins_over_the_embedded_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_conn
) -> None:
    dispose_all()
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert store_engine().url.database == str(tmp_path / "home" / "customerio_sync" / "state.db")
    airflow_conn("customerio_sync_store", conn_type="sqlite", host=str(tmp_path / "shared.db"))
    assert store_engine().url.database == str(tmp_path / "shared.db")
    dispose_all()


def test_a_local_file_on_a_distributed_executor_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dispose_all()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_customerio.store.engine"):
        store_engine("no_such_connection", tmp_path / "a.db")
        store_engine("no_such_connection", tmp_path / "a.db")
    warnings = [r for r in caplog.records if "not a local one" in r.getMessage()]
    assert len(warnings) == 1 and "customerio_sync_store" in warnings[0].getMessage()
    caplog.clear()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_customerio.store.engine"):
        store_engine("no_such_connection", tmp_path / "b.db")
    assert not [r for r in caplog.records if "not a local one" in r.getMessage()]
    dispose_all()


def test_connection_urls_and_clear_errors() -> None:
    class Conn:
        def __init__(self, conn_type: str, **kw: object) -> None:
            self.conn_id, self.conn_type = "customerio_sync_store", conn_type
            self.host, self.port, self.login, self.password, self.schema = (
                kw.get("host"),
                kw.get("port"),
                kw.get("login"),
                kw.get("password"),
                kw.get("schema"),
            )
            self.extra_dejson = kw.get("extra", {})

    url = url_from_connection(Conn("postgres", host="db", port=5432, login="u", password="p@ss", schema="sync"))
    assert url.drivername == "postgresql+psycopg2" and url.database == "sync" and url.password == "p@ss"
    assert url_from_connection(Conn("sqlite", host="/x/y.db")) == "sqlite:////x/y.db"
    assert url_from_connection(Conn("http", extra={"sqlalchemy_url": "sqlite://"})) == "sqlite://"
    with pytest.raises(StoreConfigError, match="customerio_sync_store.*type 'http'"):
        url_from_connection(Conn("http", host="x"))
    with pytest.raises(StoreConfigError, match="names no file"):
        url_from_connection(Conn("sqlite"))


def test_export_rejects_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_provider_customerio.store.__main__ import main

    store = SyncStore.at(tmp_path / "s.db")
    with store.ledger("dag", "run1", "t") as led:
        led.reject(record_id="c1", reason="invalid_email", message="m", stage="map")
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "--conn-id",
                "none_here",
                "--sqlite",
                str(tmp_path / "s.db"),
                "export-rejects",
                "--run-id",
                "run1",
                "--format",
                "csv",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "1 rejected records written" in capsys.readouterr().out
    assert out.read_text().splitlines()[1].split(",")[4] == "c1"


def test_a_version_2_store_upgrades_to_per_field_state_without_losing_state(tmp_path: Path) -> None:
    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.store.schema import MIGRATIONS, migrate

    path = tmp_path / "v2.db"
    engine = sqlite_engine(path)
    assert migrate(engine, MIGRATIONS[:2]) == 2
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO content_hash VALUES ('cio_to_brevo', 'c1', 'h1', 1.0)")
    db.commit()
    assert "field_state" not in {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()

    with StateStore(path) as st:
        assert st.get_hash(CIO_TO_BREVO, "c1") == "h1"
        st.set_field_digests([("c1", {"PLAN_NAME": "d1", "email": "d2"})])
        st.set_field_digests([("c1", {"PLAN_NAME": "d3"})])  # other fields are kept
        assert st.get_field_digests(["c1", "c2"]) == {"c1": {"PLAN_NAME": "d3", "email": "d2"}}
        st.forget_field_digests(["c1"])
        assert st.get_field_digests(["c1"]) == {}
    versions = sqlite3.connect(path).execute("SELECT version FROM store_version ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST + 1)) and LATEST >= 3


@pytest.mark.parametrize(
    ("uri", "drivername", "database"),
    [
        ("postgresql+psycopg2://cio:p%40ss@db.example:5433/sync", "postgresql+psycopg2", "sync"),
        # the store is synchronous: an asyncio driver is mapped to a synchronous one
        ("postgresql+asyncpg://cio@db.example/sync", "postgresql+psycopg2", "sync"),
        ("postgresql+psycopg://cio@db.example/sync", "postgresql+psycopg", "sync"),
        ("postgresql://cio@db.example/sync", "postgresql+psycopg2", "sync"),
        ("postgres://cio@db.example/sync", "postgresql+psycopg2", "sync"),
        ("mysql+pymysql://cio:pw@db.example/sync", "mysql+pymysql", "sync"),
        ("mysql+aiomysql://cio:pw@db.example/sync", "mysql+pymysql", "sync"),
        ("mysql://cio:pw@db.example/sync", "mysql+mysqldb", "sync"),
    ],
)
def test_store_connection_as_sqlalchemy_uri(
    uri: str, drivername: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE`` set to a SQLAlchemy-style URI (Airflow keeps ``dialect+driver`` as
    the connection type) gives the store's URL with a synchronous driver."""
    from airflow.sdk import BaseHook

    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE", uri)
    url = url_from_connection(BaseHook.get_connection("customerio_sync_store"))
    assert not isinstance(url, str)
    assert (url.drivername, url.database, url.host) == (drivername, database, "db.example")
    assert url.username == "cio"


def test_store_sqlite_uri_and_unknown_drivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import BaseHook

    db = tmp_path / "store.db"
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE", f"sqlite:///{db}")
    dispose_all()
    engine = store_engine()
    assert engine.dialect.name == "sqlite" and Path(engine.url.database or "") == db
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    assert db.exists()
    dispose_all()
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE", "sqlite+aiosqlite:///" + str(db))
    assert url_from_connection(BaseHook.get_connection("customerio_sync_store")) == f"sqlite:///{db}"
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE", "postgresql+nodriver://u@h/db")
    with pytest.raises(StoreConfigError, match=r"customerio_sync_store.*driver 'nodriver'.*psycopg2"):
        url_from_connection(BaseHook.get_connection("customerio_sync_store"))
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE", "oracle+oracledb://u@h/db")
    with pytest.raises(StoreConfigError, match=r"type 'oracle\+oracledb'.*postgres, mysql or sqlite"):
        url_from_connection(BaseHook.get_connection("customerio_sync_store"))


def test_store_driver_not_installed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pymysql(name: str, *args: object, **kwargs: object) -> object:
        if name == "pymysql" or name.startswith("pymysql."):
            raise ModuleNotFoundError("No module named 'pymysql'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pymysql)
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE", "mysql+pymysql://u@h/db")
    dispose_all()
    with pytest.raises(StoreConfigError, match=r"customerio_sync_store.*'mysql\+pymysql'.*not installed"):
        store_engine()


def test_a_store_of_version_5_gets_the_lease_fencing_and_request_digest_columns(tmp_path: Path) -> None:
    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.store.schema import LEASE_FENCING_COLUMNS, MIGRATIONS, migrate

    path = tmp_path / "v5.db"
    engine = sqlite_engine(path)
    migrate(engine, MIGRATIONS[:5])
    with engine.begin() as conn:  # the lease table as version 5 created it
        for name in LEASE_FENCING_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE lease DROP COLUMN {name}")
        conn.exec_driver_sql("INSERT INTO lease VALUES ('people:sync', 'run A of d', 1.0, 2.0)")
        conn.exec_driver_sql("DROP INDEX process_notice_request")  # and process notices as version 5 created them
        conn.exec_driver_sql("ALTER TABLE process_notice DROP COLUMN request_digest")
    engine.dispose()
    store = SyncStore.at(path)
    contract.check_migrated(store.engine)
    lease = store.acquire("people:sync", "run B of d", wait=0)  # the old, expired row is taken over
    assert (lease.fence, len(lease.token)) == (1, 32)
    contract.check_fencing(store)
    store.notices().issue("import", "d1")
    assert len(store.notices().lost_answers("d1", since=0)) == 1
