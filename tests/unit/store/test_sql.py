"""The dialect-specific statements of the store (``store/_sql.py``): upsert and insert-if-absent on SQLite, and the
portable path other databases take."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import _sql
from airflow_provider_customerio.store._sql import chunks, insert_missing, insert_new, insert_rows, upsert
from airflow_provider_customerio.store.engine import sqlite_engine

META = sa.MetaData()
ITEM = sa.Table(
    "item",
    META,
    sa.Column("k1", sa.String(10), primary_key=True),
    sa.Column("k2", sa.Integer, primary_key=True),
    sa.Column("value", sa.String(10)),
    sa.Column("note", sa.String(10), nullable=True),
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path / "sql.db")
    META.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "portable"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each statement on SQLite's own path, and on the portable one a database without a known dialect takes."""
    if request.param == "portable":
        monkeypatch.setattr(_sql, "_kind", lambda conn: "other")
    return str(request.param)


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(ITEM).order_by(ITEM.c.k1, ITEM.c.k2))]


def test_chunks_are_bounded_lists() -> None:
    assert list(chunks(range(5), 2)) == [[0, 1], [2, 3], [4]] and list(chunks([], 2)) == []


def test_upsert_inserts_then_updates_the_non_key_columns(engine: Engine, path: str) -> None:
    with engine.begin() as conn:
        upsert(conn, ITEM, [{"k1": "a", "k2": 1, "value": "v1", "note": "n1"}], ("k1", "k2"))
        upsert(
            conn,
            ITEM,
            [{"k1": "a", "k2": 1, "value": "v2", "note": None}, {"k1": "a", "k2": 2, "value": "w", "note": None}],
            ("k1", "k2"),
            coalesce=("note",),
        )
        upsert(conn, ITEM, [], ("k1", "k2"))
    assert _rows(engine) == [("a", 1, "v2", "n1"), ("a", 2, "w", None)]  # a NULL note kept the stored one
    with engine.begin() as conn:
        upsert(conn, ITEM, [{"k1": "a", "k2": 1, "value": "v3", "note": None}], ("k1", "k2"))
    assert _rows(engine)[0] == ("a", 1, "v3", None)  # without coalesce a NULL overwrites


def test_insert_missing_keeps_what_is_stored(engine: Engine, path: str) -> None:
    with engine.begin() as conn:
        insert_rows(conn, ITEM, [{"k1": "a", "k2": 1, "value": "old", "note": None}])
        insert_missing(
            conn,
            ITEM,
            [{"k1": "a", "k2": 1, "value": "new", "note": None}, {"k1": "b", "k2": 1, "value": "b", "note": None}],
        )
        insert_missing(conn, ITEM, [])
    assert _rows(engine) == [("a", 1, "old", None), ("b", 1, "b", None)]


def test_insert_rows_refuses_a_stored_key(engine: Engine) -> None:
    row = {"k1": "a", "k2": 1, "value": "v", "note": None}
    with engine.begin() as conn:
        insert_rows(conn, ITEM, [row])
        insert_rows(conn, ITEM, [])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        insert_rows(conn, ITEM, [row])


def test_insert_new_is_a_postgresql_fast_path_only(engine: Engine) -> None:
    with engine.begin() as conn:
        assert insert_new(conn, ITEM, [], "k1") == set()
        assert insert_new(conn, ITEM, [{"k1": "a", "k2": 1, "value": "v", "note": None}], "k1") is None
    assert _rows(engine) == []  # the caller inserts on other databases


BULK = sa.Table(
    "bulk",
    META,
    sa.Column("k", sa.String(10), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=True),
    sa.Column("f", sa.Float, nullable=False),
    sa.Column("t", sa.Text, nullable=True),
)
BULK_COLS = ("k", "n", "f", "t")


def _bulk(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(BULK).order_by(BULK.c.k))]


def check_bulk_paths(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tuple-based bulk writes on ``engine`` (SQLite, PostgreSQL, or the portable path), pages of 3 rows:
    inserts, updates, NULLs kept by ``coalesce``, quotes and non-ASCII text, floats and big integers."""
    monkeypatch.setattr(_sql, "PG_PAGE", 3)
    META.create_all(engine, tables=[BULK])
    odd = 'it\'s "quoted", {a,b} \\ é\n'
    first = [(f"k{i}", 2**40 + i if i % 2 else None, i + 0.25, odd if i == 1 else f"t{i}") for i in range(7)]
    with engine.begin() as conn:
        _sql.insert_values(conn, BULK, BULK_COLS, first)
    assert _bulk(engine) == first
    with engine.begin() as conn:
        _sql.upsert_values(
            conn, BULK, BULK_COLS, [("k1", None, 9.5, None), ("k9", 5, 1.0, None)], ("k",), coalesce=("n", "t")
        )
        _sql.upsert_values(conn, BULK, BULK_COLS, [], ("k",))
    rows = {r[0]: r for r in _bulk(engine)}
    assert rows["k1"] == ("k1", 2**40 + 1, 9.5, odd) and rows["k9"] == ("k9", 5, 1.0, None)  # NULLs kept the stored
    with engine.begin() as conn:
        _sql.upsert_values(conn, BULK, BULK_COLS, [("k1", None, 9.5, None)], ("k",))
        _sql.insert_missing_values(conn, BULK, BULK_COLS, [("k2", 1, 1.0, "new"), ("k8", 8, 8.0, "eight")])
    rows = {r[0]: r for r in _bulk(engine)}
    assert rows["k1"] == ("k1", None, 9.5, None)  # without coalesce a NULL overwrites
    assert rows["k2"] == first[2] and rows["k8"] == ("k8", 8, 8.0, "eight")  # insert_missing keeps what is stored
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _sql.insert_values(conn, BULK, BULK_COLS, [("k0", 1, 1.0, None)])


def test_bulk_paths_on_sqlite_and_the_portable_path(engine: Engine, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_bulk_paths(engine, monkeypatch)
    with engine.begin() as conn:  # insert_new is PostgreSQL's: elsewhere the caller checks first
        assert _sql.insert_new_values(conn, BULK, BULK_COLS, [("z", 1, 1.0, None)], "k") is None
        assert _sql.insert_new_values(conn, BULK, BULK_COLS, [], "k") == set()
        assert not _sql.can_insert_new(conn)


def test_json_text_columns_read_what_json_dumps_wrote() -> None:
    value = {"a": [1, 2.5, None, True], "é": "x\ny", "n": {"k": "v"}}
    assert _sql.loads(_sql.dumps(value)) == value and isinstance(_sql.dumps(value), str)
    nan = _sql.loads('{"x": NaN}')  # json.dumps writes NaN, which strict JSON (msgspec) refuses
    assert nan["x"] != nan["x"]
