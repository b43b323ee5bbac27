"""Brevo import slots in the store (``store/slots.py``): the shared contract, then the table's own behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_customerio.store.sync_store import SyncStore
from tests import store_contract as contract


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "store.db")


def test_import_slots(store: SyncStore) -> None:
    contract.check_import_slots(store)
    contract.check_concurrent_import_slot_has_one_winner(store)


def test_take_numbers_the_slots_up_to_the_limit_and_gives_an_unbound_one_back(store: SyncStore) -> None:
    table = store.import_slots()
    assert table.take("acct", "run A", limit=2, ttl=60, now=0) == 0
    assert table.take("acct", "run A", limit=2, ttl=60, now=1) == 0  # its own unbound slot: a retry takes it back
    assert table.take("acct", "run B", limit=2, ttl=60, now=1) == 1
    assert table.take("acct", "run C", limit=2, ttl=60, now=1) is None
    assert table.take("other", "run C", limit=2, ttl=60, now=1) == 0  # per account


def test_a_bound_slot_is_freed_by_its_process_and_a_lapsed_one_is_taken_over(store: SyncStore) -> None:
    table = store.import_slots()
    slot = table.take("acct", "run A", limit=1, ttl=60, now=0)
    assert slot == 0 and table.bind("acct", slot, "run A", "77", ttl=60, now=0)
    assert not table.bind("acct", slot, "run B", "78", ttl=60, now=0)  # not its slot
    assert [(h.slot, h.holder, h.process_id) for h in table.in_flight("acct", now=10)] == [(0, "run A", "77")]
    assert table.renew("acct", "run A", ttl=60, now=50) == 1
    assert table.take("acct", "run B", limit=1, ttl=60, now=100) is None  # renewed: held until 110
    assert table.take("acct", "run B", limit=1, ttl=60, now=111) == 0  # lapsed: taken over
    assert table.release("acct", ["77"]) == 0  # run B holds it now, for no process
    table.release_slot("acct", 0, "run A")  # not run A's
    assert [h.holder for h in table.in_flight("acct", now=111)] == ["run B"]
    table.release_slot("acct", 0, "run B")
    assert table.in_flight("acct", now=111) == [] and table.release("acct", []) == 0
