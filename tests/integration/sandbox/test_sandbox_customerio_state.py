"""Properties of the Customer.io state model (no HTTP): lazy seeded people resolve like stored ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sandbox.customerio.errors import InvalidOperation
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState
from airflow_provider_customerio.sandbox.seed import SeedParams, seed_customerio

N = 50_000


@pytest.fixture(scope="module")
def world() -> CustomerIOState:
    state = CustomerIOState()
    seed_customerio(state, SeedParams(people=N, seed=123, now=1_790_000_000))
    return state


@settings(max_examples=300, deadline=None)
@given(i=st.integers(min_value=0, max_value=N - 1))
def test_every_seeded_identifier_resolves_back_to_its_person(world: CustomerIOState, i: int) -> None:
    rec = world.world.record(i)  # type: ignore[union-attr]
    assert world.world.identifiers(i) == {"email": rec["email"], "id": rec["id"], "cio_id": rec["cio_id"]}  # type: ignore[union-attr]
    expected = None if i in world.deleted else i
    assert world.find("cio_id", rec["cio_id"]) == expected
    if rec["id"] is not None:
        assert world.find("id", rec["id"]) == expected
    if rec["email"] is not None:
        assert world.find("email", rec["email"].upper()) == expected
    if rec["phone"] is not None:
        assert world.find("phone", rec["phone"]) == expected


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=30))
def test_arbitrary_identifiers_never_crash_lookups(world: CustomerIOState, value: str) -> None:
    for kind in ("id", "email", "phone", "cio_id"):
        found = world.find(kind, value)
        assert found is None or world.person(found) is not None


def test_write_to_a_seeded_person_is_copy_on_write_and_reindexed() -> None:
    state = CustomerIOState()
    seed_customerio(state, SeedParams(people=100, seed=1, now=1_790_000_000))
    i = next(
        k
        for k in range(100)
        if k not in state.deleted
        and state.world.record(k)["email"]  # type: ignore[union-attr]
        and "@@" not in state.world.record(k)["email"]
        and state.world.record(k)["id"]
    )  # type: ignore[union-attr]
    rec = state.world.record(i)  # type: ignore[union-attr]
    assert i not in state.overlay
    state.identify("cio_id", rec["cio_id"], {"email": "moved@example.com", "plan": "vip"})
    assert i in state.overlay and state.find("email", "moved@example.com") == i
    assert state.find("email", rec["email"]) is None  # the old seeded email no longer resolves
    assert state.person(i).attrs["plan"] == "vip"  # type: ignore[union-attr]
    assert state.person(i).attrs["first_name"] == rec["attrs"]["first_name"]  # type: ignore[union-attr]
    with pytest.raises(InvalidOperation) as exc:
        state.identify("id", "x" * 151, {})
    assert exc.value.field == "id"
