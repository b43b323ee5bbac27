"""Unit tests of the pure segment-mirroring logic (``sync/segments/``) over in-memory vendor ports.

The ports below are small stateful stand-ins for the two vendors (not mocks of Airflow): they keep contacts and
lists, apply imports and list changes like Brevo does, and count every write so "zero writes" is checkable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.config import (
    LifecycleRule,
    LifecycleSettings,
    MappedField,
    SegmentSettings,
)
from airflow_provider_customerio.sync.mapping import MappingError
from airflow_provider_customerio.sync.segments.diff import brake_exceeded, check_removal_brake, chunked, diff_membership
from airflow_provider_customerio.sync.segments.fields import fields_for, resolve_lifecycle
from airflow_provider_customerio.sync.segments.mirror import SegmentMirror
from airflow_provider_customerio.sync.segments.model import (
    MAX_HYDRATE,
    MAX_LIST_CHANGE,
    ListNotFoundError,
    MirrorRequest,
    RemovalBrakeError,
    SegmentMember,
    SegmentMirrorError,
    mirror_list_name,
)
from airflow_provider_customerio.sync.segments.plan import parse_mirror_pairs
from airflow_provider_customerio.sync.segments.ports import ContactWrite, ImportOutcome, ListChange


# ------------------------------------------------------------------------------------------ fake vendors
class FakeCustomerIO:
    """Segments with states and members; people with attributes."""

    def __init__(self) -> None:
        self.segments: dict[int, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.hydrate_calls: list[list[str]] = []
        self.membership_reads: list[int] = []

    def person(self, n: int, *, email: bool = True, id: bool = True, **attrs: str) -> dict[str, Any]:
        ident = {"cio_id": f"c{n}", "id": f"u{n}" if id else None, "email": f"p{n}@example.com" if email else None}
        self.people[ident["cio_id"]] = {"first_name": f"First{n}", "plan": "pro", **attrs}
        return ident

    def segment(self, segment_id: int, members: list[dict[str, Any]] | None, state: str = "finished") -> None:
        self.segments[segment_id] = {"state": state, "name": f"Segment {segment_id}", "members": members}

    # port
    def segment_state(self, segment_id: int) -> tuple[str, str]:
        if segment_id not in self.segments:
            raise SegmentMirrorError(f"Customer.io segment {segment_id} does not exist")
        seg = self.segments[segment_id]
        return seg["state"], seg["name"]

    def iter_members(self, segment_id: int) -> Iterator[Mapping[str, Any]]:
        self.membership_reads.append(segment_id)
        yield from self.segments[segment_id]["members"] or []  # null arrays for an empty segment

    def people_attributes(self, cio_ids: Sequence[str]) -> list[dict[str, Any]]:
        assert len(cio_ids) <= MAX_HYDRATE
        self.hydrate_calls.append(list(cio_ids))
        out = []
        for cio_id in cio_ids:
            if cio_id in self.people:
                attrs = dict(self.people[cio_id].items())
                out.append({"id": None, "identifiers": {"cio_id": cio_id}, "attributes": attrs})
        return out


class FakeBrevo:
    """Contacts, lists and attributes with Brevo's import and list-membership semantics."""

    def __init__(self, attributes: Sequence[str] = ("FIRSTNAME", "LASTNAME", "PLAN_NAME", "EXT_ID")) -> None:
        self.lists: dict[int, str] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.attributes = [{"name": a, "category": "normal", "type": "text"} for a in attributes]
        self.writes: list[tuple[str, Any]] = []
        self.next_id = 1
        self.import_report: dict[str, Any] = {}
        self.ignore_rows_with: str | None = None  # emails containing this are dropped by an import
        self.clock = 0  # logical clock: every contact change bumps it, like Brevo's modifiedAt
        self.reads: list[tuple[int, str | None]] = []
        self.bump_on_import = True
        self.refuse_ext_ids: set[str] = set()

    def add_contact(self, email: str | None, ext_id: str | None, lists: Sequence[int] = (), **attrs: Any) -> int:
        cid = self.next_id
        self.next_id += 1
        attributes = dict(attrs)
        if ext_id is not None:
            attributes["EXT_ID"] = ext_id
        self.clock += 1
        self.contacts[cid] = {
            "id": cid,
            "email": email,
            "attributes": attributes,
            "listIds": list(lists),
            "modified": self.clock,
        }
        return cid

    def members(self, list_id: int) -> set[str]:
        return {
            c["email"] or f"ext:{c['attributes'].get('EXT_ID')}"
            for c in self.contacts.values()
            if list_id in c["listIds"]
        }

    # port
    def lists_(self) -> list[tuple[int, str]]:
        return list(self.lists.items())

    def create_list(self, name: str, folder_id: int) -> int:
        self.writes.append(("create_list", name))
        new_id = max([0, *self.lists]) + 100
        self.lists[new_id] = name
        return new_id

    def list_attributes(self) -> list[dict[str, Any]]:
        return self.attributes

    def clock_mark(self) -> str:
        return str(self.clock)

    def iter_list_contacts(self, list_id: int, modified_since: str | None = None) -> Iterator[Mapping[str, Any]]:
        if list_id not in self.lists:
            raise AssertionError(f"list {list_id} read but does not exist")
        self.reads.append((list_id, modified_since))
        for c in list(self.contacts.values()):
            if list_id in c["listIds"] and (modified_since is None or c["modified"] > int(modified_since)):
                yield {**c, "attributes": dict(c["attributes"])}

    def import_contacts(self, rows: Sequence[Mapping[str, Any]], list_id: int) -> ImportOutcome:
        self.writes.append(("import", len(rows)))
        for row in rows:
            if self.ignore_rows_with and self.ignore_rows_with in row["email"]:
                continue
            found = next((c for c in self.contacts.values() if (c["email"] or "").lower() == row["email"]), None)
            if found is None:
                cid = self.add_contact(row["email"], None)
                found = self.contacts[cid]
            found["attributes"].update(row.get("attributes") or {})
            if list_id not in found["listIds"]:
                found["listIds"].append(list_id)
            if self.bump_on_import:
                self.clock += 1
                found["modified"] = self.clock
        return ImportOutcome(process_id=len(self.writes), status="completed", problems=dict(self.import_report))

    def upsert_by_ext_id(self, ext_id: str, attributes: Mapping[str, Any], list_id: int) -> ContactWrite:
        self.writes.append(("upsert_ext_id", ext_id))
        if ext_id in self.refuse_ext_ids:
            return ContactWrite(calls=1, error="duplicate_parameter")
        found = next((c for c in self.contacts.values() if c["attributes"].get("EXT_ID") == ext_id), None)
        calls = 1
        if found is None:
            found = self.contacts[self.add_contact(None, ext_id)]
            calls = 2
        found["attributes"].update(attributes)
        if list_id not in found["listIds"]:
            found["listIds"].append(list_id)
        return ContactWrite(calls=calls)

    def remove_from_list(self, list_id: int, *, contact_ids: Sequence[int]) -> ListChange:
        assert 1 <= len(contact_ids) <= MAX_LIST_CHANGE
        self.writes.append(("remove", len(contact_ids)))
        change = ListChange()
        for cid in contact_ids:
            c = self.contacts.get(cid)
            if c is not None and list_id in c["listIds"]:
                c["listIds"].remove(list_id)
                change.success.append(cid)
            else:
                change.failure.append(cid)
        return change

    def update_attributes(self, identifier: str | int, identifier_type: str, attributes: Mapping[str, Any]) -> None:
        self.writes.append(("update", identifier_type))
        for c in self.contacts.values():
            key = c["id"] if identifier_type == "contact_id" else c["attributes"].get("EXT_ID")
            if key == identifier:
                c["attributes"].update(attributes)


class _TargetPort:
    """FakeBrevo exposes ``lists_`` to keep the ``lists`` dict attribute; adapt the name."""

    def __init__(self, fake: FakeBrevo) -> None:
        self.fake = fake

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, "lists_" if name == "lists" else name)


class Ledger:
    def __init__(self) -> None:
        self.rows: list[tuple[dict[str, Any], str, str]] = []

    def __call__(self, record: Mapping[str, Any], reason: str, message: str) -> None:
        self.rows.append((dict(record), reason, message))

    @property
    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.rows]


FIELD_MAPPING = (
    MappedField("email", "email"),
    MappedField("first_name", "FIRSTNAME"),
    MappedField("plan", "PLAN_NAME"),
)


def make_mirror(
    cio: FakeCustomerIO, brevo: FakeBrevo, ledger: Ledger | None = None, **settings_kw: Any
) -> SegmentMirror:
    return SegmentMirror(
        cio,
        _TargetPort(brevo),
        SegmentSettings(**settings_kw),
        reject=ledger if ledger is not None else Ledger(),
        field_mapping=FIELD_MAPPING,
    )


@pytest.fixture
def cio() -> FakeCustomerIO:
    return FakeCustomerIO()


@pytest.fixture
def brevo() -> FakeBrevo:
    b = FakeBrevo()
    b.lists[13] = "Mirror of 42"
    return b


# ------------------------------------------------------------------------------------------- pure parts
def test_diff_matches_on_ext_id_then_case_insensitive_email() -> None:
    members = [
        {"cio_id": "c1", "id": "u1", "email": "one@example.com"},
        {"cio_id": "c2", "id": None, "email": "Two@Example.com"},
        {"cio_id": "c3", "id": "u3", "email": "three@example.com"},
    ]
    contacts = [
        {"id": 10, "email": "changed@example.com", "attributes": {"EXT_ID": "u1"}},
        {"id": 11, "email": "two@example.com", "attributes": {}},
        {"id": 12, "email": "gone@example.com", "attributes": {"EXT_ID": "u9"}},
    ]
    diff = diff_membership(members, contacts)
    assert [(m.cio_id, c.contact_id) for m, c in diff.matched] == [("c1", 10), ("c2", 11)]
    assert [m.cio_id for m in diff.adds] == ["c3"]
    assert [c.contact_id for c in diff.removes] == [12]
    assert diff.rejected == []


def test_diff_rejects_people_without_identifier_and_holds_conflicting_contacts() -> None:
    members = [
        {"cio_id": "c1", "id": None, "email": None},
        {"cio_id": "c2", "id": "u2", "email": "shared@example.com"},
        {"cio_id": "c2", "id": "u2", "email": "shared@example.com"},  # duplicate row: counted once
    ]
    contacts = [{"id": 20, "email": "shared@example.com", "attributes": {"EXT_ID": "u-other"}}]
    diff = diff_membership(members, contacts)
    assert diff.segment_size == 2
    assert [r.reason for r in diff.rejected] == ["missing_identifier", "identity_clash"]
    assert "u-other" in diff.rejected[1].message and "u2" in diff.rejected[1].message
    assert diff.removes == [] and [c.contact_id for c in diff.held] == [20]


def test_removal_brake_boundary_and_message() -> None:
    assert not brake_exceeded(20, 100, 0.2)  # exactly the brake is allowed
    assert brake_exceeded(21, 100, 0.2)
    assert not brake_exceeded(5, 0, 0.2)
    with pytest.raises(RemovalBrakeError) as err:
        check_removal_brake(30, 100, 0.2, force=False, segment_id=42, list_id=13)
    text = str(err.value)
    for part in ("30 of the 100", "list 13", "segment 42", "30.0%", "removal_brake 0.2", "force=true"):
        assert part in text
    check_removal_brake(30, 100, 0.2, force=True, segment_id=42, list_id=13)  # forced: no error


def test_chunked_never_exceeds_size_and_keeps_everything() -> None:
    items = list(range(301))
    chunks = list(chunked(items, MAX_LIST_CHANGE))
    assert [len(c) for c in chunks] == [150, 150, 1]
    assert [i for c in chunks for i in c] == items


def test_lifecycle_first_matching_segment_wins() -> None:
    order = (LifecycleRule(7, "customer"), LifecycleRule(8, "trial"), LifecycleRule(9, "lead"))
    memberships = {7: {"a"}, 8: {"a", "b"}, 9: {"a", "b", "c"}}
    assert [resolve_lifecycle(order, p, memberships) for p in "abcd"] == ["customer", "trial", "lead", None]


def test_fields_for_uses_field_mapping_and_defaults() -> None:
    fields = fields_for(["email", "first_name", "last_name", "plan"], FIELD_MAPPING)
    assert [(f.source, f.target) for f in fields] == [
        ("email", "email"),
        ("first_name", "FIRSTNAME"),
        ("last_name", "LASTNAME"),
        ("plan", "PLAN_NAME"),
    ]


def test_parse_mirror_pairs_resolves_list_names_and_names_bad_ones() -> None:
    assert parse_mirror_pairs({"42": 13, "7": "churned"}, {"churned": 14}) == [(7, 14), (42, 13)]
    with pytest.raises(SegmentMirrorError, match=r"mirror\[7\].*'vips'.*lists"):
        parse_mirror_pairs({"7": "vips"}, {"churned": 14})
    with pytest.raises(SegmentMirrorError, match="integer id"):
        parse_mirror_pairs({"x": 1})


# ------------------------------------------------------------------------------------------- full runs
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


def test_import_report_problems_name_the_missing_people(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    cio.segment(42, [cio.person(1), cio.person(2)])
    brevo.ignore_rows_with = "p2@"
    brevo.import_report = {"invalid_emails": 1}
    result = make_mirror(cio, brevo, ledger).run(MirrorRequest(42, 13))
    assert (result.added, result.rejected) == (1, 1)
    assert ledger.rows[0][0]["email"] == "p2@example.com" and ledger.reasons == ["import_invalid"]


def test_missing_brevo_attribute_fails_before_writing(cio: FakeCustomerIO) -> None:
    brevo = FakeBrevo(attributes=("FIRSTNAME",))
    brevo.lists[13] = "x"
    cio.segment(42, [cio.person(1)])
    with pytest.raises(MappingError, match="PLAN_NAME"):
        make_mirror(cio, brevo).run(MirrorRequest(42, 13, include_attributes=("plan",)))
    assert brevo.writes == []


def test_people_deleted_before_hydration_are_ledgered(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    cio.segment(42, [cio.person(1), cio.person(2)])
    del cio.people["c2"]
    result = make_mirror(cio, brevo, ledger).run(MirrorRequest(42, 13, include_attributes=("plan",)))
    assert (result.added, result.rejected, ledger.reasons) == (1, 1, ["not_found"])


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


# ------------------------------------------------------------------------------------------- property
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


def test_segment_member_from_identifiers_handles_id_only_workspaces() -> None:
    m = SegmentMember.from_identifiers({"id": "", "cio_id": "abc"})
    assert (m.cio_id, m.id, m.email) == ("abc", None, None)


def test_import_check_confirms_with_a_full_read_before_ledgering(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    ledger = Ledger()
    existing = brevo.add_contact("p1@example.com", "u1")  # in Brevo, not in the list; import won't bump it
    brevo.bump_on_import = False
    cio.segment(42, [cio.person(1)])
    result = make_mirror(cio, brevo, ledger).run(MirrorRequest(42, 13))
    assert (result.added, result.rejected, ledger.rows) == (1, 0, [])
    assert 13 in brevo.contacts[existing]["listIds"]
    assert [since for _, since in brevo.reads] == [None, "1", None]
