"""The Brevo writes of a mirror run: adds, the import read-back check, removals (``sync/segments/writes.py``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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


class DatedBrevo(FakeBrevo):
    """Contacts carry Brevo's ``modifiedAt`` (second ``n`` of the logical clock); each list read records its
    ``modifiedSince`` and how many writes preceded it."""

    def __init__(self) -> None:
        super().__init__()
        self.read_log: list[tuple[str | None, int]] = []

    def iter_list_contacts(self, list_id: int, modified_since: str | None = None) -> Iterator[Mapping[str, Any]]:
        self.read_log.append((modified_since, len(self.writes)))
        since = (
            None if modified_since is None else int(modified_since[17:19] if "T" in modified_since else modified_since)
        )
        for c in list(self.contacts.values()):
            if list_id in c["listIds"] and (since is None or c["modified"] > since):
                yield {**c, "modifiedAt": f"2026-01-01T00:00:{c['modified']:02d}.000Z"}


def test_each_import_is_read_back_while_the_next_one_is_processed_from_a_moving_mark() -> None:
    """The read-back of import k comes after import k+1 was sent (Brevo processes k+1 meanwhile) and starts at
    the latest modifiedAt of import k-1's contacts, so each read returns about one import; the end reads nothing
    more when everyone was found."""
    cio, brevo = FakeCustomerIO(), DatedBrevo()
    brevo.lists[13] = "Customers"
    cio.segment(42, [cio.person(n) for n in range(3)])
    mirror = make_mirror(cio, brevo)
    mirror.import_max_bytes = 530  # two rows per import
    assert mirror.start(MirrorRequest(42, 13)) == ["1"]
    assert mirror.complete([brevo.wait_import("1")]) == ["2"]
    assert mirror.complete([brevo.wait_import("2")]) == []
    result = mirror.finish()
    # the plan's read (no write yet), import 1's read-back after import 2 was sent (2 writes), import 2's from
    # the latest modifiedAt of import 1's contacts (p1's: clock 4)
    assert brevo.read_log == [(None, 0), ("0", 2), ("2026-01-01T00:00:04.000Z", 2)]
    assert (result.added, result.rejected) == (3, 0)
