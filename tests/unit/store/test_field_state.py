"""The two-way field state, one row per person: the per-field semantics hold, and a person is one row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from airflow_provider_customerio.store.field_state import OwnWrite
from airflow_provider_customerio.store.state import TO_BREVO, TO_CIO, StateStore


def rows(path: Path, table: str) -> int:
    return sqlite3.connect(path).execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_field_digests_merge_per_field_and_a_person_is_one_row(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with StateStore(path) as st:
        st.set_field_digests([(f"c{i}", {"A": f"a{i}", "B": "b", "C": "c"}) for i in range(1200)])
        st.set_field_digests([("c1", {"A": "new"}), ("c1", {"B": "newer"}), ("c2", {})])
        assert st.get_field_digests(["c1", "c2", "nobody"]) == {
            "c1": {"A": "new", "B": "newer", "C": "c"},
            "c2": {"A": "a2", "B": "b", "C": "c"},
        }
        st.forget_field_digests(["c1"])
        assert st.get_field_digests(["c1"]) == {}
    assert rows(path, "person_field") == 1199


def test_own_writes_keep_the_latest_value_per_field_and_go_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with StateStore(path) as st:
        st.record_own_writes(TO_CIO, [(f"c{i}", f, {"v": i}) for i in range(700) for f in ("A", "B")], 100.0)
        st.record_own_writes(TO_CIO, [("c1", "A", "later")], 200.0)
        st.record_own_writes(TO_BREVO, [("c1", "A", 1)], 50.0)
        assert st.get_own_writes(TO_CIO, ["c1"]) == {
            "c1": {"A": OwnWrite("later", 200.0), "B": OwnWrite({"v": 1}, 100.0)}
        }
        assert rows(path, "person_own_write") == 701  # one per direction and person, not per field
        st.forget_own_writes(TO_CIO, [("c2", "A"), ("c2", "B"), ("c3", "A")])
        assert "c2" not in st.get_own_writes(TO_CIO, ["c2"]) and set(st.get_own_writes(TO_CIO, ["c3"])["c3"]) == {"B"}
        # expiry drops fields written before the time, field by field (c1's later A stays)
        assert st.expire_own_writes(TO_CIO, before=150.0) == 2 * 700 - 3 - 1
        assert st.get_own_writes(TO_CIO, ["c1"]) == {"c1": {"A": OwnWrite("later", 200.0)}}
        assert list(st.iter_own_write_people(TO_CIO)) == ["c1"]
        assert list(st.iter_own_write_people(TO_BREVO)) == ["c1"]


def test_whole_people_own_writes_merge_with_the_fields_written_before(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as st:
        st.record_own_writes(TO_BREVO, [("c1", "A", "old"), ("c1", "B", "kept")], 10.0)
        st.record_people_own_writes(TO_BREVO, [("c1", {"A": "new", "C": 3}), ("c2", {"A": None})], 20.0)
        assert st.get_own_writes(TO_BREVO, ["c1", "c2"]) == {
            "c1": {"A": OwnWrite("new", 20.0), "B": OwnWrite("kept", 10.0), "C": OwnWrite(3, 20.0)},
            "c2": {"A": OwnWrite(None, 20.0)},
        }
