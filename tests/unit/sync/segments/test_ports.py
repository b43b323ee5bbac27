"""The ports of a mirror run (``sync/segments/ports.py``): the in-memory vendors satisfy them, and an import
outcome is usable unless it says otherwise."""

from __future__ import annotations

from typing import Any

from airflow_provider_customerio.sync.segments.ports import ImportOutcome, SegmentSource, ledger_sink
from tests.unit.sync.segments._support import FakeCustomerIO


def test_the_fake_customerio_is_a_segment_source() -> None:
    source: SegmentSource = FakeCustomerIO()  # mypy checks the Protocol
    assert callable(source.iter_members)


def test_an_import_outcome_succeeds_by_default_and_carries_its_status_text() -> None:
    assert ImportOutcome(process_id=1).succeeded is True
    failed = ImportOutcome(process_id=2, succeeded=False, status="failed")
    assert (failed.succeeded, failed.status, failed.problems) == (False, "failed", {})


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
