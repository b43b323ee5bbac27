"""The sandbox's App API filters (sandbox/customerio/queries.py): a compiled filter answers like ``matches``;
conditions are counted for the export bound."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState
from airflow_provider_customerio.sandbox.seed import SeedParams, seed_customerio

N = 400


@pytest.fixture(scope="module")
def world() -> CustomerIOState:
    state = CustomerIOState()
    seed_customerio(state, SeedParams(people=N, seed=7, now=1_790_000_000))
    return state


def _eq(field: str, value: str) -> dict:
    return {"attribute": {"field": field, "operator": "eq", "value": value}}


def test_compiled_filters_match_exactly_like_matches(world: CustomerIOState) -> None:
    cio_ids = [world.field_value(i, "cio_id") for i in range(0, N, 7)]
    plans = sorted({str(world.field_value(i, "plan")) for i in range(N)} - {"None"})
    filters = [
        {"or": [_eq("cio_id", c) for c in cio_ids if c]},
        {"or": [*(_eq("cio_id", c) for c in cio_ids[:5] if c), _eq("plan", plans[0])]},
        {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}, {"not": _eq("plan", plans[0])}]},
        {"not": {"or": [_eq("cio_id", c) for c in cio_ids[:3] if c]}},
        {"or": [{"and": [_eq("plan", plans[-1])]}, _eq("cio_id", "no-such-person")]},
        _eq("cio_id", cio_ids[1]),
    ]
    for flt in filters:
        world.validate_filter(flt)
        compiled = world.compile_filter(flt)
        expected = [i for i in world.read_indexes() if world.matches(i, flt)]
        assert expected, flt
        assert [i for i in world.read_indexes() if compiled(i)] == expected


def test_conditions_are_counted_through_and_or_not() -> None:
    flt = {"or": [_eq("a", "1"), {"and": [_eq("b", "2"), {"not": _eq("c", "3")}]}, {"segment": {"id": 1}}]}
    assert CustomerIOState.count_conditions(flt) == 4
