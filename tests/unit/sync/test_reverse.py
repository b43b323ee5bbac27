"""Unit tests of sync/reverse.py (Brevo -> Customer.io) over in-memory ports: no Airflow, no HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import BREVO_TO_CIO, CIO_TO_BREVO, StateStore
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.mapping import (
    BrevoAttribute,
    MappedRow,
    Person,
    PersonMapper,
    field_digest,
    row_field_digests,
)
from airflow_provider_customerio.sync.people.extract import trim_to_changed_fields
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.reverse import (
    READ_OVERLAP,
    TRACK_BATCH_LIMIT_BYTES,
    BatchError,
    BrevoContact,
    Profile,
    ReverseMapper,
    ReverseSync,
    ReverseSyncError,
    Snapshot,
    format_brevo_time,
    parse_ms,
    to_customerio,
    to_unix_timestamp,
)

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)
MS0 = int(T0.timestamp() * 1000)

ATTRIBUTES = [
    BrevoAttribute("FIRSTNAME", "text"),
    BrevoAttribute("PLAN_NAME", "text"),
    BrevoAttribute("SIGNUP_DATE", "date"),
    BrevoAttribute("MONTHLY_REVENUE", "float"),
    BrevoAttribute("VIP", "boolean"),
    BrevoAttribute("TIER", "category", enumeration={"gold": 1, "silver": 2}),
    BrevoAttribute("CIO_ID", "text"),
    BrevoAttribute("SMS", "text"),
    BrevoAttribute("EXT_ID", "text"),
]
MAPPING = {
    "id": "CIO_ID",
    "email": "email",
    "first_name": "FIRSTNAME",
    "plan": "PLAN_NAME",
    "created_at": "SIGNUP_DATE",
    "mrr": "MONTHLY_REVENUE",
    "vip": "VIP",
    "tier": "TIER",
    "phone": "SMS",
}


def make_config(policy: str = "customerio_wins", **people: Any) -> Any:
    return parse_config(
        {
            "connectors": {
                "customerio": {
                    "lists": {"all_contacts": 12},
                    "field_mapping": MAPPING,
                    "people": {"reject_threshold": 1.0, **people},
                    "reverse": {"conflict_policy": policy},
                }
            }
        }
    ).customerio


def contact(
    cid: int, *, email: str | None = None, minutes: float = 5, blacklisted: bool = False, **attrs: Any
) -> BrevoContact:
    return BrevoContact(
        id=cid, email=email, attributes=attrs, email_blacklisted=blacklisted, modified_at=MS0 + int(minutes * 60_000)
    )


class FakeBrevo:
    def __init__(self, contacts: list[BrevoContact]) -> None:
        self.contacts = contacts
        self.existing: set[int] = {c.id for c in contacts}
        self.reads = 0

    def list_attributes(self) -> list[BrevoAttribute]:
        return ATTRIBUTES

    def iter_modified(self, since: datetime | None) -> Iterator[BrevoContact]:
        self.reads += 1
        mark = int(since.timestamp() * 1000) if since else None
        for c in sorted(self.contacts, key=lambda c: c.id):
            if mark is None or c.modified_at >= mark:
                yield c

    def contact_exists(self, contact_id: int) -> bool:
        return contact_id in self.existing


class FakeCIO:
    def __init__(self, people: dict[str, Profile] | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.script: list[list[BatchError]] = []  # errors of the next sends, in order
        self.people = people or {}
        self.profile_calls = 0

    def send_batch(self, operations: Sequence[Any]) -> list[BatchError]:
        self.batches.append([dict(o) for o in operations])
        return self.script.pop(0) if self.script else []

    def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
        self.profile_calls += 1
        return [self.people[c] for c in cio_ids if c in self.people]

    @property
    def ops(self) -> list[dict[str, Any]]:
        return [op for b in self.batches for op in b]


@pytest.fixture
def state() -> Iterator[StateStore]:
    with StateStore(":memory:") as s:
        yield s


def run(
    state: StateStore,
    contacts: list[BrevoContact],
    tmp_path: Path,
    *,
    cio: FakeCIO | None = None,
    policy: str = "customerio_wins",
    window: RunWindow | None = RunWindow(T0, T1),
    run_key: str = "d/r/t",
    also_in_brevo: set[int] = frozenset(),
    **kw: Any,
) -> tuple[Any, FakeCIO, list[dict[str, Any]]]:
    cio = cio or FakeCIO()
    brevo = FakeBrevo(contacts)
    brevo.existing |= also_in_brevo
    path = tmp_path / f"{run_key.replace('/', '_')}.jsonl"
    cp = ReverseSync.load_checkpoint(state, run_key)  # as the operator does: a resumed run cuts the ledger back
    with Ledger(path, truncate_to=cp["ledger_offset"] if cp else None) as ledger:
        summary = ReverseSync(
            config=make_config(policy), source=brevo, writer=cio, state=state, ledger=ledger, run_key=run_key, **kw
        ).run(window=window)
    return summary, cio, read_ledger(path)


# ------------------------------------------------------------------------------------------ conversions


def test_conversions_to_customerio_conventions() -> None:
    assert to_unix_timestamp("2024-01-15") == 1705276800
    assert to_unix_timestamp("2024-01-15T12:00:00Z") == 1705320000
    assert to_customerio(42.0, BrevoAttribute("A", "float")) == 42
    assert to_customerio(42.5, BrevoAttribute("A", "float")) == 42.5
    assert to_customerio(True, BrevoAttribute("A", "boolean")) is True
    assert to_customerio(2, BrevoAttribute("A", "category", enumeration={"gold": 1, "silver": 2})) == "silver"
    assert to_customerio("x", BrevoAttribute("A", "text")) == "x"
    with pytest.raises(ValueError, match="not a date"):
        to_unix_timestamp("15/01/2024")
    assert parse_ms(format_brevo_time(T0 + timedelta(milliseconds=7))) == MS0 + 7
    assert format_brevo_time(T0) == "2026-03-01T10:00:00.000Z"


def test_from_api_and_bad_input_messages() -> None:
    c = BrevoContact.from_api(
        {
            "id": 3,
            "email": "A@x.io",
            "modifiedAt": "2026-03-01T10:00:00.000Z",
            "attributes": {"ext_id": "u3"},
            "emailBlacklisted": True,
        }
    )
    assert (c.id, c.ext_id, c.email_blacklisted, c.modified_at) == (3, "u3", True, MS0)
    with pytest.raises(ReverseSyncError, match="without `id`"):
        BrevoContact.from_api({"email": "a@x.io"})
    with pytest.raises(ReverseSyncError, match="conflict_policy `maybe` is unknown.*customerio_wins"):
        ReverseSync(
            config=make_config(),
            source=FakeBrevo([]),
            writer=FakeCIO(),
            state=StateStore(":memory:"),
            ledger=Ledger(":memory:"),
            run_key="k",
            conflict_policy="maybe",
        )


def test_mapper_inverts_field_mapping_and_picks_the_identifier() -> None:
    mapper = ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12])
    rec = mapper.map(
        contact(
            1,
            email="Ann@Example.com",
            FIRSTNAME="Ann",
            SIGNUP_DATE="2024-01-15",
            MONTHLY_REVENUE=9.5,
            VIP=True,
            TIER=1,
            CIO_ID="u1",
            blacklisted=True,
        )
    )
    assert rec.customer_id == "u1" and rec.email == "ann@example.com"
    assert rec.attributes == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "created_at": 1705276800,
        "mrr": 9.5,
        "vip": True,
        "tier": "gold",
        "unsubscribed": True,
    }
    assert mapper.map(contact(2, CIO_ID="c", EXT_ID="ext")).customer_id == "ext"  # EXT_ID first
    assert mapper.map(contact(3, SMS="+33612345678")).phone == "+33612345678"
    bad = mapper.map(contact(4, email="b@x.io", SIGNUP_DATE="soon"))
    assert [p.reason for p in bad.problems] == ["invalid_date"] and "created_at" not in bad.attributes


@settings(max_examples=60, deadline=None)
@given(
    first=st.one_of(st.none(), st.text(min_size=1, max_size=30).filter(str.strip)),
    plan=st.one_of(st.none(), st.sampled_from(["free", "pro"])),
    day=st.one_of(st.none(), st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2100, 1, 1).date())),
    mrr=st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 2))),
    vip=st.one_of(st.none(), st.booleans()),
    unsub=st.booleans(),
    cid=st.one_of(st.none(), st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True)),
)
def test_forward_hash_of_what_brevo_holds_equals_the_people_sync_hash(
    first: Any, plan: Any, day: Any, mrr: Any, vip: Any, unsub: bool, cid: Any
) -> None:
    """The echo contract with sync/people.py: a Brevo contact holding exactly the row the forward sync wrote
    reconstructs the hash the forward sync stored, whatever the values (so echoes are recognised)."""
    attrs = {
        "first_name": first,
        "plan": plan,
        "mrr": None if mrr is None else str(mrr),
        "created_at": None
        if day is None
        else str(int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) + 3600),
        "vip": None if vip is None else str(vip).lower(),
    }
    person = Person(
        cio_id="c1", id=cid, email="p@example.com", attributes={k: v for k, v in attrs.items() if v}, unsubscribed=unsub
    )
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(person)
    assert isinstance(row, MappedRow)
    stored = row.content_hash([12])
    brevo = BrevoContact(
        id=9,
        email=row.row.get("email", "").upper() or None,
        attributes=dict(row.row["attributes"]),
        email_blacklisted=row.blacklisted,
    )
    assert ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12]).map(brevo).forward_hash == stored


def test_snapshot_round_trip_and_diff() -> None:
    a = Snapshot("h1", {"plan": "aa", "first_name": "bb"})
    b = Snapshot.decode(a.encode())
    assert b == a and Snapshot("h2", {"plan": "cc", "first_name": "bb"}).changed(b) == {"plan"}
    assert Snapshot.decode(None) is None and a.changed(None) == {"plan", "first_name"}


# ------------------------------------------------------------------------------------------ the run


def test_writes_changed_contacts_once_without_timestamps_and_respects_the_window(
    state: StateStore, tmp_path: Path
) -> None:
    contacts = [
        contact(1, email="a@x.io", EXT_ID="u1", PLAN_NAME="pro"),
        contact(2, email="b@x.io", PLAN_NAME="free"),
        contact(3, SMS="+33612345678", FIRSTNAME="Sam"),
        contact(4, email="late@x.io", minutes=61),  # after the window's end
        contact(5, email="early@x.io", minutes=-11),  # before its start and its read overlap (10 minutes)
    ]
    summary, cio, ledger = run(state, contacts, tmp_path)
    assert summary.read == 3 and summary.updated == 3 and ledger == []
    assert [op["identifiers"] for op in cio.ops] == [{"id": "u1"}, {"email": "b@x.io"}, {"phone": "+33612345678"}]
    assert all(op["action"] == "identify" and "timestamp" not in op for op in cio.ops)
    assert cio.ops[2]["attributes"] == {"first_name": "Sam", "phone": "+33612345678"}
    assert len(cio.batches) == 1

    again, cio2, _ = run(state, contacts, tmp_path, run_key="d/r2/t")  # idempotent re-run
    assert again.unchanged == 3 and again.updated == 0 and cio2.batches == []


def test_read_overlap_catches_a_late_listed_contact_and_rewrites_nothing_already_settled(
    state: StateStore, tmp_path: Path
) -> None:
    """Window 1 ran before Brevo listed contact 2 (changed 1 ms before window 2's start); window 2 reads from
    ``READ_OVERLAP`` earlier, so contact 2 crosses, and contact 1, settled by window 1, is not written again."""
    settled = contact(1, email="a@x.io", PLAN_NAME="pro", minutes=-0.5)
    first, cio1, _ = run(state, [settled], tmp_path, window=RunWindow(T0 - timedelta(hours=1), T0), run_key="d/w1/t")
    assert first.updated == 1 and len(cio1.ops) == 1
    late = BrevoContact(id=2, email="b@x.io", attributes={"PLAN_NAME": "free"}, modified_at=MS0 - 1)
    second, cio2, _ = run(state, [settled, late], tmp_path, run_key="d/w2/t")
    assert [op["identifiers"] for op in cio2.ops] == [{"email": "b@x.io"}]  # once each, across both windows
    assert second.read == 2 and second.unchanged == 1 and second.updated == 1
    assert READ_OVERLAP >= timedelta(minutes=1)
    without, cio3, _ = run(state, [late], tmp_path, run_key="d/w3/t", read_overlap=timedelta(0))
    assert without.read == 0 and cio3.ops == []  # with no overlap the late contact would be lost


def test_echo_of_the_forward_sync_and_a_list_touch_write_nothing(state: StateStore, tmp_path: Path) -> None:
    person = Person(cio_id="c1", id="u1", email="a@x.io", attributes={"plan": "pro", "first_name": "Ann"})
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(person)
    assert isinstance(row, MappedRow)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])
    state.upsert_identity("c1", email="a@x.io", ext_id="u1")
    echoed = contact(7, email="a@x.io", **row.row["attributes"])
    summary, cio, _ = run(state, [echoed], tmp_path)
    assert summary.echoes == 1 and cio.batches == []
    assert state.get_identity("c1").brevo_id == 7  # the identity map learns the Brevo contact id

    touched = BrevoContact(id=7, email="a@x.io", attributes=echoed.attributes, modified_at=MS0 + 120_000)
    state.set_hashes(CIO_TO_BREVO, [("c1", "something-newer")])  # even with no echo match: the snapshot matches
    summary, cio, _ = run(state, [touched], tmp_path, run_key="d/r2/t")
    assert summary.unchanged == 1 and summary.echoes == 0 and cio.batches == []

    edited = BrevoContact(
        id=7, email="a@x.io", attributes={**echoed.attributes, "PLAN_NAME": "team"}, modified_at=MS0 + 180_000
    )
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])  # Customer.io unchanged since its sync
    summary, cio, _ = run(state, [edited], tmp_path, run_key="d/r3/t", cio=FakeCIO({"c1": Profile(person, 1)}))
    assert not summary.conflicts and cio.profile_calls == 1
    assert cio.ops == [
        {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": {"plan": "team"}}
    ]  # only the changed field
    renamed = BrevoContact(id=7, email="ann@new.io", attributes=edited.attributes, modified_at=MS0 + 240_000)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])
    _, cio2, _ = run(state, [renamed], tmp_path, run_key="d/r4/t", cio=FakeCIO({"c1": Profile(person, 1)}))
    assert cio2.ops[0]["identifiers"] == {"cio_id": "c1"} and cio2.ops[0]["attributes"] == {"email": "ann@new.io"}
    # the forward sync will find Customer.io equal to what Brevo holds: its hash is updated, no echo back
    assert (
        state.get_hash(CIO_TO_BREVO, "c1")
        == ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12]).map(renamed).forward_hash
    )


def _conflict_setup(state: StateStore, cio_change_s: int, brevo_minutes: float) -> tuple[BrevoContact, FakeCIO]:
    synced = Person(cio_id="c1", id="u1", email="a@x.io", attributes={"plan": "free"})
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(synced)
    assert isinstance(row, MappedRow)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])
    state.upsert_identity("c1", email="a@x.io", ext_id="u1")
    now_cio = Person(cio_id="c1", id="u1", email="a@x.io", attributes={"plan": "pro"})  # changed, not synced
    cio = FakeCIO(people={"c1": Profile(now_cio, changed_at=cio_change_s)})
    brevo = contact(7, email="a@x.io", minutes=brevo_minutes, EXT_ID="u1", CIO_ID="u1", PLAN_NAME="enterprise")
    return brevo, cio


@pytest.mark.parametrize(
    ("policy", "cio_minute", "brevo_minute", "winner"),
    [
        ("customerio_wins", 5, 10, "customerio"),
        ("brevo_wins", 10, 5, "brevo"),
        ("newest_wins", 5, 10, "brevo"),
        ("newest_wins", 10, 5, "customerio"),
        ("newest_wins", 5, 5.01, "customerio"),  # within Customer.io's whole second: a tie, Customer.io wins
    ],
)
def test_conflict_policies(
    state: StateStore, tmp_path: Path, policy: str, cio_minute: float, brevo_minute: float, winner: str
) -> None:
    brevo, cio = _conflict_setup(state, int(T0.timestamp() + cio_minute * 60), brevo_minute)
    summary, cio, _ = run(state, [brevo], tmp_path, cio=cio, policy=policy)
    assert dict(summary.conflicts) == {winner: 1}
    (entry,) = summary.conflict_log
    assert entry["winner"] == winner and entry["cio_id"] == "c1" and entry["policy"] == policy
    assert summary.to_xcom()["conflict_log"] == [entry]
    if winner == "brevo":
        assert cio.ops[0]["attributes"]["plan"] == "enterprise"
    else:
        assert cio.batches == [] and state.get_hash(BREVO_TO_CIO, "brevo:7") is None


def test_no_conflict_when_the_customerio_change_already_reached_brevo(state: StateStore, tmp_path: Path) -> None:
    brevo, cio = _conflict_setup(state, int(T0.timestamp() + 300), 10)
    person = cio.people["c1"].person
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(person)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])  # forward already synced "pro"
    summary, cio, _ = run(state, [brevo], tmp_path, cio=cio)
    assert not summary.conflicts and cio.ops[0]["attributes"]["plan"] == "enterprise"


def test_a_person_deleted_in_customerio_is_never_recreated(state: StateStore, tmp_path: Path) -> None:
    brevo, cio = _conflict_setup(state, int(T0.timestamp()), 10)
    cio.people.clear()  # Customer.io deleted the person since the last sync
    summary, cio, _ = run(state, [brevo], tmp_path, cio=cio, policy="brevo_wins")
    assert cio.batches == [] and dict(summary.conflicts) == {"customerio": 1}
    assert summary.conflict_log[0]["customerio_deleted"] is True


def test_profiles_are_read_only_for_real_changes_of_known_people(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(i, email=f"n{i}@x.io", PLAN_NAME="pro") for i in range(1, 300)]  # unknown people
    summary, cio, _ = run(state, contacts, tmp_path)
    assert summary.updated == 299 and cio.profile_calls == 0


def test_207_transient_errors_are_resent_a_bounded_number_of_times(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(i, email=f"p{i}@x.io", PLAN_NAME="pro") for i in range(1, 5)]
    cio = FakeCIO()
    transient = BatchError(0, "internal", "temporary failure; retry it")
    cio.script = [[transient, BatchError(2, "invalid", "bad value", "attributes.plan")], [transient], [transient]]
    summary, cio, ledger = run(state, contacts, tmp_path, cio=cio, max_attempts=3)
    assert [len(b) for b in cio.batches] == [4, 1, 1]  # p1 sent 3 times, then given up
    assert summary.updated == 2 and summary.rejected == 2
    by_email = {line["identifiers"]["email"]: line for line in ledger}
    assert (
        by_email["p1@x.io"]["detail"]["vendor_reason"] == "internal"
        and "after 3 attempts" in by_email["p1@x.io"]["message"]
    )
    assert by_email["p3@x.io"]["detail"] == {
        "vendor_reason": "invalid",
        "field": "attributes.plan",
        "identifiers": {"email": "p3@x.io"},
    }
    assert state.get_hash(BREVO_TO_CIO, "brevo:1") is None and state.get_hash(BREVO_TO_CIO, "brevo:2")


def test_batches_stay_under_500kb_and_an_oversized_operation_is_ledgered(state: StateStore, tmp_path: Path) -> None:
    big = "x" * 990
    contacts = [contact(i, email=f"p{i}@x.io", FIRSTNAME=big, PLAN_NAME=big) for i in range(1, 401)]
    summary, cio, ledger = run(state, contacts, tmp_path, page_size=1000)
    sizes = [len(json.dumps({"batch": b}, separators=(",", ":")).encode()) for b in cio.batches]
    assert len(sizes) == 2 and max(sizes) < TRACK_BATCH_LIMIT_BYTES and min(sizes) > 300_000
    assert summary.updated == 400 and ledger == []

    huge = contact(999, email="huge@x.io", EXT_ID="h" * 40000)  # a 40 KB identifier: over 32 KB per op
    summary, cio, ledger = run(state, [huge], tmp_path, run_key="d/r2/t")
    assert cio.batches == [] and [line["reason"] for line in ledger] == ["oversized_record"]


def test_identity_clashes_are_ledgered_with_both_identities(state: StateStore, tmp_path: Path) -> None:
    state.upsert_identity("c-ann", email="ann@x.io")
    state.upsert_identity("c-bob", email="bob@x.io", ext_id="42")
    merged = contact(1, email="ann@x.io", EXT_ID="42", FIRSTNAME="Ann-Bob")
    twin_a = contact(2, email="carl@x.io", EXT_ID="77")
    state.upsert_identity("c-carl", email="carl@x.io", ext_id="77", brevo_id=50)  # stood for contact 50
    summary, cio, ledger = run(state, [merged, twin_a], tmp_path, also_in_brevo={50})
    assert cio.batches == [] and summary.rejected == 2
    assert all(line["reason"] == "identity_clash" for line in ledger)
    sides = {p["cio_id"] for p in ledger[0]["detail"]["customerio"]}
    assert sides == {"c-ann", "c-bob"} and ledger[0]["identifiers"]["id"] == "42"
    assert ledger[1]["detail"]["customerio"][0]["brevo_contact_id"] == 50

    # once the old contact is gone from Brevo, the new one takes the person over: no clash
    brevo = FakeBrevo([twin_a])
    with Ledger(tmp_path / "ledger.db") as led:
        s = ReverseSync(
            config=make_config(), source=brevo, writer=(cio := FakeCIO()), state=state, ledger=led, run_key="d/r9/t"
        ).run(window=RunWindow(T0, T1))
    assert s.updated == 1 and state.get_identity("c-carl").brevo_id == 2


def test_missing_identifier_and_full_mode(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(1, FIRSTNAME="Nobody"), contact(2, email="a@x.io", minutes=-600)]
    summary, cio, ledger = run(state, contacts, tmp_path, window=None)  # full: no window filter
    assert summary.mode == "full" and summary.read == 2 and summary.updated == 1
    assert [line["reason"] for line in ledger] == ["missing_identifier"]
    assert "no EXT_ID" in ledger[0]["message"]


def test_resume_skips_committed_pages_and_truncated_ledger_is_not_doubled(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(i, email=f"p{i}@x.io") for i in range(1, 8)] + [contact(8, FIRSTNAME="no-id")]

    class Boom(Exception):
        pass

    class Dying(FakeCIO):
        def send_batch(self, operations: Sequence[Any]) -> list[BatchError]:
            if len(self.batches) == 1:
                raise Boom()
            return super().send_batch(operations)

    dying = Dying()
    with pytest.raises(Boom):  # ~120-byte operations: two pages of 3 fill the 800-byte budget, then a batch
        run(state, contacts, tmp_path, cio=dying, page_size=3, batch_budget_bytes=800)
    assert [len(b) for b in dying.batches] == [6]
    cp = ReverseSync.load_checkpoint(state, "d/r/t")
    assert cp["position"] == 6 and cp["summary"]["updated"] == 6
    summary, cio, ledger = run(state, contacts, tmp_path, page_size=3, batch_budget_bytes=800)
    assert [op["identifiers"]["email"] for op in cio.ops] == ["p7@x.io"]  # nothing written twice
    assert summary.read == 8 and summary.updated == 7
    assert [line["reason"] for line in ledger] == ["missing_identifier"]  # decided twice, ledgered once


# ------------------------------------------------------------------------------------------ per-field conflicts


def _synced(state: StateStore, **attrs: Any) -> tuple[Person, dict[str, Any]]:
    """A person the Customer.io -> Brevo sync wrote (hash, identity and per-field digests, as it commits them)."""
    person = Person(cio_id="c1", id="u1", email="a@x.io", attributes=attrs)
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(person)
    assert isinstance(row, MappedRow)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])
    state.set_field_digests([("c1", row_field_digests(row.row))])
    state.upsert_identity("c1", email="a@x.io", ext_id="u1")
    return person, dict(row.row["attributes"])


def _cio_now(times: dict[str, int] | None = None, **attrs: Any) -> FakeCIO:
    person = Person(cio_id="c1", id="u1", email="a@x.io", attributes=attrs)
    stamps = times or {}
    return FakeCIO({"c1": Profile(person, max(stamps.values()) if stamps else None, field_times=stamps)})


def test_a_ledgered_customerio_value_never_makes_a_conflict(state: StateStore, tmp_path: Path) -> None:
    """The reported case: Customer.io holds a phone Brevo cannot take (ledgered as invalid_phone) and nobody
    changed the plan in Customer.io: Brevo's plan edits flow, run after run, under the default policy."""
    _, brevo_attrs = _synced(state, plan="free", phone="not-a-number")
    in_cio = "free"
    for n, plan in enumerate(["pro", "team"]):
        edited = contact(7, email="a@x.io", minutes=5 + n, **{**brevo_attrs, "PLAN_NAME": plan})
        summary, cio, _ = run(
            state,
            [edited],
            tmp_path,
            run_key=f"d/r{n}/t",
            cio=_cio_now({"phone": 1}, plan=in_cio, phone="not-a-number"),
        )
        assert not summary.conflicts and summary.conflict_log == []
        assert cio.ops == [
            {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": {"plan": plan}}
        ]
        in_cio = plan  # Customer.io now holds Brevo's value


def test_one_sided_edits_flow_both_ways_without_a_conflict(state: StateStore, tmp_path: Path) -> None:
    """Customer.io changed the first name, Brevo the plan: no conflict; Brevo's plan is written, Customer.io's
    first name is left for the Customer.io -> Brevo run (not overwritten with Brevo's stale value)."""
    _, brevo_attrs = _synced(state, plan="free", first_name="Ann")
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "PLAN_NAME": "pro", "FIRSTNAME": "Ann"})
    cio = _cio_now({"first_name": int(T0.timestamp()) + 600}, plan="free", first_name="Annie")
    summary, cio, _ = run(state, [edited], tmp_path, cio=cio, policy="customerio_wins")
    assert not summary.conflicts
    assert [op["attributes"] for op in cio.ops] == [{"plan": "pro"}]
    digests = state.get_field_digests(["c1"])["c1"]
    assert digests["PLAN_NAME"] == field_digest("pro")  # what both sides now hold


@pytest.mark.parametrize(
    ("policy", "cio_minute", "winner"),
    [("customerio_wins", 1, "customerio"), ("brevo_wins", 9, "brevo"), ("newest_wins", 1, "brevo")],
)
def test_two_sided_edit_is_a_conflict_of_that_field_only(
    state: StateStore, tmp_path: Path, policy: str, cio_minute: int, winner: str
) -> None:
    _, brevo_attrs = _synced(state, plan="free", first_name="Ann")
    # Brevo changed plan (both sides: conflict) and first name (Brevo only: flows whatever the policy)
    edited = contact(7, email="a@x.io", minutes=5, **{**brevo_attrs, "PLAN_NAME": "team", "FIRSTNAME": "Anna"})
    cio_s = int(T0.timestamp()) + cio_minute * 60
    cio = _cio_now({"plan": cio_s, "first_name": int(T0.timestamp()) - 86400}, plan="pro", first_name="Ann")
    summary, cio, _ = run(state, [edited], tmp_path, cio=cio, policy=policy)
    assert dict(summary.conflicts) == {winner: 1}
    (entry,) = summary.conflict_log
    assert entry["field"] == "plan" and entry["winner"] == winner and entry["policy"] == policy
    assert entry["brevo_modified_at"] == "2026-03-01T10:05:00.000+00:00"
    assert entry["customerio_changed_at"] == datetime.fromtimestamp(cio_s, timezone.utc).isoformat(
        timespec="milliseconds"
    )
    (op,) = cio.ops
    assert op["attributes"] == ({"first_name": "Anna", "plan": "team"} if winner == "brevo" else {"first_name": "Anna"})
    if winner == "customerio":
        # a lost field keeps being decided (the snapshot is not committed) until the forward run settles it
        assert state.get_hash(BREVO_TO_CIO, "brevo:7") is None


def test_both_sides_holding_the_same_value_write_nothing(state: StateStore, tmp_path: Path) -> None:
    _, brevo_attrs = _synced(state, plan="free")
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "PLAN_NAME": "pro"})
    summary, cio, _ = run(state, [edited], tmp_path, cio=_cio_now({"plan": 1}, plan="pro"))
    assert cio.batches == [] and not summary.conflicts and summary.unchanged == 1
    assert state.get_field_digests(["c1"])["c1"]["PLAN_NAME"] == field_digest("pro")


def test_a_value_brevo_cannot_convert_never_makes_a_conflict(state: StateStore, tmp_path: Path) -> None:
    _, brevo_attrs = _synced(state, plan="free", created_at=1705276800)
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "SIGNUP_DATE": "soon", "PLAN_NAME": "pro"})
    summary, cio, ledger = run(state, [edited], tmp_path, cio=_cio_now({"created_at": 9}, plan="free", created_at=9))
    assert not summary.conflicts and [op["attributes"] for op in cio.ops] == [{"plan": "pro"}]
    assert [line["reason"] for line in ledger] == ["invalid_date"]


def test_forward_rows_carry_only_the_fields_customerio_changed() -> None:
    row = {"email": "a@x.io", "attributes": {"PLAN_NAME": "pro", "FIRSTNAME": "Ann", "EXT_ID": "u1"}}
    base = {"PLAN_NAME": field_digest("free"), "FIRSTNAME": field_digest("Ann"), "email": field_digest("a@x.io")}
    assert trim_to_changed_fields(row, base) == {"email": "a@x.io", "attributes": {"PLAN_NAME": "pro", "EXT_ID": "u1"}}


# ------------------------------------------------------------------------------------------ unsubscribes, dry run


def test_a_blacklisted_contact_becomes_unsubscribed_and_suppressed_only_when_configured(
    state: StateStore, tmp_path: Path
) -> None:
    _, brevo_attrs = _synced(state, plan="free")
    opted_out = contact(7, email="a@x.io", blacklisted=True, **brevo_attrs)  # unsubscribed or hard-bounced
    summary, cio, _ = run(state, [opted_out], tmp_path, cio=_cio_now(plan="free"))
    assert cio.ops == [
        {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": {"unsubscribed": True}}
    ]
    assert summary.unsubscribed == 1 and summary.suppressed == 0 and not summary.conflicts

    with StateStore(":memory:") as other:
        _synced(other, plan="free")
        config = parse_config(
            {
                "connectors": {
                    "customerio": {
                        "lists": {"all_contacts": 12},
                        "field_mapping": MAPPING,
                        "reverse": {"suppress_unsubscribed": True},
                    }
                }
            }
        ).customerio
        cio = _cio_now(plan="free")
        with Ledger(tmp_path / "s.jsonl") as led:
            s = ReverseSync(
                config=config, source=FakeBrevo([opted_out]), writer=cio, state=other, ledger=led, run_key="d/s/t"
            ).run(window=RunWindow(T0, T1))
        assert [op["action"] for op in cio.ops] == ["identify", "suppress"]
        assert cio.ops[1]["identifiers"] == {"id": "u1"} and s.suppressed == 1 and s.unsubscribed == 1


def test_dry_run_lists_the_plan_and_writes_nothing(state: StateStore, tmp_path: Path) -> None:
    _, brevo_attrs = _synced(state, plan="free", first_name="Ann")
    edited = contact(7, email="a@x.io", blacklisted=True, **{**brevo_attrs, "PLAN_NAME": "team", "FIRSTNAME": "Anna"})
    new = contact(8, email="new@x.io", PLAN_NAME="pro")
    before = state.get_field_digests(["c1"])
    cio = _cio_now({"plan": 1}, plan="pro", first_name="Ann")
    brevo = FakeBrevo([edited, new])
    with Ledger(tmp_path / "dry.jsonl") as led:
        s = ReverseSync(config=make_config(), source=brevo, writer=cio, state=state, ledger=led, run_key="d/dry/t").run(
            window=RunWindow(T0, T1), dry_run=True
        )
    out = s.to_xcom()
    assert cio.batches == [] and out["dry_run"] is True
    plan = out["plan"]
    assert plan["creates"] == 1 and plan["creates_items"] == ["brevo:8"]
    assert plan["updates"] == 1 and plan["updates_items"] == ["c1"] and plan["unsubscribes"] == 1
    assert plan["deletes"] == 0 and plan["list_adds"] == 0 and plan["list_removals"] == 0
    assert [(c["field"], c["winner"]) for c in plan["conflicts"]] == [("plan", "customerio")]
    # nothing recorded: the same run for real still has everything to do
    assert state.get_field_digests(["c1"]) == before and state.get_hash(BREVO_TO_CIO, "brevo:7") is None
    assert state.get_checkpoint("d/dry/t") is None
