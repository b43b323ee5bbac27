"""The run's hold on shared things (``runs/lease.py``): the sync's lease for the try of the context, and the Brevo
account's import slots."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_customerio.runs.context import lease_owner
from airflow_provider_customerio.runs.lease import LEASE_TTL_S, brevo_import_slots, sync_lease
from airflow_provider_customerio.store.fencing import LeaseLost
from airflow_provider_customerio.store.sync_store import LeaseHeld, SyncStore


def _context(run_id: str, try_number: int = 1) -> dict[str, object]:
    return {"ti": SimpleNamespace(dag_id="d", run_id=run_id, map_index=-1, task_id="sync", try_number=try_number)}


def test_a_second_run_of_the_sync_is_refused_naming_the_holder(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    with sync_lease(store, "people:sync", _context("r1")):
        with pytest.raises(LeaseHeld, match=r"'people:sync' is being run by run r1 of d \(task sync try 1\)"):
            with sync_lease(store, "people:sync", _context("r2"), wait=0):
                pass
        with sync_lease(store, "people:other", _context("r2"), wait=0):  # another sync is free
            pass
    with sync_lease(store, "people:sync", _context("r2"), wait=0):  # released on exit
        pass


def test_a_later_try_of_the_same_task_takes_the_lease_over_for_the_ttl(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    with pytest.raises(LeaseLost, match="try 1.* is stale"), sync_lease(store, "people:sync", _context("r1", 1)):
        now = time.time()
        taken = store.acquire("people:sync", lease_owner(_context("r1", 2)), wait=0)
        assert (taken.owner.task, taken.owner.try_number) == ("sync", 2)
        store.release("people:sync", taken.owner, token=taken.token)
    with sync_lease(store, "people:sync", _context("r1", 3)):
        with store.engine.connect() as conn:
            [(expires_at,)] = conn.exec_driver_sql("SELECT expires_at FROM lease").fetchall()
        assert now + LEASE_TTL_S - 5 < expires_at < time.time() + LEASE_TTL_S + 5


class _BrevoHook:
    import_slot_settings = (2, 90.0)
    import_slot_account = "brevo:acct"


def test_the_import_slots_are_the_hooks_account_with_its_limit_and_ttl(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    slots = brevo_import_slots(store, _BrevoHook(), "run r1 of d")
    assert (slots.account, slots.holder, slots.limit, slots.ttl) == ("brevo:acct", "run r1 of d", 2, 90.0)
    assert slots.try_take() is not None
    assert [h.holder for h in store.import_slots().in_flight("brevo:acct", now=time.time())] == ["run r1 of d"]
