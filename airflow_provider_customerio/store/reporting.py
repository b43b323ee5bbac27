"""The campaign-metrics reporting table, written through any Airflow SQL connection.

One small interface, :class:`MetricsStore`, over a SQLAlchemy engine. Two ways to get one:

* ``sql_conn_id`` set: the connection's own hook (``Connection.get_hook()``, a common-sql ``DbApiHook`` such
  as the Postgres or SQLite provider's hook) supplies the engine (``get_sqlalchemy_engine()``);
* no ``sql_conn_id``: the shared sync store (:mod:`airflow_provider_customerio.store`: the connection
  ``customerio_sync_store``, else its embedded SQLite file), so every machine writes and reads the same table.
  A ``sqlite`` connection whose provider is not installed is opened through the store's engine factory, from the
  connection's ``host`` (the file path).

The table lives in the user's database under a name the user picks (``connectors.customerio.campaigns.table``),
so it is not one of the sync store's migrated tables: it is declared here on SQLAlchemy Core and created with
``CREATE TABLE`` through Core when missing. Its rows are written with the store's dialect-aware upsert keyed by
``(campaign_id, date, source)`` (PostgreSQL and SQLite ``ON CONFLICT``, MySQL ``ON DUPLICATE KEY``, an
update-then-insert elsewhere). Only rows that are new or changed are written (the caller compares content hashes
first), so a re-run leaves the table byte for byte as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.store._sql import upsert as upsert_rows
from airflow_provider_customerio.store.engine import describe, sqlite_engine
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
    """Return ``table`` if it is a plain SQL identifier (letters, digits, ``_``: the same name on every database)."""
    if not isinstance(table, str) or not _IDENT.match(table):
        raise ConfigError(
            f"connectors.customerio.campaigns.table: {table!r} is not a valid table name; use letters, digits "
            "and '_' (not starting with a digit, at most 63 characters), e.g. customerio_campaign_metrics."
        )
    return table


def metrics_table(table: str = DEFAULT_TABLE) -> sa.Table:
    """The reporting table named ``table``, on SQLAlchemy Core (its own ``MetaData``: the name is the user's)."""
    return sa.Table(
        check_table_name(table),
        sa.MetaData(),
        sa.Column("campaign_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(1024), nullable=True),
        *(sa.Column(m, sa.BigInteger, nullable=True) for m in METRIC_COLUMNS),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


def row_values(row: MetricRow, updated_at: str) -> dict[str, Any]:
    """The column values of one row (``date`` as a date; every database stores it as its ``DATE``)."""
    rec = row.as_record()
    return {
        **{c: rec[c] for c in ("campaign_id", "source", "name")},
        "date": _day(row.day),
        **{m: rec[m] for m in METRIC_COLUMNS},
        "row_hash": row.content_hash,
        "updated_at": updated_at,
    }


def _day(value: Any) -> date:
    """A plain ``datetime.date`` (a subclass such as pendulum's ``Date`` is not a type every driver binds)."""
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    return date.fromisoformat(str(value)[:10])


def _day_text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


class MetricsStore:
    """The reporting table on one SQLAlchemy engine.

    :param engine: the database holding the table.
    :param table: table name (a plain identifier).
    :param description: where the table lives, for logs (never includes a password).
    :param owns_engine: dispose of the engine on :meth:`close` (an engine made for this store only).
    """

    def __init__(
        self, engine: Engine, *, table: str = DEFAULT_TABLE, description: str = "", owns_engine: bool = False
    ) -> None:
        self.engine = engine
        self.table = check_table_name(table)
        if engine.dialect.name == "postgresql":
            # Earlier versions wrote the name unquoted, which PostgreSQL folds to lower case: that is the user's
            # table (Core would quote a mixed-case name and so make a second one).
            self.table = self.table.lower()
        self.t = metrics_table(self.table)
        self.description = description or describe(engine)
        self._owns_engine = owns_engine

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> MetricsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- API
    def ensure_table(self) -> None:
        """Create the table if it does not exist.

        Two tasks creating it at the same moment can make the loser's ``CREATE TABLE`` fail; the error is ignored
        when the table is there afterwards.
        """
        try:
            self.t.create(self.engine, checkfirst=True)
        except Exception:
            if sa.inspect(self.engine).has_table(self.table):
                return
            raise

    def existing_hashes(self, campaign_id: int, source: str, first: str, last: str) -> dict[str, str]:
        """``{date: row_hash}`` of the stored rows of one campaign and source between two days (inclusive)."""
        t = self.t
        q = sa.select(t.c.date, t.c.row_hash).where(
            t.c.campaign_id == campaign_id, t.c.source == source, t.c.date >= _day(first), t.c.date <= _day(last)
        )
        with self.engine.connect() as conn:
            return {_day_text(d): str(h) for d, h in conn.execute(q)}

    def upsert(self, rows: Sequence[MetricRow], *, updated_at: str) -> int:
        """Insert or update ``rows`` in one transaction; returns how many were sent."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            upsert_rows(conn, self.t, [row_values(r, updated_at) for r in rows], KEY_COLUMNS)
        return len(rows)

    def fetch(self, first: str, last: str, campaign_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Rows between two days (inclusive) as dicts (``date`` as ``YYYY-MM-DD``)."""
        t = self.t
        q = sa.select(*(t.c[c] for c in COLUMNS)).where(t.c.date >= _day(first), t.c.date <= _day(last))
        if campaign_ids:
            q = q.where(t.c.campaign_id.in_(list(campaign_ids)))
        with self.engine.connect() as conn:
            out = [dict(r) for r in conn.execute(q.order_by(t.c.campaign_id, t.c.source, t.c.date)).mappings()]
        for rec in out:
            rec["date"] = _day_text(rec["date"])
        return out

    def count(self) -> int:
        """Rows in the table."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.t)).scalar() or 0)


# ---------------------------------------------------------------------------------------- factories
def engine_store(engine: Engine, *, table: str = DEFAULT_TABLE) -> MetricsStore:
    """A store on a SQLAlchemy engine: the shared sync store by default."""
    return MetricsStore(engine, table=table)


def sqlite_store(path: str | os.PathLike[str], *, table: str = DEFAULT_TABLE) -> MetricsStore:
    """A store on a SQLite file (tests, tools)."""
    return engine_store(sqlite_engine(path), table=table)


def hook_store(hook: Any, *, table: str = DEFAULT_TABLE) -> MetricsStore:
    """A store on a common-sql ``DbApiHook`` (any Airflow SQL connection), through its SQLAlchemy engine."""
    conn_id = hook.get_conn_id() if hasattr(hook, "get_conn_id") else ""
    return MetricsStore(
        hook.get_sqlalchemy_engine(),
        table=table,
        description=f"{type(hook).__name__}({conn_id})",
        owns_engine=True,
    )


def store_for(sql_conn_id: str | None, *, table: str = DEFAULT_TABLE, engine: Engine | None = None) -> MetricsStore:
    """The store for a configuration: the connection's ``DbApiHook``, else the shared sync store ``engine``.

    :raises ConfigError: the connection is not a SQL connection.
    """
    if not sql_conn_id:
        if engine is None:
            from airflow_provider_customerio.store.sync_store import SyncStore

            engine = SyncStore.open().engine
        return engine_store(engine, table=table)
    from airflow.sdk import BaseHook  # local: keeps the module importable without Airflow

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
    if not hasattr(hook, "get_sqlalchemy_engine"):
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
    "engine_store",
    "hook_store",
    "metrics_table",
    "row_values",
    "sqlite_store",
    "store_for",
]
