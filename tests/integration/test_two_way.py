"""Two-way people sync against the sandbox: Customer.io -> Brevo (the people sync) and Brevo -> Customer.io (the
reverse sync) sharing one sync store. No echoes, conflicts resolved by policy, identity clashes ledgered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.test_reverse_helpers import Harness, utcnow, window_since

pytestmark = pytest.mark.integration


@pytest.fixture
def h(sandbox: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(sandbox, tmp_path, monkeypatch)


def _cio_people(h: Harness, n: int) -> None:
    for i in range(n):
        h.track_identify(
            {"id": f"u{i}"},
            {
                "email": f"user{i}@example.com",
                "first_name": f"F{i}",
                "plan": "free",
                "mrr": 10 + i,
                "created_at": 1700000000 + i * 3600,
                "lifecycle_stage": "lead",
            },
        )


def _writes(h: Harness) -> tuple[int, int]:
    """(Track batches, Brevo writes) logged since the last clear."""
    return len(h.track_batches()), len(h.brevo_writes())


def test_forward_then_reverse_then_forward_makes_no_writes(h: Harness) -> None:
    t0 = utcnow() - timedelta(seconds=1)
    _cio_people(h, 8)
    fwd = h.forward(*window_since(t0))
    assert fwd["read"] == 8 and fwd["rejected"] == 0
    assert len(h.brevo_contacts()) == 8

    t1 = utcnow()
    h.sandbox.clear_requests()
    rev = h.reverse(*window_since(t0))  # sees the 8 contacts the forward sync just wrote
    assert rev["read"] == 8 and rev["echoes"] == 8 and rev["updated"] == 0
    assert _writes(h) == (0, 0)

    third = h.forward(*window_since(t1))  # (may re-read people of t1's second: unchanged, so not written)
    assert third["imports"] == 0 and third["unchanged"] == third["read"]
    assert _writes(h) == (0, 0)


def test_reverse_then_forward_then_reverse_makes_no_writes(h: Harness) -> None:
    h.seed_brevo(30, seed=11)
    start = utcnow() - timedelta(days=3)
    rev = h.reverse(*window_since(start))
    assert rev["updated"] == 30
    people_after_reverse = h.sandbox.summary()["people"]

    t1 = utcnow() - timedelta(seconds=1)
    fwd = h.forward(*window_since(start))  # Customer.io changed those people: the forward sync sends them over
    assert fwd["read"] >= 27  # SMS-only contacts have no email or id: the forward sync ledgers them

    h.sandbox.clear_requests()
    third = h.reverse(*window_since(t1))
    assert third["read"] > 0 and third["echoes"] == third["read"] and third["updated"] == 0
    assert _writes(h) == (0, 0)
    assert h.sandbox.summary()["people"] == people_after_reverse


def _synced_person(h: Harness) -> dict[str, Any]:
    """One person synced Customer.io -> Brevo -> (echo) and the Brevo contact standing for them."""
    t0 = utcnow() - timedelta(seconds=1)
    _cio_people(h, 1)
    h.forward(*window_since(t0))
    h.reverse(*window_since(t0))
    (contact,) = h.brevo_contacts()
    return contact


@pytest.mark.parametrize(
    ("policy", "order", "winner", "plan"),
    [
        ("customerio_wins", "cio_then_brevo", "customerio", "pro"),
        ("brevo_wins", "cio_then_brevo", "brevo", "enterprise"),
        ("newest_wins", "brevo_then_cio", "customerio", "pro"),
    ],
)
def test_conflict_policy(h: Harness, policy: str, order: str, winner: str, plan: str) -> None:
    h.set_policy(policy)
    contact = _synced_person(h)
    # scheduled intervals start on whole hours; Customer.io's activity times are whole seconds
    t1 = utcnow().replace(microsecond=0)
    changes = [
        lambda: h.track_identify({"id": "u0"}, {"plan": "pro"}),
        lambda: h.brevo(
            "PUT", f"/contacts/{contact['id']}", {"attributes": {"PLAN_NAME": "enterprise", "LASTNAME": "Brevo"}}
        ),
    ]
    for change in changes if order == "cio_then_brevo" else changes[::-1]:
        change()

    rev = h.reverse(*window_since(t1))

    assert rev["conflict_policy"] == policy and rev["conflicts"] == {winner: 1}
    (entry,) = rev["conflict_log"]
    assert entry["winner"] == winner and entry["brevo_contact_id"] == contact["id"] and entry["policy"] == policy
    person = h.person("u0", "id")
    assert person["attributes"]["plan"] == plan
    assert entry["field"] == "plan"  # per field: the last name changed in Brevo only, so it is no conflict
    assert person["attributes"].get("last_name") == "Brevo"  # ... and flows whatever the policy
    # the next Customer.io -> Brevo run converges both sides on the winner's values
    h.forward(*window_since(t1))
    (after,) = h.brevo_contacts()
    assert after["attributes"]["PLAN_NAME"] == plan


def test_identity_clash_is_ledgered_with_both_identities_and_not_written(h: Harness) -> None:
    t0 = utcnow() - timedelta(seconds=1)
    h.track_identify({"email": "ann@example.com"}, {"first_name": "Ann"})
    h.track_identify({"id": "42"}, {"email": "bob@example.com", "first_name": "Bob"})
    h.forward(*window_since(t0))
    by_email = {c["email"]: c for c in h.brevo_contacts()}
    h.reverse(*window_since(t0))
    # in Brevo, Ann's contact takes over Bob's external id (Bob's contact deleted first: EXT_ID is unique)
    t1 = utcnow() - timedelta(milliseconds=1)
    h.brevo("DELETE", f"/contacts/{by_email['bob@example.com']['id']}")
    h.brevo(
        "PUT",
        f"/contacts/{by_email['ann@example.com']['id']}",
        {"attributes": {"EXT_ID": "42", "FIRSTNAME": "Ann-Bob"}},
    )
    h.sandbox.clear_requests()

    rev = h.reverse(*window_since(t1))

    assert rev["read"] == 1 and rev["rejected"] == 1 and rev["updated"] == 0
    assert h.track_batches() == []
    (line,) = h.ledger_lines(rev)
    assert line["reason"] == "identity_clash"
    assert line["identifiers"]["email"] == "ann@example.com" and line["identifiers"]["id"] == "42"
    cio_sides = {(p["email"], p["id"]) for p in line["detail"]["customerio"]}
    assert cio_sides == {("ann@example.com", None), ("bob@example.com", "42")}
    assert "merge the duplicate people" in line["message"]
    assert h.person("42", "id")["attributes"]["first_name"] == "Bob"
    assert h.person("ann@example.com", "email")["attributes"]["first_name"] == "Ann"
    # not retried: the same window again ledgers it again but still writes nothing
    again = h.reverse(*window_since(t1), run_id="scheduled__clash_rerun")
    assert again["rejected"] == 1 and again["updated"] == 0


def test_a_brevo_unsubscribe_reaches_customerio_and_does_not_echo_back(h: Harness) -> None:
    contact = _synced_person(h)
    t1 = utcnow().replace(microsecond=0)
    h.brevo("PUT", f"/contacts/{contact['id']}", {"emailBlacklisted": True})  # unsubscribed / hard bounce

    rev = h.reverse(*window_since(t1))

    assert rev["updated"] == 1 and rev["unsubscribed"] == 1 and rev["conflicts"] == {}
    person = h.person("u0", "id")
    assert person["unsubscribed"] is True and person["attributes"]["plan"] == "free"  # suppression is opt-in
    h.sandbox.clear_requests()
    fwd = h.forward(*window_since(t1))  # Customer.io now maps to exactly what Brevo holds: nothing to write
    assert fwd["imports"] == 0
    again = h.reverse(*window_since(t1), run_id="scheduled__unsub_rerun")
    assert again["updated"] == 0
    assert _writes(h) == (0, 0)


def test_a_customerio_unsubscribe_reaches_brevo_and_does_not_echo_back(h: Harness) -> None:
    contact = _synced_person(h)
    t1 = utcnow().replace(microsecond=0)
    h.track_identify({"id": "u0"}, {"unsubscribed": True})

    fwd = h.forward(*window_since(t1))

    assert fwd["imports"] == 1
    (after,) = h.brevo_contacts()
    assert after["id"] == contact["id"] and after["emailBlacklisted"] is True
    h.sandbox.clear_requests()
    rev = h.reverse(*window_since(t1))  # reads the contact the forward run just blacklisted: an echo
    assert rev["read"] == 1 and rev["echoes"] == 1 and rev["updated"] == 0
    assert _writes(h) == (0, 0)


@pytest.mark.parametrize("order", ["forward_first", "reverse_first"])
def test_one_sided_edits_on_both_sides_converge_in_any_order_then_write_nothing(h: Harness, order: str) -> None:
    contact = _synced_person(h)
    t1 = utcnow().replace(microsecond=0)
    h.track_identify({"id": "u0"}, {"first_name": "Customer"})  # Customer.io edits one field
    h.brevo("PUT", f"/contacts/{contact['id']}", {"attributes": {"PLAN_NAME": "team"}})  # Brevo another

    steps = [lambda n: h.forward(*window_since(t1)), lambda n: h.reverse(*window_since(t1), run_id=f"scheduled__{n}")]
    if order == "reverse_first":
        steps.reverse()
    for n in range(2):
        for step in steps:
            result = step(n)
            assert not result.get("conflicts")

    person = h.person("u0", "id")
    (after,) = h.brevo_contacts()
    assert person["attributes"]["first_name"] == "Customer" and person["attributes"]["plan"] == "team"
    assert after["attributes"]["FIRSTNAME"] == "Customer" and after["attributes"]["PLAN_NAME"] == "team"
    h.sandbox.clear_requests()
    for n in range(2, 4):  # both sides agree: repeated runs, in either order, write nothing
        for step in steps if n % 2 else steps[::-1]:
            step(n)
    assert _writes(h) == (0, 0)


def test_brevo_edits_of_people_with_a_ledgered_customerio_value_all_reach_customerio(h: Harness) -> None:
    """The reported case: three contacts edited in Brevo after a full sync, one of whom has a phone Brevo cannot
    take (ledgered as invalid_phone). All three edits reach Customer.io; no conflict, at this run or the next."""
    t0 = utcnow() - timedelta(seconds=1)
    _cio_people(h, 3)
    h.track_identify({"id": "u1"}, {"phone": "12345"})  # no country code: invalid for Brevo's SMS
    fwd = h.forward(*window_since(t0))
    assert fwd["rejects_by_reason"] == {"invalid_phone": 1}
    h.reverse(*window_since(t0))
    for n in range(2):
        t1 = utcnow().replace(microsecond=0)
        for c in h.brevo_contacts():
            h.brevo("PUT", f"/contacts/{c['id']}", {"attributes": {"PLAN_NAME": f"edited-{n}"}})
        rev = h.reverse(*window_since(t1), run_id=f"scheduled__edit_{n}")
        assert rev["conflicts"] == {} and rev["updated"] == 3
        assert [h.person(f"u{i}", "id")["attributes"]["plan"] for i in range(3)] == [f"edited-{n}"] * 3
        h.forward(*window_since(t1))  # the forward run follows: nothing of Brevo's edits is undone
        assert {c["attributes"]["PLAN_NAME"] for c in h.brevo_contacts()} == {f"edited-{n}"}
