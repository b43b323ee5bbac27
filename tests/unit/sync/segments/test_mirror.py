"""One mirror run over in-memory vendor ports (``sync/segments/mirror.py``).

The ports are small stateful stand-ins for the two vendors (not mocks of Airflow): they keep contacts and
lists, apply imports and list changes like Brevo does, and count every write so "zero writes" is checkable.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.config import (
    LifecycleRule,
    LifecycleSettings,
)
from airflow_provider_customerio.sync.mapping import MappingError
from airflow_provider_customerio.sync.segments.diff import diff_membership
from airflow_provider_customerio.sync.segments.model import (
    ListNotFoundError,
    MirrorRequest,
    RemovalBrakeError,
    mirror_list_name,
)
from tests.unit.sync.segments._support import FakeBrevo, FakeCustomerIO, Ledger, make_mirror


def test_first_mirror_upserts_with_list_id_and_rerun_is_a_no_op(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    cio.segment(42, [cio.person(n) for n in range(250)])
    mirror = make_mirror(cio, brevo)
    first = mirror.run(MirrorRequest(42, 13, include_attributes=("email", "first_name", "plan")))
    assert (first.added, first.removed, first.unchanged, first.rejected) == (250, 0, 0, 0)
    assert brevo.members(13) == {f"p{n}@example.com" for n in range(250)}
    contact = next(c for c in brevo.contacts.values() if c["email"] == "p7@example.com")
    assert contact["attributes"] == {"EXT_ID": "u7", "FIRSTNAME": "First7", "PLAN_NAME": "pro"}
    assert [len(c) for c in cio.hydrate_calls] == [100, 100, 50]
    assert brevo.writes == [("import", 250)]
    assert brevo.reads == [(13, None), (13, "0")]  # full diff read, then the check of what the import touched
    assert first.summary()["list_size_after"] == 250

    writes_before = len(brevo.writes)
    again = mirror.run(MirrorRequest(42, 13, include_attributes=("email", "first_name", "plan")))
    assert len(brevo.writes) == writes_before
    assert (again.added, again.removed, again.unchanged, again.write_calls) == (0, 0, 250, 0)


def test_brake_refuses_before_any_write_and_force_applies(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    people = [cio.person(n) for n in range(10)]
    cio.segment(42, people)
    mirror = make_mirror(cio, brevo)
    mirror.run(MirrorRequest(42, 13))
    cio.segment(42, people[:7] + [cio.person(99)])  # 3 of 10 leave: 30% > 20%
    brevo.writes.clear()
    with pytest.raises(RemovalBrakeError, match="3 of the 10"):
        mirror.run(MirrorRequest(42, 13))
    assert brevo.writes == []  # the add of person 99 was not applied either
    forced = mirror.run(MirrorRequest(42, 13, force=True))
    assert (forced.added, forced.removed, forced.forced) == (1, 3, True)
    assert len(brevo.members(13)) == 8


def test_dry_run_reports_and_writes_nothing(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    brevo.add_contact("old@example.com", "u-old", lists=[13])
    cio.segment(42, [cio.person(n) for n in range(3)] + [{"cio_id": "c9", "id": "u9", "email": "bad@@example"}])
    plan = make_mirror(cio, brevo).run(MirrorRequest(42, 13, dry_run=True, include_attributes=("plan",)))
    summary = plan.summary()
    assert brevo.writes == [] and cio.hydrate_calls == []
    assert (summary["added"], summary["removed"], summary["rejected"], summary["dry_run"]) == (3, 1, 1, True)
    assert summary["brake_tripped"] is True  # 1 of 1 = 100% would need force
    assert summary["sample_removes"] == [{"brevo_contact_id": 1, "email": "old@example.com", "ext_id": "u-old"}]
    assert brevo.members(13) == {"old@example.com"}
    assert {k: summary["plan"][k] for k in ("creates", "deletes", "list_adds", "list_removals")} == {
        "creates": 0,
        "deletes": 0,
        "list_adds": 3,
        "list_removals": 1,
    }
    assert summary["plan"]["list_removals_items"] == summary["sample_removes"]


def test_building_segment_is_skipped_without_reading_anything(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    cio.segment(42, [cio.person(1)], state="build")
    result = make_mirror(cio, brevo).run(MirrorRequest(42, 13))
    assert result.skipped_building and result.summary()["segment_state"] == "build"
    assert cio.membership_reads == [] and brevo.writes == []


def test_missing_list_is_a_clear_error(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    cio.segment(42, [cio.person(1)])
    with pytest.raises(ListNotFoundError, match="list 77.*segment 42.*create_missing_lists: true"):
        make_mirror(cio, brevo).run(MirrorRequest(42, 77))
    assert brevo.writes == []


def test_missing_list_created_once_when_opted_in(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    cio.segment(42, [cio.person(1), cio.person(2)])
    mirror = make_mirror(cio, brevo, create_missing_lists=True, folder_id=3)
    first = mirror.run(MirrorRequest(42, 77))
    assert first.list_created and first.list_id != 77 and first.summary()["requested_list"] == 77
    assert brevo.lists[first.list_id] == mirror_list_name(42, "Segment 42")
    assert first.added == 2 and len(brevo.members(first.list_id)) == 2
    cio.segments[42]["name"] = "Renamed in Customer.io"
    again = mirror.run(MirrorRequest(42, 77))  # the config still says 77: reuse, never create twice
    assert not again.list_created and again.list_id == first.list_id and again.write_calls == 0
    assert [w for w in brevo.writes if w[0] == "create_list"] == [("create_list", brevo.lists[first.list_id])]


def test_empty_segment_null_arrays(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    cio.segment(42, None)
    result = make_mirror(cio, brevo).run(MirrorRequest(42, 13))
    assert (result.segment_size, result.added, result.removed, result.write_calls) == (0, 0, 0, 0)
    brevo.add_contact("a@example.com", "ua", lists=[13])
    with pytest.raises(RemovalBrakeError, match="1 of the 1"):  # emptying a list is exactly what the brake stops
        make_mirror(cio, brevo).run(MirrorRequest(42, 13))


def test_unmatchable_people_go_to_the_ledger(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    brevo.add_contact(None, "u5")  # known in Brevo by EXT_ID only, not yet in the list
    brevo.refuse_ext_ids = {"u8"}
    cio.segment(
        42,
        [
            cio.person(1),
            cio.person(2, email=False, id=False),  # nothing to key on
            cio.person(5, email=False),  # id only, Brevo knows it
            cio.person(6, email=False),  # id only, Brevo does not know it: created by ext_id
            cio.person(8, email=False),  # id only, Brevo refuses it
            {"cio_id": "c7", "id": None, "email": "not-an-email"},
        ],
    )
    mirror = make_mirror(cio, brevo, ledger)
    result = mirror.run(MirrorRequest(42, 13))
    assert (result.added, result.rejected) == (3, 3)
    assert sorted(ledger.reasons) == ["invalid_email", "missing_identifier", "vendor_rejected"]
    assert all(rec["segment_id"] == 42 and rec["list_id"] == 13 for rec, _, _ in ledger.rows)
    assert brevo.members(13) == {"p1@example.com", "ext:u5", "ext:u6"}
    brevo.refuse_ext_ids = set()
    assert mirror.run(MirrorRequest(42, 13)).added == 1  # the refused one is retried by the next run


def test_missing_brevo_attribute_fails_before_writing(cio: FakeCustomerIO) -> None:
    brevo = FakeBrevo(attributes=("FIRSTNAME",))
    brevo.lists[13] = "x"
    cio.segment(42, [cio.person(1)])
    with pytest.raises(MappingError, match="PLAN_NAME"):
        make_mirror(cio, brevo).run(MirrorRequest(42, 13, include_attributes=("plan",)))
    assert brevo.writes == []


def test_lifecycle_attribute_written_and_only_changes_rewritten(cio: FakeCustomerIO) -> None:
    brevo = FakeBrevo(attributes=("LIFECYCLE_STAGE", "EXT_ID"))
    brevo.lists[13] = "all"
    people = [cio.person(n) for n in range(4)]
    cio.segment(42, people)
    cio.segment(7, people[:1])
    cio.segment(8, people[:3])
    life = LifecycleSettings("LIFECYCLE_STAGE", (LifecycleRule(7, "customer"), LifecycleRule(8, "trial")))
    mirror = make_mirror(cio, brevo, lifecycle=life)
    mirror.run(MirrorRequest(42, 13))
    stage = {c["email"]: c["attributes"].get("LIFECYCLE_STAGE") for c in brevo.contacts.values()}
    assert stage == {
        "p0@example.com": "customer",
        "p1@example.com": "trial",
        "p2@example.com": "trial",
        "p3@example.com": None,
    }
    cio.segment(7, people[:2])  # person 1 converts
    brevo.writes.clear()
    result = mirror.run(MirrorRequest(42, 13))
    assert result.lifecycle_updated == 1 and brevo.writes == [("import", 1)]
    assert (
        next(c for c in brevo.contacts.values() if c["email"] == "p1@example.com")["attributes"]["LIFECYCLE_STAGE"]
        == "customer"
    )
    brevo.writes.clear()
    assert mirror.run(MirrorRequest(42, 13)).write_calls == 0 and brevo.writes == []


def test_lifecycle_skipped_while_a_ladder_segment_builds(cio: FakeCustomerIO) -> None:
    brevo = FakeBrevo(attributes=("LIFECYCLE_STAGE",))
    brevo.lists[13] = "all"
    cio.segment(42, [cio.person(1)])
    cio.segment(7, [], state="build")
    life = LifecycleSettings("LIFECYCLE_STAGE", (LifecycleRule(7, "customer"),))
    result = make_mirror(cio, brevo, lifecycle=life).run(MirrorRequest(42, 13))
    assert result.added == 1 and result.summary()["lifecycle_skipped_segments"] == [7]
    assert "LIFECYCLE_STAGE" not in next(iter(brevo.contacts.values()))["attributes"]


people_strategy = st.lists(
    st.tuples(st.integers(0, 40), st.booleans(), st.booleans()), max_size=30, unique_by=lambda t: t[0]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(in_list=people_strategy, in_segment=people_strategy)
def test_property_forced_run_converges_and_second_run_writes_nothing(
    in_list: list[tuple[int, bool, bool]], in_segment: list[tuple[int, bool, bool]]
) -> None:
    cio, brevo, ledger = FakeCustomerIO(), FakeBrevo(), Ledger()
    brevo.lists[13] = "x"
    for n, has_email, has_id in in_list:
        if has_email or has_id:
            brevo.add_contact(f"p{n}@example.com" if has_email else None, f"u{n}" if has_id else None, lists=[13])
    cio.segment(42, [cio.person(n, email=e, id=i) for n, e, i in in_segment])
    mirror = make_mirror(cio, brevo, ledger)
    first = mirror.run(MirrorRequest(42, 13, force=True))
    # every member is either in the list or in the ledger; nobody outside the segment stays unless held
    in_list_now = {c["id"] for c in brevo.contacts.values() if 13 in c["listIds"]}
    diff = diff_membership(cio.segments[42]["members"], list(brevo.iter_list_contacts(13)))
    assert diff.adds == [] or all(m.cio_id in {r["cio_id"] for r, _, _ in ledger.rows} for m in diff.adds)
    assert {c.contact_id for c in diff.removes} <= {c.contact_id for c in diff.held}
    assert first.segment_size == first.unchanged + first.added + first.rejected
    assert len(in_list_now) == first.list_size_after
    writes = len(brevo.writes)
    second = mirror.run(MirrorRequest(42, 13))
    assert (second.added, second.removed) == (0, 0)
    assert brevo.writes[writes:] == []
