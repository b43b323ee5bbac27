"""The two dialect-specific statements the store needs: upsert and insert-if-absent, in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

BATCH = 1000


def chunks(items: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    """Lists of at most ``size`` items (memory stays flat over large iterables)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _dialect_insert(conn: Connection, table: sa.Table) -> Any:
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    if name in ("mysql", "mariadb"):
        return mysql.insert(table)
    return None


def _psycopg2_values(
    conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], conflict: str, returning: str | None = None
) -> bool | list[Any]:
    """PostgreSQL through psycopg2: ``INSERT ... VALUES %s ON CONFLICT ...`` with ``execute_values`` (one round trip
    per 1,000 rows; SQLAlchemy's executemany of an ON CONFLICT statement goes row by row, 5-10x slower). Returns
    ``False`` when the connection is not psycopg2 (the caller uses the portable path), else ``True`` or, with
    ``returning``, that column of the rows inserted."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg2":
        return False
    from psycopg2.extras import execute_values

    quote = conn.dialect.identifier_preparer.quote
    cols = list(rows[0])
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) VALUES %s ON CONFLICT {conflict}"
    if returning:
        sql += f" RETURNING {quote(returning)}"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        out = execute_values(
            cursor, sql, [tuple(r[c] for c in cols) for r in rows], page_size=BATCH, fetch=bool(returning)
        )
    finally:
        cursor.close()
    return [r[0] for r in out] if returning else True


def _sqlite_values(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], conflict: str | None) -> bool:
    """SQLite: ``INSERT ... VALUES (?, ...) ON CONFLICT ...`` as one driver-level executemany of plain tuples.
    SQLAlchemy's compiled executemany builds a parameter dict per row (about half of a 100,000-person sync's store
    time); every column of the store is a plain string or number, so no bind processing is skipped. Returns
    ``False`` on another database (the caller uses the portable path)."""
    if conn.dialect.name != "sqlite":
        return False
    quote = conn.dialect.identifier_preparer.quote
    cols = list(rows[0])
    marks = ", ".join("?" for _ in cols)
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) VALUES ({marks})"
    if conflict:
        sql += f" ON CONFLICT {conflict}"
    conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])
    return True


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """A plain multi-row insert (the SQLite path skips SQLAlchemy's per-row parameter building)."""
    if rows and not _sqlite_values(conn, table, rows, None):
        conn.execute(table.insert(), list(rows))


def insert_new(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: str) -> set[Any] | None:
    """PostgreSQL fast path of "insert the rows whose unique ``key`` is not stored yet": the keys inserted, or
    ``None`` on another database (the caller checks what exists first, then inserts)."""
    if not rows:
        return set()
    got = _psycopg2_values(conn, table, rows, "DO NOTHING", returning=key)
    return set(got) if isinstance(got, list) else None


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    *,
    coalesce: Sequence[str] = (),
) -> None:
    """Insert ``rows``, or update the non-key columns of the rows whose ``keys`` exist (one statement per batch).

    :param coalesce: columns where a ``NULL`` in the new row keeps the stored value.
    """
    if not rows:
        return
    cols = [c for c in rows[0] if c not in keys]
    stmt = _dialect_insert(conn, table)
    if stmt is None:  # another database: update, then insert what was not there
        for row in rows:
            where = sa.and_(*(table.c[k] == row[k] for k in keys))
            values = {c: row[c] for c in cols if not (c in coalesce and row[c] is None)}
            if not values or conn.execute(table.update().where(where).values(**values)).rowcount == 0:
                exists = conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first()
                if exists is None:
                    conn.execute(table.insert().values(**row))
        return
    if conn.dialect.name in ("mysql", "mariadb"):
        new = stmt.inserted
        sets = {c: (sa.func.coalesce(new[c], table.c[c]) if c in coalesce else new[c]) for c in cols}
        conn.execute(stmt.on_duplicate_key_update(**sets), list(rows))
        return
    quote = conn.dialect.identifier_preparer.quote
    assignments = ", ".join(
        f"{quote(c)} = COALESCE(EXCLUDED.{quote(c)}, {quote(table.name)}.{quote(c)})"
        if c in coalesce
        else f"{quote(c)} = EXCLUDED.{quote(c)}"
        for c in cols
    )
    target = "(" + ", ".join(quote(k) for k in keys) + ")"
    action = f"DO UPDATE SET {assignments}" if cols else "DO NOTHING"
    if _psycopg2_values(conn, table, rows, f"{target} {action}") or _sqlite_values(
        conn, table, rows, f"{target} {action}"
    ):
        return
    new = stmt.excluded
    sets = {c: (sa.func.coalesce(new[c], table.c[c]) if c in coalesce else new[c]) for c in cols}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=sets), list(rows))


def insert_missing(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose primary key is already stored."""
    if not rows:
        return
    stmt = _dialect_insert(conn, table)
    if stmt is None:
        keys = [c.name for c in table.primary_key.columns]
        for row in rows:
            where = sa.and_(*(table.c[k] == row[k] for k in keys))
            if conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first() is None:
                conn.execute(table.insert().values(**row))
        return
    if conn.dialect.name in ("mysql", "mariadb"):
        conn.execute(stmt.prefix_with("IGNORE"), list(rows))
        return
    if _psycopg2_values(conn, table, rows, "DO NOTHING") or _sqlite_values(conn, table, rows, "DO NOTHING"):
        return
    conn.execute(stmt.on_conflict_do_nothing(), list(rows))
