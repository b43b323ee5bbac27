"""Where the sync store lives: the database of an Airflow connection, else an embedded SQLite file.

Production Airflow runs the api-server, the triggerer and every task on different machines, so everything that
must outlast a task (content hashes, the identity map, checkpoints, staging, pending imports, object state,
rejected records, webhook events, campaign reports) lives in ONE database that every process reaches: the
Airflow connection ``customerio_sync_store`` (PostgreSQL, MySQL or SQLite; any database SQLAlchemy reaches).
Without that connection the store is an embedded SQLite file under ``$AIRFLOW_HOME``, so a single-machine run
(``make demo``, ``airflow standalone``) needs no set-up; on a distributed executor that is wrong, and a warning
says so once per process.

This is the only module that opens SQLite or builds database engines for the provider.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from airflow_provider_customerio.exceptions import ConfigError

log = logging.getLogger(__name__)

#: The Airflow connection of the shared store.
STORE_CONN_ID = "customerio_sync_store"
STORE_DB_NAME = "state.db"  # the file name of provider 0.1's state database: upgraded in place

#: Execution option of connections that only read (SQLite: a deferred transaction, no write lock).
READ_ONLY = "cio_read_only"

_ENGINES: dict[str, Engine] = {}
_CONN_OF: dict[int, str] = {}  # id(engine) -> the Airflow connection it was built from (see store_label)
_LOCK = threading.Lock()
_WARNED: set[str] = set()

#: Executors whose tasks all run on the scheduler's machine (a local file is shared by every task).
_LOCAL_EXECUTORS = ("LocalExecutor", "SequentialExecutor", "DebugExecutor")


class StoreConfigError(ConfigError):
    """The store's connection or file cannot be used; the message names the setting and the fix (a
    :class:`~airflow_provider_customerio.exceptions.ConfigError`)."""


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``, else ``~/airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")


def default_sqlite_path() -> Path:
    """``$AIRFLOW_HOME/customerio_sync/state.db``: the embedded default of a single-machine run."""
    return airflow_home() / "customerio_sync" / STORE_DB_NAME


# ------------------------------------------------------------------------------------------------ SQLite
def sqlite_engine(path: str | os.PathLike[str]) -> Engine:
    """An engine on a SQLite file (``":memory:"`` for tests): WAL journal, ``synchronous=FULL`` (a commit
    survives a crash), a 60 s busy timeout, and ``BEGIN IMMEDIATE`` for every transaction so two writers queue
    on the lock instead of failing when a read turns into a write."""
    text = str(path)
    memory = text == ":memory:"
    if not memory:
        p = Path(text)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreConfigError(
                f"cannot create the folder of the sync store {p}: {exc}. Set "
                "connectors.customerio.people.state_path to a writable file, or create the Airflow connection "
                f"'{STORE_CONN_ID}' to a database."
            ) from None
    engine = sa.create_engine(
        "sqlite://" if memory else f"sqlite:///{text}",
        connect_args={"check_same_thread": False, "timeout": 60},
        poolclass=StaticPool if memory else None,
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, explicitly
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.isolation_level = None  # undo a setting a raw DB-API user of the pool made

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # a read-only connection (see read_connection) takes no write lock; every other transaction takes it at
        # once, so a read that turns into a write never fails with "database is locked"
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


# ------------------------------------------------------------------------------------------ Airflow connection
#: The dialects the store runs on, by the connection types that name them (Airflow's own and SQLAlchemy's).
_DIALECTS = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite"}
#: The driver of each dialect when the connection names none.
_DEFAULT_DRIVERS = {"postgresql": "psycopg2", "mysql": "mysqldb", "sqlite": "pysqlite"}
#: Drivers SQLAlchemy runs synchronously, per dialect (https://docs.sqlalchemy.org/en/20/dialects/).
_SYNC_DRIVERS = {
    "postgresql": ("psycopg2", "psycopg", "pg8000"),
    "mysql": ("mysqldb", "pymysql", "mysqlconnector", "mariadbconnector"),
    "sqlite": ("pysqlite",),
}
#: asyncio drivers, mapped to a synchronous one: the store runs in worker threads, not in an event loop.
_ASYNC_TO_SYNC = {
    ("postgresql", "asyncpg"): "psycopg2",
    ("postgresql", "psycopg_async"): "psycopg",
    ("mysql", "aiomysql"): "pymysql",
    ("mysql", "asyncmy"): "pymysql",
    ("sqlite", "aiosqlite"): "pysqlite",
}


def _dialect_and_driver(conn: Any) -> tuple[str, str]:
    """``(dialect, synchronous driver)`` of a connection type: Airflow's (``postgres``, ``mysql``, ``sqlite``) or
    SQLAlchemy's ``dialect+driver`` as an ``AIRFLOW_CONN_*`` URI gives it (``postgresql+psycopg2``,
    ``postgresql+asyncpg`` -> ``psycopg2``, ``mysql+pymysql``)."""
    kind = (conn.conn_type or "").lower().replace("-", "_")
    name, _, driver = kind.partition("+")
    dialect = _DIALECTS.get(name)
    if dialect is None:
        raise StoreConfigError(
            f"Connection '{conn.conn_id}' has type '{conn.conn_type}', which the sync store cannot use. Use a "
            "postgres, mysql or sqlite connection (also as a SQLAlchemy URI such as postgresql+psycopg2://...), "
            "or set the extra 'sqlalchemy_url'."
        )
    driver = _ASYNC_TO_SYNC.get((dialect, driver), driver) or _DEFAULT_DRIVERS[dialect]
    if driver not in _SYNC_DRIVERS[dialect]:
        raise StoreConfigError(
            f"Connection '{conn.conn_id}' has type '{conn.conn_type}': the sync store does not know the {dialect} "
            f"driver '{driver}'. Use one of {', '.join(_SYNC_DRIVERS[dialect])} (e.g. {dialect}+"
            f"{_DEFAULT_DRIVERS[dialect]}://...), or set the extra 'sqlalchemy_url'."
        )
    return dialect, driver


def url_from_connection(conn: Any) -> URL | str:
    """The SQLAlchemy URL of an Airflow connection (no provider package needed).

    The type is Airflow's (``postgres``/``postgresql`` -> ``postgresql+psycopg2``; ``mysql`` -> ``mysql+mysqldb``)
    or SQLAlchemy's ``dialect+driver`` of an ``AIRFLOW_CONN_*`` URI (``postgresql+psycopg2://``, ``mysql+pymysql://``;
    an asyncio driver such as ``postgresql+asyncpg`` is mapped to a synchronous one). ``sqlite`` -> the file in
    ``host`` (or ``schema``, as ``sqlite:///path`` gives it). Any type: the extra ``sqlalchemy_url`` wins when set.
    """
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    dialect, driver = _dialect_and_driver(conn)
    if dialect == "sqlite":
        path = conn.host or conn.schema
        if not path:
            raise StoreConfigError(
                f"Connection '{conn.conn_id}' (sqlite) names no file: put the database file path in Host "
                "(or use the URI sqlite:////absolute/path.db)."
            )
        return f"sqlite:///{path}"
    return URL.create(
        f"{dialect}+{driver}",
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    )


def _create_engine(url: URL | str) -> Engine:
    """A pooled engine on a database server; a missing driver package is a :class:`StoreConfigError` naming it."""
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except ImportError as exc:  # the DB-API module of the URL's driver (psycopg2, pymysql, ...) is not installed
        drivername = url.drivername if isinstance(url, URL) else url.split(":", 1)[0]
        raise StoreConfigError(
            f"The sync store's connection '{STORE_CONN_ID}' uses the driver '{drivername}', whose Python package "
            f"is not installed ({exc}). Install it on every Airflow machine, or use a connection with another driver."
        ) from None


def _get_connection(conn_id: str) -> Any | None:
    """The Airflow connection, or ``None`` when it does not exist (Airflow only imported here)."""
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # pragma: no cover - outside Airflow
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def _is_local_executor() -> bool:
    try:
        from airflow.configuration import conf

        executor = str(conf.get("core", "executor", fallback="LocalExecutor") or "LocalExecutor")
    except Exception:
        return True
    return all(any(local in part for local in _LOCAL_EXECUTORS) for part in executor.split(","))


def _warn_local(path: Path) -> None:
    if str(path) in _WARNED or _is_local_executor():
        return
    _WARNED.add(str(path))
    log.warning(
        "The Customer.io sync store is the local file %s, but the executor is not a local one: tasks, the "
        "triggerer and the api-server on other machines will not see each other's state (a load task finds "
        "nothing extracted, webhooks stored by the api-server are never forwarded). Create the Airflow "
        "connection '%s' to a database every machine reaches (PostgreSQL, MySQL).",
        path,
        STORE_CONN_ID,
    )


def store_engine(conn_id: str | None = STORE_CONN_ID, sqlite_path: str | os.PathLike[str] | None = None) -> Engine:
    """The store's engine, one per process and location.

    :param conn_id: the Airflow connection of the store; used when it exists.
    :param sqlite_path: the embedded SQLite file otherwise (default :func:`default_sqlite_path`).
    """
    conn = _get_connection(conn_id) if conn_id else None
    if conn is not None:
        url = url_from_connection(conn)
        key = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        with _LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                if isinstance(url, str) and url.startswith("sqlite:///"):
                    engine = sqlite_engine(url.removeprefix("sqlite:///"))
                else:
                    engine = _create_engine(url)
                _ENGINES[key] = engine
                _CONN_OF[id(engine)] = str(conn_id)
        return engine
    path = Path(sqlite_path) if sqlite_path else default_sqlite_path()
    _warn_local(path)
    key = f"sqlite:///{path.resolve()}"
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = sqlite_engine(path)
            _ENGINES[key] = engine
    return engine


def read_connection(engine: Engine) -> sa.Connection:
    """A connection for reads only (on SQLite it does not queue behind writers)."""
    return engine.connect().execution_options(**{READ_ONLY: True})


def describe(engine: Engine) -> str:
    """Where the store is, without secrets (for messages)."""
    return engine.url.render_as_string(hide_password=True)


_KINDS = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB", "sqlite": "SQLite"}


def store_label(engine: Engine) -> str:
    """What the store is, for pages users see: its kind and the connection it comes from, never a file path or a
    host (``PostgreSQL (connection customerio_sync_store)``, ``SQLite file (embedded: no connection ...)``)."""
    kind = _KINDS.get(engine.dialect.name, engine.dialect.name)
    conn_id = _CONN_OF.get(id(engine))
    if conn_id:
        return f"{kind} (connection {conn_id})"
    return f"{kind} file (embedded: no connection {STORE_CONN_ID})"


def dispose_all() -> None:
    """Close every pooled connection of this process (tests; a forked child)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _CONN_OF.clear()


__all__ = [
    "STORE_CONN_ID",
    "StoreConfigError",
    "default_sqlite_path",
    "READ_ONLY",
    "describe",
    "read_connection",
    "dispose_all",
    "sqlite_engine",
    "store_engine",
    "store_label",
    "url_from_connection",
]
