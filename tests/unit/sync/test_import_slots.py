"""Brevo import slots: the policy (fake clock) over the SQLite store, and the people sync keeping to one import in
flight per account (blocking and resumed after a kill)."""

from __future__ import annotations

import time

import pytest

from airflow_provider_customerio.exceptions import ConfigError, RateLimitError, ServerError, ValidationError
from airflow_provider_customerio.store.fencing import LeaseLost
from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.import_slots import (
    ImportSlots,
    ImportSlotTimeout,
)
from airflow_provider_customerio.sync.people.sync import PeopleSync, run_blocking
from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState
from tests.unit.sync.people.fakes import ATTRS, CFG, FakeSink, FakeSource, people

EPOCH = 1_800_000_000.0


class Clock:
    """Monotonic time, sleep and wall time, all fake; ``on_sleep`` lets a test act while a wait sleeps."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = lambda: None

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        self.on_sleep()

    def wall(self) -> float:
        return EPOCH + self.t


@pytest.fixture
def store(tmp_path):
    return SyncStore.at(tmp_path / "store.db")


def slots_for(store, clock, holder, *, limit=1, ttl=600.0, account="brevo:a"):
    return ImportSlots(store.import_slots(), account, holder, limit=limit, ttl=ttl, clock=clock, wall=clock.wall)


def test_one_import_in_flight_the_next_holder_gets_the_slot_once_the_process_ended(store):
    clock = Clock()
    a, b = slots_for(store, clock, "run A"), slots_for(store, clock, "run B")
    pid = a.start(a.try_take(), lambda: "101")
    assert pid == "101" and b.try_take() is None and a.try_take() is None  # bound: held, even for its holder
    a.release(["101"])
    assert b.try_take() == 0


def _raises(exc: BaseException):
    def submit() -> str:
        raise exc

    return submit


@pytest.mark.parametrize(
    "exc",
    [
        ValidationError("Brevo refused the import", status=400),
        RateLimitError("limited", status=429),
        ServerError("connection refused at every attempt", status=0),
        LeaseLost("this try is stale: it sent nothing"),
        ConfigError("import_contacts needs exactly one of json_body or file_body"),
    ],
    ids=["400", "429", "never-connected", "lease-lost", "config"],
)
def test_a_submission_that_certainly_started_nothing_frees_its_slot(store, exc):
    if isinstance(exc, ServerError):
        exc.maybe_applied = False  # what the hook says when every attempt's connection was refused
    clock = Clock()
    a = slots_for(store, clock, "run A")
    with pytest.raises(type(exc)):
        a.start(a.try_take(), _raises(exc))
    assert slots_for(store, clock, "run B").try_take() == 0


@pytest.mark.parametrize(
    "exc",
    [
        ServerError("No usable response from brevo (ReadTimeout)", status=0),
        ServerError("Bad gateway", status=502),
        RateLimitError("429 at the last attempt, after an attempt that timed out", status=429),
        SystemExit("the task was killed mid-request"),
    ],
    ids=["read-timeout", "502", "429-after-a-timeout", "killed"],
)
def test_a_lost_answer_keeps_the_slot_held_until_it_lapses_or_its_holder_retries(store, exc):
    """Brevo may have accepted the import whose answer was lost: no other run may start one beside it."""
    if isinstance(exc, RateLimitError):
        exc.maybe_applied = True  # what the hook says when an earlier attempt may have reached Brevo
    clock = Clock()
    a = slots_for(store, clock, "run A", ttl=60)
    with pytest.raises(type(exc)):
        a.start(a.try_take(), _raises(exc))
    b = slots_for(store, clock, "run B", ttl=60)
    assert b.try_take() is None  # held (unbound): the import may be running
    held = store.import_slots().in_flight("brevo:a", now=clock.wall())
    assert [(h.holder, h.process_id) for h in held] == [("run A", None)]
    assert slots_for(store, clock, "run A", ttl=60).try_take() == 0  # the run's retry takes it back
    clock.t = 61 + 1  # nobody renewed since the retry took it at t=0: lapsed
    assert b.try_take() == 0


def test_a_killed_holders_unbound_slot_is_taken_back_by_its_retry_not_by_others(store):
    clock = Clock()
    assert slots_for(store, clock, "run A").try_take() == 0  # then killed before the import was sent
    assert slots_for(store, clock, "run B").try_take() is None
    assert slots_for(store, clock, "run A").try_take() == 0  # the retry (same run) does not wait for itself


def test_a_dead_holders_slot_lapses_after_the_ttl_and_a_live_one_is_renewed(store):
    clock = Clock()
    a, b = slots_for(store, clock, "run A", ttl=60), slots_for(store, clock, "run B", ttl=60)
    a.start(a.try_take(), lambda: "7")
    clock.t = 50
    a.renew()  # alive, waiting for process 7
    clock.t = 100
    assert b.try_take() is None  # renewed at 50: held until 110
    clock.t = 111  # run A died at 50: nobody renewed
    assert b.try_take() == 0


def _until(condition, *, within: float = 30.0) -> bool:
    """Poll ``condition`` (no timing assumption: it only bounds a hang)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_slot_kept_alive_outlives_its_ttl_and_lapses_once_the_block_ends(store):
    clock = Clock()
    a = ImportSlots(store.import_slots(), "brevo:a", "run A", ttl=60, clock=clock, wall=clock.wall, renew_every=0.01)
    b = slots_for(store, clock, "run B", ttl=60)
    a.start(a.try_take(), lambda: "7")  # held until t=60 unless renewed
    with a.kept_alive():
        clock.t = 100  # the import runs on: well past the ttl of the last renewal before the block
        live = store.import_slots().in_flight
        assert _until(lambda: [h.process_id for h in live("brevo:a", now=clock.wall())] == ["7"])  # renewed
        assert b.try_take() is None
        clock.t = 150
        assert _until(lambda: live("brevo:a", now=clock.wall() + 59) != [])  # renewed again, at t=150
        assert b.try_take() is None
    clock.t = 150 + 61  # the holder stopped renewing when the block ended (as a killed one does)
    assert b.try_take() == 0


def test_take_waits_on_the_clock_for_another_runs_slot(store):
    clock = Clock()
    a, b = slots_for(store, clock, "run A"), slots_for(store, clock, "run B")
    a.start(a.try_take(), lambda: "7")
    clock.on_sleep = lambda: a.release(["7"]) if clock.t >= 7 else None  # process 7 ends after 7 s
    assert b.take(timeout=60) == 0
    assert clock.sleeps == [1.0, 2.0, 4.0]  # a growing schedule, not a busy loop


def test_a_retry_frees_its_earlier_attempts_slots_whose_process_ended_and_no_others(store):
    """A killed attempt's retry that does not re-find its import (the segment mirror) asks Brevo once whether the
    process its slot is bound to ended, instead of waiting for the slot to lapse; a process still running, or
    another run's, keeps its slot."""
    clock = Clock()
    killed = slots_for(store, clock, "run A", limit=2)
    killed.start(killed.try_take(), lambda: "7")  # then the attempt is killed while process 7 runs
    other = slots_for(store, clock, "run B", limit=2)
    other.start(other.try_take(), lambda: "8")
    asked: list[str] = []
    ended = {"7": False, "8": True}

    def finished(pid: str) -> bool:
        asked.append(pid)
        return ended[pid]

    def retry() -> ImportSlots:
        return ImportSlots(
            store.import_slots(), "brevo:a", "run A", limit=2, ttl=600, clock=clock, wall=clock.wall, finished=finished
        )

    with pytest.raises(ImportSlotTimeout):  # process 7 still runs: its slot stays held
        retry().take(timeout=5)
    assert asked == ["7"]  # only this holder's processes are asked about, once per take
    ended["7"] = True
    clock.sleeps.clear()
    assert retry().take(timeout=5) == 0  # process 7 ended: its slot is free at once
    assert clock.sleeps == [] and asked == ["7", "7"]
    holders = [(h.holder, h.process_id) for h in store.import_slots().in_flight("brevo:a", now=clock.wall())]
    assert holders == [("run A", None), ("run B", "8")]  # run B's slot is its own business


def test_take_gives_up_naming_the_holders_and_the_setting(store):
    clock = Clock()
    a = slots_for(store, clock, "run A")
    a.start(a.try_take(), lambda: "7")
    with pytest.raises(ImportSlotTimeout, match=r"run A \(process 7\).*max_imports_in_flight"):
        slots_for(store, clock, "run B").take(timeout=10)
    assert sum(clock.sleeps) == pytest.approx(10)


def test_n_slots_allow_n_imports_in_flight(store):
    clock = Clock()
    taken = [slots_for(store, clock, f"run {i}", limit=2).try_take() for i in range(3)]
    assert taken == [0, 1, None]


# ------------------------------------------------------------------------------------------ the people sync


class SerialSink(FakeSink):
    """The fake Brevo, counting the imports in flight: a process ends at its second poll."""

    def __init__(self) -> None:
        super().__init__(ATTRS)
        self.in_flight: set[str] = set()
        self.most_in_flight = 0
        self.seen: dict[str, int] = {}

    def start_import(self, rows, *, list_ids, email_blacklist):
        pid = super().start_import(rows, list_ids=list_ids, email_blacklist=email_blacklist)
        self.in_flight.add(pid)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        return pid

    def get_process(self, pid):
        self.seen[pid] = self.seen.get(pid, 0) + 1
        if self.seen[pid] < 2:
            return ProcessState(pid, ProcessOutcome.RUNNING)
        self.in_flight.discard(pid)
        return super().get_process(pid)


def people_sync(tmp_path, store, clock, sink, run_id, *, limit=1):
    ledger = Ledger.for_run(tmp_path / "ledger", "dag", run_id, "t")
    return PeopleSync(
        config=CFG,
        source=FakeSource(people(250)),
        sink=sink,
        state=store.state(),
        ledger=ledger,
        run_key=f"dag/{run_id}/t",
        clock=clock,
        slots=slots_for(store, clock, f"run {run_id}", limit=limit),
    )


def test_with_one_slot_the_sync_waits_for_each_import_before_sending_the_next(tmp_path, store):
    clock, sink = Clock(), SerialSink()
    summary = run_blocking(people_sync(tmp_path, store, clock, sink, "r1"), mode="full", window=None)
    assert summary.created == 250 and len(sink.imports) > 3
    assert sink.most_in_flight == 1
    assert store.import_slots().in_flight("brevo:a", now=clock.wall()) == []  # every slot given back


def test_with_two_slots_two_imports_fly_at_once(tmp_path, store):
    clock, sink = Clock(), SerialSink()
    run_blocking(people_sync(tmp_path, store, clock, sink, "r1", limit=2), mode="full", window=None)
    assert sink.most_in_flight == 2


def test_load_stops_when_its_own_import_holds_the_slot_and_goes_on_after_the_wait(tmp_path, store):
    clock, sink = Clock(), SerialSink()
    sync = people_sync(tmp_path, store, clock, sink, "r1")
    sync.extract(mode="full", window=None)
    first = sync.load()
    assert len(first) == 1 and not sync.loaded and len(sink.imports) == 1  # the deferrable path defers on this
    sync.wait(timeout=600)
    second = sync.load()
    assert len(second) == 1 and second != first and len(sink.imports) == 2


def test_a_killed_load_resumes_with_its_pending_import_and_does_not_wait_for_its_own_slot(tmp_path, store):
    clock, sink = Clock(), SerialSink()
    sync = people_sync(tmp_path, store, clock, sink, "r1")
    sync.extract(mode="full", window=None)
    sync.load()  # import 1 in flight, holding the slot; then the task is killed
    resumed = people_sync(tmp_path, store, clock, sink, "r1")  # the retry: same run, new process
    summary = run_blocking(resumed, mode="full", window=None)
    assert summary.created == 250 and sink.most_in_flight == 1
    assert clock.t < 600  # it never waited for a slot to lapse: it waited for its own import


def test_another_runs_import_holds_the_slot_until_it_ends(tmp_path, store):
    clock, sink = Clock(), SerialSink()
    other = slots_for(store, clock, "run other")
    other.start(other.try_take(), lambda: "900")  # another sync's import, in flight
    clock.on_sleep = lambda: other.release(["900"]) if clock.t >= 30 else None
    sent_at: list[float] = []
    start = sink.start_import
    sink.start_import = lambda *a, **k: sent_at.append(clock.t) or start(*a, **k)
    summary = run_blocking(people_sync(tmp_path, store, clock, sink, "r1"), mode="full", window=None)
    assert summary.created == 250
    assert sent_at[0] >= 30  # nothing was sent before the other run's import ended
