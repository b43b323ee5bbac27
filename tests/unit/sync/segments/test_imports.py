"""The imports of a mirror run, one at a time from the store (``sync/segments/imports.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState
from airflow_provider_customerio.sync.segments.model import ImportFailedError, MirrorRequest
from tests.unit.sync.segments._support import FakeBrevo, FakeCustomerIO, make_mirror


def test_imports_go_one_at_a_time_and_only_ended_pending_ones_move_the_run_on(
    cio: FakeCustomerIO, brevo: FakeBrevo
) -> None:
    cio.segment(42, [cio.person(n) for n in range(3)])
    mirror = make_mirror(cio, brevo)
    mirror.import_max_bytes = 530  # 400 bytes of body overhead and 62-byte rows: two rows per import
    assert mirror.start(MirrorRequest(42, 13)) == ["1"]
    assert mirror.complete([ProcessState("1", ProcessOutcome.RUNNING)]) == ["1"]  # not ended: wait on
    assert mirror.complete([ProcessState("7", ProcessOutcome.SUCCEEDED)]) == ["1"]  # not this run's
    assert mirror.complete([brevo.wait_import("1")]) == ["2"]
    assert mirror.complete([brevo.wait_import("2")]) == []
    assert brevo.writes == [("import", 2), ("import", 1)]
    assert (mirror.finish().added, mirror.state.pending_processes(mirror.run_key)) == (3, [])


def test_an_import_that_failed_drops_the_staging_so_a_rerun_decides_again(
    cio: FakeCustomerIO, brevo: FakeBrevo
) -> None:
    cio.segment(42, [cio.person(1)])
    mirror = make_mirror(cio, brevo)
    assert mirror.start(MirrorRequest(42, 13)) == ["1"]
    with pytest.raises(ImportFailedError, match="ended with status 'failed'"):
        mirror.complete([ProcessState("1", ProcessOutcome.FAILED, status="failed")])
    assert list(mirror.state.iter_staged(mirror.run_key)) == [] and mirror.state.get_checkpoint(mirror.run_key) is None
