"""The imports of a mirror run, one at a time from the store (``sync/segments/imports.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState
from airflow_provider_customerio.sync.segments.model import ImportFailedError, MirrorRequest
from tests.unit.sync.segments._support import FakeBrevo, FakeCustomerIO, Ledger, make_mirror


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


def test_a_row_over_the_byte_bound_is_ledgered_at_staging_and_never_sent(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    cio.segment(42, [cio.person(1), cio.person(2, plan="x" * 400), cio.person(3)])
    mirror = make_mirror(cio, brevo, ledger)
    mirror.import_max_bytes = 700  # 300 bytes for rows: the person with a 400-character plan can never fit
    result = mirror.run(MirrorRequest(42, 13, include_attributes=("plan",)))
    assert (ledger.reasons, ledger.rows[0][0]["cio_id"]) == (["oversized_record"], "c2")
    # the packer keeps input order: the rows before the oversize one go in their own import
    assert brevo.writes == [("import", 1), ("import", 1)]
    assert brevo.members(13) == {"p1@example.com", "p3@example.com"}
    assert (result.added, result.rejected) == (2, 1)


def test_the_plan_is_staged_as_one_item_per_import_not_per_person(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    """200,000 members must not cost 200,000 store rows: the staged plan holds one item per import."""
    cio.segment(42, [cio.person(n) for n in range(5)])
    mirror = make_mirror(cio, brevo)
    mirror.import_max_bytes = 530  # two rows per import
    assert mirror.start(MirrorRequest(42, 13)) == ["1"]
    staged = list(mirror.state.iter_staged(mirror.run_key))
    assert [(kind, len(data["rows"]), len(data["members"])) for _s, _k, kind, data in staged if data] == [
        ("add", 2, 2),
        ("add", 2, 2),
        ("add", 1, 1),
    ]


def test_the_first_import_is_sent_before_the_rest_of_the_plan_is_staged(
    cio: FakeCustomerIO, brevo: FakeBrevo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Brevo processes the first import while the rest is mapped and staged; the run still ends complete, its
    counts (the first import's write included) kept in the checkpoint."""
    leaver = brevo.add_contact("gone@example.com", "u9", lists=[13])
    cio.segment(42, [cio.person(n) for n in range(5)])
    mirror = make_mirror(cio, brevo, removal_brake=1.0)
    mirror.import_max_bytes = 530  # two rows per import
    staged_then: list[int] = []
    send = brevo.start_import

    def start_import(rows: Any, list_id: int) -> str:
        staged_then.append(mirror.state.count_staged(mirror.run_key))
        return send(rows, list_id)

    monkeypatch.setattr(brevo, "start_import", start_import)
    result = mirror.run(MirrorRequest(42, 13))
    assert staged_then == [1, 4, 4]  # then: 3 imports and one removal
    assert (result.added, result.removed, result.write_calls) == (5, 1, 4)
    assert 13 not in brevo.contacts[leaver]["listIds"]


def test_a_run_killed_after_its_first_import_is_planned_again_and_sends_only_the_rest(
    cio: FakeCustomerIO, brevo: FakeBrevo, monkeypatch: pytest.MonkeyPatch
) -> None:
    cio.segment(42, [cio.person(n) for n in range(5)])
    killed = make_mirror(cio, brevo)
    killed.import_max_bytes = 530  # two rows per import
    stage = killed.state.stage_items

    def die_on_the_rest(run_key: str, items: Any) -> int:
        if killed.state.pending_processes(run_key):  # the first import is out: the worker dies here
            raise KeyboardInterrupt("worker killed")
        return stage(run_key, items)

    monkeypatch.setattr(killed.state, "stage_items", die_on_the_rest)
    with pytest.raises(KeyboardInterrupt):
        killed.start(MirrorRequest(42, 13))
    assert brevo.writes == [("import", 2)]
    monkeypatch.undo()
    retry = make_mirror(cio, brevo)
    retry.state, retry.import_max_bytes = killed.state, 530
    result = retry.run(MirrorRequest(42, 13))
    assert brevo.writes == [("import", 2), ("import", 2), ("import", 1)]  # the first two people are not sent again
    assert (result.added, result.unchanged) == (3, 2) and len(brevo.members(13)) == 5
    assert retry.state.pending_processes(retry.run_key) == [] and list(retry.state.iter_staged(retry.run_key)) == []
