"""Per-run staging (:mod:`airflow_provider_customerio.store.staging`), through the StateStore that inherits it."""

from __future__ import annotations

from airflow_provider_customerio.store.staging import PendingProcess, PendingRow
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore


def test_staging_dedupes_pages_and_clears_with_the_run():
    st = StateStore(":memory:")
    added = st.stage_items("d/r/t", [("c1", "delete", None), ("c2", "upsert", {"x": 1}), ("c1", "upsert", None)])
    assert added == 2
    assert [(k, kind) for _, k, kind, _ in st.iter_staged("d/r/t")] == [("c1", "delete"), ("c2", "upsert")]
    assert [k for _, k, _, _ in st.iter_staged("d/r/t", kind="upsert")] == ["c2"]
    st.stage_items("d/r/t", ((f"p{i}", "upsert", None) for i in range(2500)))
    assert st.count_staged("d/r/t") == 2502
    assert len(list(st.iter_staged("d/r/t", from_seq=2))) == 2500
    st.clear_run("d/r/t")
    assert st.count_staged("d/r/t") == 0


def test_pending_imports_and_unseen():
    st = StateStore(":memory:")
    st.add_pending(
        "k",
        "101",
        [("c1", "h1", {"email": "a@x.io"}), ("c2", "h2", {"email": "b@x.io"})],
        options={"email_blacklist": False},
    )
    assert st.pending_processes("k") == [PendingProcess("101", 1, {"email_blacklist": False})]
    assert [(p.process_id, p.attempt) for p in st.pending_processes("k")] == [("101", 1)]
    assert list(st.iter_pending_rows("k", "101"))[0] == PendingRow("c1", "h1", {"email": "a@x.io"})
    assert [r.person_key for r in st.iter_pending_rows("k", "101")] == ["c1", "c2"]
    st.drop_pending("k", "101")
    assert st.pending_processes("k") == [] and list(st.iter_pending_rows("k", "101")) == []
    st.set_hashes(CIO_TO_BREVO, [(f"c{i}", "h") for i in range(1500)])
    st.mark_seen("k", [f"c{i}" for i in range(1500) if i % 3])
    unseen = list(st.iter_unseen("k", CIO_TO_BREVO))
    assert sorted(unseen) == sorted(f"c{i}" for i in range(1500) if i % 3 == 0)
