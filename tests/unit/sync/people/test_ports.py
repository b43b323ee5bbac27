"""The people sync's ports (sync/people/ports.py): the real adapters and the test fakes implement them."""

from __future__ import annotations

import inspect

import pytest

from airflow_provider_customerio.adapters.people import BrevoContactSink, CustomerIOPeopleSource
from airflow_provider_customerio.sync.people.ports import HYDRATE_CHUNK, Change, ContactSink, PeopleSource
from tests.unit.sync.people.fakes import FakeSink, FakeSource


def _members(protocol: type) -> dict[str, list[str]]:
    """Each method of ``protocol`` with its parameter names (``self`` left out)."""
    return {
        name: [p for p in inspect.signature(fn).parameters if p != "self"]
        for name, fn in vars(protocol).items()
        if inspect.isfunction(fn) and not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [(PeopleSource, [CustomerIOPeopleSource, FakeSource]), (ContactSink, [BrevoContactSink, FakeSink])],
)
def test_adapters_and_fakes_offer_every_port_method_with_its_parameters(protocol, implementations):
    members = _members(protocol)
    assert members, "the port declares no methods"
    for impl in implementations:
        for name, params in members.items():
            method = getattr(impl, name, None)
            assert method is not None, f"{impl.__name__} lacks {name}"
            got = [p for p in inspect.signature(method).parameters if p != "self"]
            assert len(got) == len(params), f"{impl.__name__}.{name}{tuple(got)} != {tuple(params)}"


def test_change_defaults_and_hydrate_chunk():
    change = Change("c1", "delete")
    assert (change.timestamp, change.email, change.id) == (0, None, None)
    assert HYDRATE_CHUNK == 100  # the App API's limit of ids per profile lookup
