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
    conn.execute(stmt.on_conflict_do_nothing(), list(rows))
