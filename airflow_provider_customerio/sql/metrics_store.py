"""The campaign-metrics reporting table, written through any Airflow SQL connection.

One small interface, :class:`MetricsStore`, over a DB-API connection. Two ways to get one:

* ``sql_conn_id`` set: the connection's own hook (``Connection.get_hook()``, a common-sql ``DbApiHook`` such
  as the Postgres or SQLite provider's hook) supplies the DB-API connection and its placeholder;
* no ``sql_conn_id``: the shared sync store (:mod:`airflow_provider_customerio.store`: the connection
  ``customerio_sync_store``, else its embedded SQLite file), so every machine writes and reads the same table.
  A ``sqlite`` connection whose provider is not installed is opened through the store's engine factory, from the
  connection's ``host`` (the file path).

The SQL is portable: ``CREATE TABLE IF NOT EXISTS`` with standard types, and the upsert
``INSERT ... ON CONFLICT (campaign_id, date, source) DO UPDATE SET col = excluded.col`` that SQLite (3.24+)
and PostgreSQL (9.5+) both accept. Only rows that are new or changed are written (the caller compares
content hashes first), so a re-run leaves the table byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.store.engine import describe, raw_dbapi_connection, sqlite_engine
from airflow_provider_customerio.sync.campaigns import METRIC_COLUMNS, MetricRow

DEFAULT_TABLE = "customerio_campaign_metrics"
KEY_COLUMNS: tuple[str, ...] = ("campaign_id", "date", "source")
#: Every column, in table order.
COLUMNS: tuple[str, ...] = (
    "campaign_id",
    "date",
    "source",
    "name",
    *METRIC_COLUMNS,
    "row_hash",
    "updated_at",
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_table_name(table: str) -> str:
    """Return ``table`` if it is a plain SQL identifier (it is interpolated into SQL, never quoted)."""
    if not isinstance(table, str) or not _IDENT.match(table):
        raise ConfigError(
            f"connectors.customerio.campaigns.table: {table!r} is not a valid table name; use letters, digits "
            "and '_' (not starting with a digit, at most 63 characters), e.g. customerio_campaign_metrics."
        )
    return table


def create_table_sql(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` valid on SQLite and PostgreSQL."""
    t = check_table_name(table)
    metric_cols = ",\n    ".join(f"{m} BIGINT" for m in METRIC_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {t} (\n"
        "    campaign_id BIGINT NOT NULL,\n"
        "    date DATE NOT NULL,\n"
        "    source VARCHAR(64) NOT NULL,\n"
        "    name VARCHAR(1024),\n"
        f"    {metric_cols},\n"
        "    row_hash VARCHAR(64) NOT NULL,\n"
        "    updated_at VARCHAR(40) NOT NULL,\n"
        f"    PRIMARY KEY ({', '.join(KEY_COLUMNS)})\n"
        ")"
    )


def upsert_sql(table: str, placeholder: str) -> str:
    """The idempotent upsert, keyed by ``(campaign_id, date, source)``, with ``placeholder`` markers."""
    t = check_table_name(table)
    values = ", ".join([placeholder] * len(COLUMNS))
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in KEY_COLUMNS)
    return (
        f"INSERT INTO {t} ({', '.join(COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {updates}"
    )


def existing_sql(table: str, placeholder: str) -> str:
    t = check_table_name(table)
    p = placeholder
    return f"SELECT date, row_hash FROM {t} WHERE campaign_id = {p} AND source = {p} AND date >= {p} AND date <= {p}"


def select_sql(table: str, placeholder: str, *, n_campaigns: int = 0) -> str:
    """Rows of a date range (optionally of some campaigns), ordered for the report."""
    t = check_table_name(table)
    p = placeholder
    sql = f"SELECT {', '.join(COLUMNS)} FROM {t} WHERE date >= {p} AND date <= {p}"
    if n_campaigns:
        sql += f" AND campaign_id IN ({', '.join([p] * n_campaigns)})"
    return sql + " ORDER BY campaign_id, source, date"


def row_params(row: MetricRow, updated_at: str) -> tuple[Any, ...]:
    """Parameters of :func:`upsert_sql` for one row (dates as ``YYYY-MM-DD`` text: portable)."""
    rec = row.as_record()
    return (
        *(rec[c] for c in ("campaign_id", "date", "source", "name")),
        *(rec[m] for m in METRIC_COLUMNS),
        row.content_hash,
        updated_at,
    )


def _day_text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


class MetricsStore:
    """The reporting table over one DB-API connection.

    :param connect: zero-argument callable returning a new DB-API connection.
    :param placeholder: the driver's parameter marker (``?`` for sqlite3, ``%s`` for psycopg2).
    :param table: table name (a plain identifier).
    :param description: where the table lives, for logs (never includes a password).
    """

    def __init__(self, connect: Any, *, placeholder: str, table: str = DEFAULT_TABLE, description: str = "") -> None:
        self._connect = connect
        self.placeholder = placeholder
        self.table = check_table_name(table)
        self.description = description or table
        self._conn: Any = None

    # ---------------------------------------------------------------------------- connection
    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> MetricsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _cursor(self, *, commit: bool = False) -> Iterator[Any]:
        cur = self.conn.cursor()
        try:
            yield cur
            if commit:
                self.conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self.conn.rollback()
            raise
        finally:
            cur.close()

    # ---------------------------------------------------------------------------------- API
    def ensure_table(self) -> None:
        """Create the table if it does not exist.

        Two tasks creating it at the same moment can make PostgreSQL's ``IF NOT EXISTS`` fail for the loser; the
        error is ignored when the table is there afterwards.
        """
        try:
            with self._cursor(commit=True) as cur:
                cur.execute(create_table_sql(self.table))
        except Exception:
            try:
                with self._cursor(commit=True) as cur:
                    cur.execute(f"SELECT COUNT(*) FROM {self.table} WHERE 1 = 0")
            except Exception:  # noqa: S110 - the table is not there: the first error stands
                pass
            else:
                return
            raise

    def existing_hashes(self, campaign_id: int, source: str, first: str, last: str) -> dict[str, str]:
        """``{date: row_hash}`` of the stored rows of one campaign and source between two days (inclusive)."""
        with self._cursor(commit=True) as cur:
            cur.execute(existing_sql(self.table, self.placeholder), (campaign_id, source, first, last))
            return {_day_text(d): str(h) for d, h in cur.fetchall()}

    def upsert(self, rows: Sequence[MetricRow], *, updated_at: str) -> int:
        """Insert or update ``rows`` in one transaction; returns how many were sent."""
        if not rows:
            return 0
        with self._cursor(commit=True) as cur:
            cur.executemany(upsert_sql(self.table, self.placeholder), [row_params(r, updated_at) for r in rows])
        return len(rows)

    def fetch(self, first: str, last: str, campaign_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Rows between two days (inclusive) as dicts (``date`` as ``YYYY-MM-DD``)."""
        ids = list(campaign_ids or [])
        with self._cursor(commit=True) as cur:
            cur.execute(select_sql(self.table, self.placeholder, n_campaigns=len(ids)), (first, last, *ids))
            out = []
            for values in cur.fetchall():
                rec = dict(zip(COLUMNS, values))
                rec["date"] = _day_text(rec["date"])
                out.append(rec)
            return out

    def count(self) -> int:
        """Rows in the table."""
        with self._cursor(commit=True) as cur:
            cur.execute(f"SELECT COUNT(*) FROM {self.table}")
            return int(cur.fetchone()[0])


# ---------------------------------------------------------------------------------------- factories
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":1"}


def engine_store(engine: Engine, *, table: str = DEFAULT_TABLE) -> MetricsStore:
    """A store on a SQLAlchemy engine: the shared sync store by default (its raw DB-API connections)."""
    placeholder = _PLACEHOLDERS.get(str(engine.dialect.paramstyle), "%s")
    return MetricsStore(
        lambda: raw_dbapi_connection(engine), placeholder=placeholder, table=table, description=describe(engine)
    )


def sqlite_store(path: str | os.PathLike[str], *, table: str = DEFAULT_TABLE) -> MetricsStore:
    """A store on a SQLite file (tests, tools)."""
    return engine_store(sqlite_engine(path), table=table)


def hook_store(hook: Any, *, table: str = DEFAULT_TABLE) -> MetricsStore:
    """A store on a common-sql ``DbApiHook`` (any Airflow SQL connection)."""
    placeholder = getattr(hook, "placeholder", None) or "%s"
    conn_id = hook.get_conn_id() if hasattr(hook, "get_conn_id") else ""
    return MetricsStore(
        hook.get_conn, placeholder=placeholder, table=table, description=f"{type(hook).__name__}({conn_id})"
    )


def store_for(sql_conn_id: str | None, *, table: str = DEFAULT_TABLE, engine: Engine | None = None) -> MetricsStore:
    """The store for a configuration: the connection's ``DbApiHook``, else the shared sync store ``engine``.

    :raises ConfigError: the connection is not a SQL connection.
    """
    if not sql_conn_id:
        if engine is None:
            from airflow_provider_customerio.store import SyncStore

            engine = SyncStore.open().engine
        return engine_store(engine, table=table)
    from airflow.sdk import BaseHook  # local: keeps the module importable for pure SQL helpers

    conn = BaseHook.get_connection(sql_conn_id)
    if conn.conn_type == "sqlite":
        try:
            import airflow.providers.sqlite  # noqa: F401
        except ImportError:
            if not conn.host:
                raise ConfigError(
                    f"Connection '{sql_conn_id}': a sqlite connection needs the database file path in 'host'."
                ) from None
            return sqlite_store(conn.host, table=table)
    try:
        hook = conn.get_hook()  # type: ignore[no-untyped-call]  # Airflow's Connection.get_hook is unannotated
    except Exception as exc:
        raise ConfigError(
            f"Connection '{sql_conn_id}' (type {conn.conn_type!r}) has no usable hook: {exc}. Install the "
            "provider of that database (e.g. apache-airflow-providers-postgres) or fix connectors.customerio."
            "campaigns.sql_conn_id."
        ) from None
    if not hasattr(hook, "get_conn") or not hasattr(hook, "placeholder"):
        raise ConfigError(
            f"connectors.customerio.campaigns.sql_conn_id: connection '{sql_conn_id}' of type "
            f"{conn.conn_type!r} is not a SQL connection (its hook {type(hook).__name__} is not a common-sql "
            "DbApiHook). Point it at a database connection such as postgres or sqlite."
        )
    return hook_store(hook, table=table)


__all__ = [
    "COLUMNS",
    "DEFAULT_TABLE",
    "KEY_COLUMNS",
    "MetricsStore",
    "check_table_name",
    "create_table_sql",
    "engine_store",
    "existing_sql",
    "hook_store",
    "row_params",
    "select_sql",
    "sqlite_store",
    "store_for",
    "upsert_sql",
]
