"""The ports of a mirror run (``sync/segments/ports.py``): the in-memory vendors satisfy them, and an import
outcome is usable unless it says otherwise."""

from __future__ import annotations

from airflow_provider_customerio.sync.segments.ports import ImportOutcome, SegmentSource
from tests.unit.sync.segments._support import FakeCustomerIO


def test_the_fake_customerio_is_a_segment_source() -> None:
    source: SegmentSource = FakeCustomerIO()  # mypy checks the Protocol
    assert callable(source.iter_members)


def test_an_import_outcome_succeeds_by_default_and_carries_its_status_text() -> None:
    assert ImportOutcome(process_id=1).succeeded is True
    failed = ImportOutcome(process_id=2, succeeded=False, status="failed")
    assert (failed.succeeded, failed.status, failed.problems) == (False, "failed", {})
