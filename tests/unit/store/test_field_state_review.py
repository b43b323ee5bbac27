"""Review (issue 26): the per-person field state on SQLite (one row per person, merged per field by the database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_customerio.store._sql import PAGE
from airflow_provider_customerio.store.state import TO_BREVO, TO_CIO
from airflow_provider_customerio.store.sync_store import SyncStore


@pytest.fixture
def state(tmp_path: Path):
    return SyncStore.at(tmp_path / "store.db").state()


def writes(state, direction, cid):
    return {k: (w.value, w.written_at) for k, w in state.get_own_writes(direction, [cid]).get(cid, {}).items()}


def test_own_writes_merge_per_field_and_expire_by_each_fields_time(state) -> None:
    state.record_own_writes(TO_CIO, [("c1", "a", 1), ("c1", "b", "x")], 100.0)
    state.record_own_writes(TO_CIO, [("c1", "b", "y"), ("c1", "c", None)], 200.0)
    assert writes(state, TO_CIO, "c1") == {"a": (1, 100.0), "b": ("y", 200.0), "c": (None, 200.0)}
    assert state.expire_own_writes(TO_CIO, 150.0) == 1
    assert writes(state, TO_CIO, "c1") == {"b": ("y", 200.0), "c": (None, 200.0)}
    assert state.expire_own_writes(TO_CIO, 150.0) == 0
    state.record_own_writes(TO_CIO, [("c1", "d", [1, None])], 50.0)  # an older write recorded late: oldest drops
    assert state.expire_own_writes(TO_CIO, 60.0) == 1
    assert writes(state, TO_CIO, "c1") == {"b": ("y", 200.0), "c": (None, 200.0)}
    state.forget_own_writes(TO_CIO, [("c1", "b")])
    assert writes(state, TO_CIO, "c1") == {"c": (None, 200.0)}
    state.forget_own_writes(TO_CIO, [("c1", "c"), ("c1", "missing"), ("nobody", "a")])
    assert state.get_own_writes(TO_CIO, ["c1"]) == {}


def test_own_write_values_that_a_json_merge_patch_would_change_are_kept_as_written(state) -> None:
    nested = {"k": None, "l": [None, {"m": None}], "n": {"o": 1}}
    state.record_own_writes(TO_BREVO, [("c1", "f", nested)], 10.0)
    state.record_own_writes(TO_BREVO, [("c1", "f", {"n": {"p": 2}})], 20.0)  # replaces, not merged into
    state.record_own_writes(TO_BREVO, [("c1", "g", nested)], 30.0)
    got = writes(state, TO_BREVO, "c1")
    assert got == {"f": ({"n": {"p": 2}}, 20.0), "g": (nested, 30.0)}
    assert state.get_own_writes(TO_CIO, ["c1"]) == {}  # the directions are apart
    assert state.expire_own_writes(TO_BREVO, 25.0) == 1 and writes(state, TO_BREVO, "c1") == {"g": (nested, 30.0)}


def test_a_person_whose_writes_span_two_pages_and_come_apart(state) -> None:
    items = [("c1", f"f{i}", i) for i in range(PAGE + 5)]
    items.insert(PAGE // 2, ("c2", "x", 1))  # another person between two of c1's writes
    items.append(("c1", "f0", "last"))  # a field twice: the last write wins
    state.record_own_writes(TO_CIO, items, 5.0)
    got = writes(state, TO_CIO, "c1")
    assert len(got) == PAGE + 5 and got["f0"] == ("last", 5.0) and got[f"f{PAGE + 4}"] == (PAGE + 4, 5.0)
    assert writes(state, TO_CIO, "c2") == {"x": (1, 5.0)}


def test_field_digests_merge_per_field_with_awkward_names(state) -> None:
    names = ["a.b", 'q"uote', "$.x", "ünï", "[0]", ""]
    state.set_field_digests([("c1", dict.fromkeys(names, "d1"))])
    state.set_field_digests([("c1", {"a.b": "d2"}), ("c1", {"[0]": "d3"}), ("c2", {}), ("c3", {"z": "d"})])
    got = state.get_field_digests(["c1", "c2", "c3"])
    assert got == {"c1": {**dict.fromkeys(names, "d1"), "a.b": "d2", "[0]": "d3"}, "c3": {"z": "d"}}
    state.forget_field_digests(["c1"])
    assert state.get_field_digests(["c1", "c3"]) == {"c3": {"z": "d"}}


def test_own_writes_with_awkward_field_names_are_forgotten_and_expired(state) -> None:
    names = ["a.b", 'q"uote', "$.x", "ünï", "[0]"]
    state.record_own_writes(TO_CIO, [("c1", n, n) for n in names], 1.0)
    state.record_own_writes(TO_CIO, [("c1", "a.b", "new")], 9.0)
    state.forget_own_writes(TO_CIO, [("c1", 'q"uote')])
    assert state.expire_own_writes(TO_CIO, 5.0) == 3
    assert writes(state, TO_CIO, "c1") == {"a.b": ("new", 9.0)}


def test_migration_12_moves_more_people_than_one_page(tmp_path: Path) -> None:
    """Per-field rows of 5,003 people (past the migration's 5,000-group page; one person with 3 fields on the
    boundary) reach one row per person."""
    import json
    import sqlite3

    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.store.schema import MIGRATIONS, migrate
    from airflow_provider_customerio.store.state import StateStore

    path = tmp_path / "v11.db"
    engine = sqlite_engine(path)
    assert migrate(engine, MIGRATIONS[:11]) == 11
    engine.dispose()
    db = sqlite3.connect(path)
    ids = [f"c{i:05d}" for i in range(5003)]
    fs = [(c, "A", f"d{c}", 1.0) for c in ids] + [("c05000", f, "x", 2.0) for f in ("B", "C")]
    db.executemany("INSERT INTO field_state VALUES (?, ?, ?, ?)", fs)
    ow = [(TO_CIO, c, "A", json.dumps(c), 3.0) for c in ids] + [(TO_CIO, "c04999", "B", json.dumps(1.5), 1.0)]
    db.executemany("INSERT INTO own_write VALUES (?, ?, ?, ?, ?)", ow)
    db.commit()
    db.close()
    with StateStore(path) as st:
        digests = st.get_field_digests(ids)
        assert len(digests) == 5003 and digests["c05000"] == {"A": "dc05000", "B": "x", "C": "x"}
        own = st.get_own_writes(TO_CIO, ids)
        assert len(own) == 5003 and {k: w.value for k, w in own["c04999"].items()} == {"A": "c04999", "B": 1.5}
        assert st.expire_own_writes(TO_CIO, 2.0) == 1  # the earliest write of c04999's row is its oldest
