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


def test_checkpoints_and_watermarks():
    st = StateStore(":memory:")
    st.save_checkpoint("d/r/t", {"step": "load", "offset": 3})
    assert st.get_checkpoint("d/r/t") == {"step": "load", "offset": 3}
    st.set_watermark("w", "2024-01-01")
    assert st.get_watermark("w") == "2024-01-01"
    st.clear_run("d/r/t")
    assert st.get_checkpoint("d/r/t") is None
    assert st.get_watermark("w") == "2024-01-01"


def test_transaction_rolls_back():
    st = StateStore(":memory:")
    try:
        with st.transaction():
            st.set_hashes(CIO_TO_BREVO, [("c1", "h")])
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert st.get_hash(CIO_TO_BREVO, "c1") is None


def test_find_identities_reads_many_identifiers_at_once_like_find_identity():
    """The reverse sync's bulk lookup (one query per kind and 500 values) finds what find_identity finds."""
    st = StateStore(":memory:")
    for i in range(1200):  # more than two query chunks of each kind
        st.upsert_identity(f"c{i}", brevo_id=i, email=f"p{i}@x.io", ext_id=f"u{i}")
    st.upsert_identity("lonely", email="only@x.io")
    wanted = range(0, 1300, 7)  # some beyond the map
    got = st.find_identities(
        brevo_ids=list(wanted), ext_ids=[f"u{i}" for i in wanted], emails=[f"p{i}@x.io" for i in wanted] + ["only@x.io"]
    )
    for i in wanted:
        single = st.find_identity(brevo_id=i)
        assert got["brevo_id"].get(i) == single
        assert got["ext_id"].get(f"u{i}") == st.find_identity(ext_id=f"u{i}") == single
        assert got["email"].get(f"p{i}@x.io") == st.find_identity(email=f"p{i}@x.io") == single
    assert got["email"]["only@x.io"] == Identity("lonely", None, "only@x.io", None)
    assert len(got["brevo_id"]) == len([i for i in wanted if i < 1200])
    assert st.find_identities() == {"brevo_id": {}, "ext_id": {}, "email": {}}
