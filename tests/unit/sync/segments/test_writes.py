"""The Brevo writes of a mirror run: adds, the import read-back check, removals (``sync/segments/writes.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.segments.model import (
    ImportFailedError,
    MirrorRequest,
)
from tests.unit.sync.segments._support import FakeBrevo, FakeCustomerIO, Ledger, make_mirror


def test_membership_change_adds_and_removes_in_chunks(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    people = [cio.person(n) for n in range(1000)]
    cio.segment(42, people)
    mirror = make_mirror(cio, brevo, removal_brake=0.5)
    mirror.run(MirrorRequest(42, 13))
    cio.segment(42, people[400:] + [cio.person(n) for n in range(1000, 1010)])
    brevo.writes.clear()
    result = mirror.run(MirrorRequest(42, 13))
    assert (result.added, result.removed, result.unchanged) == (10, 400, 600)
    assert brevo.writes == [("import", 10), ("remove", 150), ("remove", 150), ("remove", 100)]
    assert brevo.members(13) == {f"p{n}@example.com" for n in range(400, 1010)}
    assert result.summary()["list_size_before"] == 1000 and result.summary()["list_size_after"] == 610


def test_import_report_problems_name_the_missing_people(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    cio.segment(42, [cio.person(1), cio.person(2)])
    brevo.ignore_rows_with = "p2@"
    brevo.import_report = {"invalid_emails": 1}
    result = make_mirror(cio, brevo, ledger).run(MirrorRequest(42, 13))
    assert (result.added, result.rejected) == (1, 1)
    assert ledger.rows[0][0]["email"] == "p2@example.com" and ledger.reasons == ["import_invalid"]


def test_people_deleted_before_hydration_are_ledgered(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    cio.segment(42, [cio.person(1), cio.person(2)])
    del cio.people["c2"]
    result = make_mirror(cio, brevo, ledger).run(MirrorRequest(42, 13, include_attributes=("plan",)))
    assert (result.added, result.rejected, ledger.reasons) == (1, 1, ["not_found"])


def test_import_check_confirms_with_a_full_read_before_ledgering(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    existing = brevo.add_contact("p1@example.com", "u1")  # in Brevo, not in the list; import won't bump it
    brevo.bump_on_import = False
    cio.segment(42, [cio.person(1)])
    result = make_mirror(cio, brevo, ledger).run(MirrorRequest(42, 13))
    assert (result.added, result.rejected, ledger.rows) == (1, 0, [])
    assert 13 in brevo.contacts[existing]["listIds"]
    assert [since for _, since in brevo.reads] == [None, "1", None]


def test_an_import_that_did_not_succeed_stops_the_run_naming_the_process_and_status(
    cio: FakeCustomerIO, brevo: FakeBrevo
) -> None:
    brevo.import_succeeds = False
    cio.segment(42, [cio.person(1)])
    with pytest.raises(
        ImportFailedError, match=r"process 1 \(new members, 1 rows, list 13\) ended with status 'cancelled'"
    ):
        make_mirror(cio, brevo).run(MirrorRequest(42, 13))
    assert brevo.writes == [("import", 1)]  # nothing removed or updated after the failed import


def test_a_mirror_waits_for_its_import_anywhere_and_a_new_mirror_finishes_it(
    cio: FakeCustomerIO, brevo: FakeBrevo
) -> None:
    """The deferrable form: ``start`` stages the run and submits the import; a new mirror on the same store (the
    resumed task) takes the import's end and makes the writes after it, with the run's counts."""
    ledger = Ledger()
    leaver = brevo.add_contact("gone@example.com", "u9", lists=[13])
    cio.segment(42, [cio.person(1), cio.person(2)])
    first = make_mirror(cio, brevo, ledger)
    pending = first.start(MirrorRequest(42, 13, force=True))  # 1 of 1 removed: past the brake
    assert pending == ["1"] and brevo.writes == [("import", 2)]  # the leaver is removed only after the import
    resumed = make_mirror(cio, brevo, ledger)
    resumed.state, resumed.run_key = first.state, first.run_key
    assert resumed.complete([brevo.wait_import("1")]) == []
    result = resumed.finish()
    assert (result.added, result.removed, result.write_calls, result.segment_size) == (2, 1, 2, 2)
    assert brevo.writes == [("import", 2), ("remove", 1)] and 13 not in brevo.contacts[leaver]["listIds"]
    assert list(first.state.iter_staged(first.run_key)) == [] and first.state.pending_processes(first.run_key) == []
