from __future__ import annotations

from airflow_provider_customerio.store.state import BREVO_TO_CIO, CIO_TO_BREVO, Identity, StateStore


def test_hashes_per_direction(tmp_path):
    with StateStore(tmp_path / "s.db") as st:
        st.set_hashes(CIO_TO_BREVO, [("c1", "h1"), ("c2", "h2")])
        st.set_hashes(BREVO_TO_CIO, [("c1", "other")])
        st.set_hashes(CIO_TO_BREVO, [("c1", "h1b")])
        assert st.get_hashes(CIO_TO_BREVO, ["c1", "c2", "c3"]) == {"c1": "h1b", "c2": "h2"}
        assert st.get_hash(BREVO_TO_CIO, "c1") == "other"
        st.delete_hashes(CIO_TO_BREVO, ["c2"])
        assert st.count_hashes(CIO_TO_BREVO) == 1
    with StateStore(tmp_path / "s.db") as st:  # persisted
        assert st.get_hash(CIO_TO_BREVO, "c1") == "h1b"


def test_identity_map_merges_and_finds():
    st = StateStore(":memory:")
    st.upsert_identity("c1", email="a@example.com", ext_id="42")
    st.upsert_identity("c1", brevo_id=7)
    assert st.get_identity("c1") == Identity("c1", 7, "a@example.com", "42")
    assert st.find_identity(email="a@example.com").cio_id == "c1"
    assert st.find_identity(ext_id="42", email="zzz").cio_id == "c1"
    assert st.find_identity(brevo_id=8) is None
    st.forget_identity("c1")
    assert st.get_identity("c1") is None


def test_checkpoints_watermarks_and_staging_dedupe():
    st = StateStore(":memory:")
    st.save_checkpoint("d/r/t", {"step": "load", "offset": 3})
    assert st.get_checkpoint("d/r/t") == {"step": "load", "offset": 3}
    st.set_watermark("w", "2024-01-01")
    assert st.get_watermark("w") == "2024-01-01"
    added = st.stage_items("d/r/t", [("c1", "delete", None), ("c2", "upsert", {"x": 1}), ("c1", "upsert", None)])
    assert added == 2
    assert [(k, kind) for _, k, kind, _ in st.iter_staged("d/r/t")] == [("c1", "delete"), ("c2", "upsert")]
    assert [k for _, k, _, _ in st.iter_staged("d/r/t", kind="upsert")] == ["c2"]
    st.stage_items("d/r/t", ((f"p{i}", "upsert", None) for i in range(2500)))
    assert st.count_staged("d/r/t") == 2502
    assert len(list(st.iter_staged("d/r/t", from_seq=2))) == 2500
    st.clear_run("d/r/t")
    assert st.get_checkpoint("d/r/t") is None and st.count_staged("d/r/t") == 0
    assert st.get_watermark("w") == "2024-01-01"


def test_pending_imports_and_unseen():
    st = StateStore(":memory:")
    st.add_pending(
        "k",
        "101",
        [("c1", "h1", {"email": "a@x.io"}), ("c2", "h2", {"email": "b@x.io"})],
        options={"email_blacklist": False},
    )
    assert [(p.process_id, p.attempt) for p in st.pending_processes("k")] == [("101", 1)]
    assert [r.person_key for r in st.iter_pending_rows("k", "101")] == ["c1", "c2"]
    st.drop_pending("k", "101")
    assert st.pending_processes("k") == [] and list(st.iter_pending_rows("k", "101")) == []
    st.set_hashes(CIO_TO_BREVO, [(f"c{i}", "h") for i in range(1500)])
    st.mark_seen("k", [f"c{i}" for i in range(1500) if i % 3])
    unseen = list(st.iter_unseen("k", CIO_TO_BREVO))
    assert sorted(unseen) == sorted(f"c{i}" for i in range(1500) if i % 3 == 0)


def test_transaction_rolls_back():
    st = StateStore(":memory:")
    try:
        with st.transaction():
            st.set_hashes(CIO_TO_BREVO, [("c1", "h")])
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert st.get_hash(CIO_TO_BREVO, "c1") is None
