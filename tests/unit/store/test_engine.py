"""Where the store lives (``store/engine.py``): the ``customerio_sync_store`` connection or the embedded SQLite
file, URLs from Airflow connections, and clear errors for the wrong type or a missing driver."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_provider_customerio.store.engine import StoreConfigError, dispose_all, store_engine, url_from_connection


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
