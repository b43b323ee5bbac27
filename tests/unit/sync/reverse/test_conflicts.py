"""Per-field conflicts of the two-way sync and the conflict policies, over in-memory ports."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_customerio.store.state import BREVO_TO_CIO, CIO_TO_BREVO, StateStore
from airflow_provider_customerio.sync.mapping import (
    MappedRow,
    Person,
    PersonMapper,
    field_digest,
)
from airflow_provider_customerio.sync.people.extract import trim_to_changed_fields
from airflow_provider_customerio.sync.reverse.ports import (
    BrevoContact,
    Profile,
)
from tests.unit.sync.reverse.fakes import (
    ATTRIBUTES,
    T0,
    FakeCIO,
    cio_now,
    contact,
    make_config,
    run,
    synced,
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


def test_a_ledgered_customerio_value_never_makes_a_conflict(state: StateStore, tmp_path: Path) -> None:
    """The reported case: Customer.io holds a phone Brevo cannot take (ledgered as invalid_phone) and nobody
    changed the plan in Customer.io: Brevo's plan edits flow, run after run, under the default policy."""
    _, brevo_attrs = synced(state, plan="free", phone="not-a-number")
    in_cio = "free"
    for n, plan in enumerate(["pro", "team"]):
        edited = contact(7, email="a@x.io", minutes=5 + n, **{**brevo_attrs, "PLAN_NAME": plan})
        summary, cio, _ = run(
            state,
            [edited],
            tmp_path,
            run_key=f"d/r{n}/t",
            cio=cio_now({"phone": 1}, plan=in_cio, phone="not-a-number"),
        )
        assert not summary.conflicts and summary.conflict_log == []
        assert cio.ops == [
            {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": {"plan": plan}}
        ]
        in_cio = plan  # Customer.io now holds Brevo's value


def test_one_sided_edits_flow_both_ways_without_a_conflict(state: StateStore, tmp_path: Path) -> None:
    """Customer.io changed the first name, Brevo the plan: no conflict; Brevo's plan is written, Customer.io's
    first name is left for the Customer.io -> Brevo run (not overwritten with Brevo's stale value)."""
    _, brevo_attrs = synced(state, plan="free", first_name="Ann")
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "PLAN_NAME": "pro", "FIRSTNAME": "Ann"})
    cio = cio_now({"first_name": int(T0.timestamp()) + 600}, plan="free", first_name="Annie")
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
    _, brevo_attrs = synced(state, plan="free", first_name="Ann")
    # Brevo changed plan (both sides: conflict) and first name (Brevo only: flows whatever the policy)
    edited = contact(7, email="a@x.io", minutes=5, **{**brevo_attrs, "PLAN_NAME": "team", "FIRSTNAME": "Anna"})
    cio_s = int(T0.timestamp()) + cio_minute * 60
    cio = cio_now({"plan": cio_s, "first_name": int(T0.timestamp()) - 86400}, plan="pro", first_name="Ann")
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
    _, brevo_attrs = synced(state, plan="free")
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "PLAN_NAME": "pro"})
    summary, cio, _ = run(state, [edited], tmp_path, cio=cio_now({"plan": 1}, plan="pro"))
    assert cio.batches == [] and not summary.conflicts and summary.unchanged == 1
    assert state.get_field_digests(["c1"])["c1"]["PLAN_NAME"] == field_digest("pro")


def test_a_value_brevo_cannot_convert_never_makes_a_conflict(state: StateStore, tmp_path: Path) -> None:
    _, brevo_attrs = synced(state, plan="free", created_at=1705276800)
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "SIGNUP_DATE": "soon", "PLAN_NAME": "pro"})
    summary, cio, ledger = run(state, [edited], tmp_path, cio=cio_now({"created_at": 9}, plan="free", created_at=9))
    assert not summary.conflicts and [op["attributes"] for op in cio.ops] == [{"plan": "pro"}]
    assert [line["reason"] for line in ledger] == ["invalid_date"]


def test_forward_rows_carry_only_the_fields_customerio_changed() -> None:
    row = {"email": "a@x.io", "attributes": {"PLAN_NAME": "pro", "FIRSTNAME": "Ann", "EXT_ID": "u1"}}
    base = {"PLAN_NAME": field_digest("free"), "FIRSTNAME": field_digest("Ann"), "email": field_digest("a@x.io")}
    assert trim_to_changed_fields(row, base) == {"email": "a@x.io", "attributes": {"PLAN_NAME": "pro", "EXT_ID": "u1"}}
