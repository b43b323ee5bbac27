"""The ports of a mirror run (``sync/segments/ports.py``): the in-memory vendor and the sync state store satisfy
them; the ledger sink."""

from __future__ import annotations

from typing import Any

from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.ports import SyncState
from airflow_provider_customerio.sync.segments.ports import SegmentSource, ledger_sink
from tests.unit.sync.segments._support import FakeCustomerIO


def test_the_fake_customerio_is_a_segment_source() -> None:
    source: SegmentSource = FakeCustomerIO()  # mypy checks the Protocol
    assert callable(source.iter_members)


def test_the_sync_state_store_is_the_mirror_state() -> None:
    state: SyncState = StateStore(":memory:")  # mypy checks the Protocol
    state.stage_items("r", [("rm:1", "remove", {"contact_id": 1})])
    assert [kind for _seq, _key, kind, _data in state.iter_staged("r")] == ["remove"]


def test_the_ledger_sink_keys_a_rejection_on_the_cio_id_and_keeps_the_pair() -> None:
    rows: list[dict[str, Any]] = []

    class Recorder:
        def reject(self, **kwargs: Any) -> None:
            rows.append(kwargs)

    ledger_sink(Recorder())({"cio_id": "c1", "email": "a@b.co", "segment_id": 42, "list_id": 13}, "not_found", "gone")
    assert rows == [
        {
            "record_id": "c1",
            "reason": "not_found",
            "message": "gone",
            "stage": "segments",
            "identifiers": {"email": "a@b.co", "id": None, "ext_id": None, "brevo_contact_id": None},
            "detail": {"segment_id": 42, "list_id": 13},
        }
    ]
