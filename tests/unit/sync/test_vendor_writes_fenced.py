"""A stalled try whose lease was taken over sends the vendors nothing when it wakes (store/fencing.py).

Fencing refuses the stalled try's store commits; the vendor write it was about to make must not go out either, or
it lands (e.g. values read before a later run's import, written over that run's newer ones) while its commit fails.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from pathlib import Path

import pytest

from airflow_provider_customerio.store import LeaseLost, LeaseOwner, SyncStore
from airflow_provider_customerio.sync.ledger import Ledger
from airflow_provider_customerio.sync.mapping import Person
from airflow_provider_customerio.sync.people import PeopleSync
from airflow_provider_customerio.sync.reverse import Profile
from airflow_provider_customerio.sync.workflow import WorkflowStateWriter
from tests.unit.sync.test_people import ATTRS, CFG, FakeClock, FakeSink, FakeSource
from tests.unit.sync.test_reverse import FakeCIO, _cio_now, _synced, contact, run
from tests.unit.sync.test_workflow import FakeBrevo, derive, msg, stage

RUN = "R of d"


def _retry_takes_the_lease_over(store: SyncStore, name: str) -> None:
    """Try 2 of the task takes the lease over (from a context of its own: try 1's fence stays in force)."""
    contextvars.Context().run(store.acquire, name, LeaseOwner(RUN, "load", 2), ttl=60)


def test_a_stalled_people_load_sends_no_import_once_its_lease_was_taken_over(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    person = Person("c1", "1", "p1@example.com", {"first_name": "Ann", "created_at": "1489014595", "mrr": "1"})
    sink = FakeSink(ATTRS)
    sync = PeopleSync(
        config=CFG,
        source=FakeSource([person]),
        sink=sink,
        state=store.state(),
        ledger=Ledger.for_run(tmp_path / "ledger", "d", "R", "load"),
        run_key="d/R/load",
        clock=FakeClock(),
    )
    with pytest.raises(LeaseLost), store.leased("people:sync", LeaseOwner(RUN, "load", 1), ttl=60):
        sync.extract(mode="full", window=None)
        _retry_takes_the_lease_over(store, "people:sync")  # try 1 stalled here
        sync.load()  # ... and wakes up
    assert sink.imports == []


def test_a_stalled_reverse_sync_sends_no_track_batch_once_its_lease_was_taken_over(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    state = store.state()
    _, brevo_attrs = _synced(state, plan="free")
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "PLAN_NAME": "pro"})

    class StallingCIO(FakeCIO):
        def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
            _retry_takes_the_lease_over(store, "reverse:sync")  # try 1 stalls after reading, before sending
            return super().profiles(cio_ids)

    cio = StallingCIO(_cio_now({"plan": 1}, plan="free").people)
    with pytest.raises(LeaseLost), store.leased("reverse:sync", LeaseOwner(RUN, "load", 1), ttl=60):
        run(state, [edited], tmp_path, cio=cio)
    assert cio.ops == []


def test_a_stalled_workflow_writer_sends_no_import_once_its_lease_was_taken_over(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    state = store.state()
    res = derive([msg("m1", "ann", 1000, {"sent": 1005})])
    stage(state, "r", res.changes)
    brevo = FakeBrevo()
    with (
        pytest.raises(LeaseLost),
        store.leased("workflow", LeaseOwner(RUN, "load", 1), ttl=60),
        Ledger(tmp_path / "ledger.db") as ledger,
    ):
        _retry_takes_the_lease_over(store, "workflow")  # try 1 stalled before its first import
        WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger).run()
    assert brevo.submitted == []
