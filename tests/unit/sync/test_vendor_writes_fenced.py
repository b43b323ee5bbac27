"""A stalled try whose lease was taken over sends the vendors nothing when it wakes (store/fencing.py).

Fencing refuses the stalled try's store commits; the vendor write it was about to make must not go out either, or
it lands (e.g. values read before a later run's import, written over that run's newer ones) while its commit fails.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.fencing import LeaseLost, LeaseOwner
from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.config import LifecycleRule, LifecycleSettings
from airflow_provider_customerio.sync.mapping import Person
from airflow_provider_customerio.sync.objects.ports import BrevoRecord, CioObject
from airflow_provider_customerio.sync.people.sync import PeopleSync
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.reverse.ports import Profile
from airflow_provider_customerio.sync.segments.model import MirrorRequest
from airflow_provider_customerio.sync.workflow.write import WorkflowStateWriter
from tests.unit.sync.objects.fakes import Env as ObjectsEnv
from tests.unit.sync.objects.fakes import FakeRecords, FakeTrack
from tests.unit.sync.objects.fakes import make_config as objects_config
from tests.unit.sync.objects.fakes import reverse as reverse_objects
from tests.unit.sync.people.fakes import ATTRS, CFG, FakeClock, FakeSink, FakeSource
from tests.unit.sync.reverse.fakes import FakeCIO, cio_now, contact, run, synced
from tests.unit.sync.segments._support import FakeBrevo as SegmentBrevo
from tests.unit.sync.segments._support import FakeCustomerIO as SegmentCIO
from tests.unit.sync.segments._support import make_mirror
from tests.unit.sync.workflow._support import FakeBrevo, derive, msg, stage

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
    _, brevo_attrs = synced(state, plan="free")
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "PLAN_NAME": "pro"})

    class StallingCIO(FakeCIO):
        def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
            _retry_takes_the_lease_over(store, "reverse:sync")  # try 1 stalls after reading, before sending
            return super().profiles(cio_ids)

    cio = StallingCIO(cio_now({"plan": 1}, plan="free").people)
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


# ------------------------------------------------------------------------------------------ segment mirror


def _segment_case(case: str, cio: SegmentCIO, brevo: SegmentBrevo) -> tuple[MirrorRequest, dict[str, Any]]:
    """Set the vendors up so that the mirror's next run makes writes of ``case`` (earlier runs unfenced)."""
    settings: dict[str, Any] = {}
    if case == "create_list":
        cio.segment(42, [cio.person(1)])
        return MirrorRequest(42, 77), {"create_missing_lists": True}
    if case == "import":
        cio.segment(42, [cio.person(1), cio.person(2)])
    elif case == "upsert_by_ext_id":
        cio.segment(42, [cio.person(1, email=False)])
    elif case == "remove":
        people = [cio.person(n) for n in range(10)]
        cio.segment(42, people)
        make_mirror(cio, brevo).run(MirrorRequest(42, 13))
        cio.segment(42, people[1:])
    elif case == "update_attributes":
        brevo.attributes.append({"name": "LIFECYCLE_STAGE", "category": "normal", "type": "text"})
        people = [cio.person(n) for n in range(3)]
        cio.segment(42, people)
        cio.segment(7, people[:1])
        settings = {"lifecycle": LifecycleSettings("LIFECYCLE_STAGE", (LifecycleRule(7, "customer"),))}
        make_mirror(cio, brevo, **settings).run(MirrorRequest(42, 13))
        cio.segment(7, [])  # person 0 leaves the ladder: its value is cleared, one contact at a time
    return MirrorRequest(42, 13), settings


@pytest.mark.parametrize(
    ("case", "write"),
    [
        ("create_list", "create_list"),
        ("import", "import"),
        ("upsert_by_ext_id", "upsert_ext_id"),
        ("remove", "remove"),
        ("update_attributes", "update"),
    ],
)
def test_a_stalled_segment_mirror_writes_nothing_to_brevo_once_its_lease_was_taken_over(
    tmp_path: Path, case: str, write: str
) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    cio, brevo = SegmentCIO(), SegmentBrevo()
    brevo.lists[13] = "Mirror of 42"
    request, settings = _segment_case(case, cio, brevo)
    brevo.writes.clear()
    mirror = make_mirror(cio, brevo, **settings)
    mirror.check_lease = store.state().check_lease  # what the operator passes
    read = cio.segment_state

    def stalls_after_reading(segment_id: int) -> tuple[str, str]:
        _retry_takes_the_lease_over(store, "segments:42->13")  # try 1 stalls here, then carries on
        return read(segment_id)

    cio.segment_state = stalls_after_reading  # type: ignore[method-assign]
    with pytest.raises(LeaseLost), store.leased("segments:42->13", LeaseOwner(RUN, "load", 1), ttl=60):
        mirror.run(request)
    assert brevo.writes == []
    cio.segment_state = read  # type: ignore[method-assign]
    make_mirror(cio, brevo, **settings).run(request)  # the case does write (unfenced): the test tests something
    assert brevo.writes[0][0] == write


# ------------------------------------------------------------------------------------------ object syncs


def _objects_env(tmp_path: Path) -> tuple[SyncStore, ObjectsEnv]:
    store = SyncStore.at(tmp_path / "s.db")
    env = ObjectsEnv(tmp_path)
    env.db = str(tmp_path / "s.db")
    for i in range(3):
        env.cio.add("1", f"acme{i}", {"name": f"Acme {i}", "plan": "pro"}, people=[f"p{i}a"])
    env.brevo.contacts = {f"id-p{i}a" for i in range(3)}
    return store, env


def _stall_on_read(env: ObjectsEnv, store: SyncStore) -> None:
    """Try 1 stalls while it reads a Customer.io object (no store commit before its next Brevo write)."""
    read = env.cio.get_object
    stalled: list[bool] = []

    def stalls(type_id: str, object_id: str) -> CioObject | None:
        if not stalled:
            stalled.append(True)
            _retry_takes_the_lease_over(store, "objects:forward")
        return read(type_id, object_id)

    env.cio.get_object = stalls  # type: ignore[method-assign]


def test_a_stalled_object_sync_sends_no_upsert_once_its_lease_was_taken_over(tmp_path: Path) -> None:
    store, env = _objects_env(tmp_path)
    _stall_on_read(env, store)
    with pytest.raises(LeaseLost), store.leased("objects:forward", LeaseOwner(RUN, "load", 1), ttl=60):
        env.run("r1")
    assert env.brevo.upserts == []


@pytest.mark.parametrize("policy", ["delete", "flag"])
def test_a_stalled_object_sync_deletes_or_flags_nothing_once_its_lease_was_taken_over(
    tmp_path: Path, policy: str
) -> None:
    store, env = _objects_env(tmp_path)
    env.config = objects_config(delete_policy=policy)
    env.brevo.types["companies"].add("deleted_in_customerio")
    env.run("r0")  # unfenced: the three objects are in Brevo
    del env.cio.objects["1"]["acme2"]
    upserts = len(env.brevo.upserts)
    _stall_on_read(env, store)  # the unchanged objects are still read, then the gone one is deleted / flagged
    with pytest.raises(LeaseLost), store.leased("objects:forward", LeaseOwner(RUN, "load", 1), ttl=60):
        env.run("r1")
    assert env.brevo.deletes == [] and len(env.brevo.upserts) == upserts


def test_a_stalled_object_sync_resubmits_no_failed_upsert_once_its_lease_was_taken_over(tmp_path: Path) -> None:
    store, env = _objects_env(tmp_path)
    env.brevo.fail_next = 1
    poll = env.brevo.get_process

    def stalls_on_the_poll(process_id: str) -> ProcessState:
        _retry_takes_the_lease_over(store, "objects:forward")  # try 1 stalls waiting for its failed upsert
        return poll(process_id)

    with pytest.raises(LeaseLost), store.leased("objects:forward", LeaseOwner(RUN, "load", 1), ttl=60):
        sync = env.sync("r1")
        sync.run()
        env.brevo.get_process = stalls_on_the_poll  # type: ignore[method-assign]
        sync.wait(timeout=600, delays=[1.0] * 10)
    assert len(env.brevo.upserts) == 1  # the failed one; its resubmission did not go out


def test_a_stalled_reverse_object_sync_sends_no_track_batch_once_its_lease_was_taken_over(tmp_path: Path) -> None:
    store, env = _objects_env(tmp_path)
    records = [BrevoRecord(7, "crm-7", {"name": "From CRM"}, ())]
    iter_records = FakeRecords(records, {}).iter_records

    class StallingRecords(FakeRecords):
        def iter_records(self, object_type: str) -> Iterator[BrevoRecord]:
            _retry_takes_the_lease_over(store, "objects:reverse")  # try 1 stalls reading Brevo, before sending
            yield from iter_records(object_type)

    track = FakeTrack()
    with pytest.raises(LeaseLost), store.leased("objects:reverse", LeaseOwner(RUN, "load", 1), ttl=60):
        reverse_objects(env, StallingRecords(records, {}), track)
    assert track.batches == []
