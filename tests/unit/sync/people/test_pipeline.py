"""The pipelined people run: imports go out while Customer.io is still read, one in flight, nothing lost or sent
twice, and a kill mid-reading resumes."""

from __future__ import annotations

from collections import Counter

import pytest

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.people.pipeline import PIPE_OFFSET, EndedImports
from airflow_provider_customerio.sync.people.sync import PeopleSync, run_blocking
from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState
from tests.unit.sync.people.fakes import ATTRS, CFG, FakeClock, FakeSink, FakeSource, people

N = 250


class ReadingSource(FakeSource):
    """Customer.io's export read person by person; each person takes a second on the clock, and what Brevo had
    received when each person was read is noted."""

    def __init__(self, clock, sink, n=N):
        super().__init__(people(n))
        self.clock, self.sink = clock, sink
        self.imports_when_read: list[int] = []

    def iter_full(self, token):
        for p in super().iter_full(token):
            self.clock.t += 1.0
            self.imports_when_read.append(len(self.sink.imports))
            yield p


class SerialSink(FakeSink):
    """Brevo with one import at a time: a process ends at its second poll; records the order of sends and ends."""

    def __init__(self, clock=None, takes_s=0.0):
        super().__init__(ATTRS)
        self.clock, self.takes_s, self.sent_at = clock, takes_s, {}
        self.in_flight: set[str] = set()
        self.most_in_flight = 0
        self.seen: Counter[str] = Counter()
        self.events: list[tuple[str, str]] = []

    def start_import(self, rows, *, list_ids, email_blacklist):
        pid = super().start_import(rows, list_ids=list_ids, email_blacklist=email_blacklist)
        self.in_flight.add(pid)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        self.events.append(("sent", pid))
        self.sent_at[pid] = self.clock.t if self.clock else 0.0
        return pid

    def get_process(self, pid):
        self.seen[pid] += 1
        running = self.clock is not None and self.clock.t - self.sent_at[pid] < self.takes_s
        if self.seen[pid] < 2 or running:
            return ProcessState(pid, ProcessOutcome.RUNNING)
        self.in_flight.discard(pid)
        self.events.append(("ended", pid))
        return super().get_process(pid)


@pytest.fixture
def store(tmp_path):
    return SyncStore.open(sqlite_path=tmp_path / "store.db")


def make_sync(tmp_path, store, clock, sink, source, run_id="r1", **kw):
    ledger = Ledger.for_run(tmp_path / "ledger", "dag", run_id, "t")
    slots = ImportSlots(store.import_slots(), "brevo:a", f"run {run_id}", clock=clock, wall=lambda: clock.t)
    return PeopleSync(
        config=CFG,
        source=source,
        sink=sink,
        state=store.state(),
        ledger=ledger,
        run_key=f"dag/{run_id}/t",
        clock=clock,
        slots=slots,
        checkpoint_every=10,
        pipeline_poll_s=2.0,
        **kw,
    )


def sent_rows(sink):
    return Counter(r["email"] for imp in sink.imports for r in imp["rows"])


def test_imports_go_out_while_reading_one_at_a_time_and_the_end_state_is_the_same(tmp_path, store):
    clock, sink = FakeClock(), SerialSink()
    source = ReadingSource(clock, sink)
    summary = run_blocking(make_sync(tmp_path, store, clock, sink, source), mode="full", window=None)
    # the first import was sent before the export was read to its end, and more than one while reading
    assert source.imports_when_read[-1] >= 2
    assert sink.most_in_flight == 1
    assert summary.created == N and summary.imports == len(sink.imports)
    assert sent_rows(sink) == Counter({f"p{i}@example.com": 1 for i in range(N)})  # each row in one import
    assert store.state().count_hashes(CIO_TO_BREVO) == N

    # a second run over the same data writes nothing (same end state, nothing left half-done)
    clock2, sink2 = FakeClock(), SerialSink()
    again = run_blocking(
        make_sync(tmp_path, store, clock2, sink2, ReadingSource(clock2, sink2), run_id="r2"), mode="full", window=None
    )
    assert again.unchanged == N and sink2.imports == []


def test_an_ended_import_is_followed_by_the_next_send_before_it_is_committed(tmp_path, store):
    clock = FakeClock()
    sink = SerialSink(clock, takes_s=100.0)  # Brevo takes longer than reading the next batch
    sync = make_sync(tmp_path, store, clock, sink, ReadingSource(clock, sink))
    committed_when_sent: list[int] = []
    start = sink.start_import

    def start_import(rows, **kw):
        committed_when_sent.append(store.state().count_hashes(CIO_TO_BREVO))
        return start(rows, **kw)

    sink.start_import = start_import
    run_blocking(sync, mode="full", window=None)
    # the second import went out when the first had ended but before its rows were committed
    assert sink.events[:3] == [("sent", "100"), ("ended", "100"), ("sent", "101")]
    assert committed_when_sent[1] == 0


def test_the_pipeline_is_off_for_a_dry_run_and_when_asked(tmp_path, store):
    clock, sink = FakeClock(), SerialSink()
    source = ReadingSource(clock, sink)
    run_blocking(make_sync(tmp_path, store, clock, sink, source, pipeline=False), mode="full", window=None)
    assert source.imports_when_read[-1] == 0 and len(sink.imports) > 2


def test_a_run_killed_while_reading_resumes_without_sending_a_row_twice(tmp_path, store):
    clock, sink = FakeClock(), SerialSink()
    source = ReadingSource(clock, sink)
    source.fail_after = 200  # the task dies while reading, imports sent by the pipeline in flight or ended
    with pytest.raises(ConnectionError):
        run_blocking(make_sync(tmp_path, store, clock, sink, source), mode="full", window=None)
    cp = store.state().get_checkpoint("dag/r1/t")
    assert cp["step"] == "stage" and cp[PIPE_OFFSET] > 0 and len(sink.imports) >= 2
    source.fail_after = None
    summary = run_blocking(make_sync(tmp_path, store, clock, sink, source), mode="full", window=None)
    assert sent_rows(sink) == Counter({f"p{i}@example.com": 1 for i in range(N)})
    assert summary.created == N and store.state().count_hashes(CIO_TO_BREVO) == N
    assert sink.most_in_flight == 1


def test_ended_imports_are_looked_at_without_blocking_on_the_poll_schedule():
    clock = FakeClock()
    polled: list[str] = []

    def get_process(pid):
        polled.append(pid)
        return ProcessState(pid, ProcessOutcome.SUCCEEDED if len(polled) >= 2 else ProcessOutcome.RUNNING)

    ended = EndedImports(get_process, clock=clock, notices=None, notice_deadline_s=None, delays=lambda: iter([5, 10]))
    assert ended.look(["7"]) == [] and polled == []  # the first poll is due 5 s after the first look
    clock.t = 4.9
    assert ended.look(["7"]) == [] and polled == []
    clock.t = 5.0
    assert ended.look(["7"]) == [] and polled == ["7"]  # still running: the next one is due 10 s later
    clock.t = 14.0
    assert ended.look(["7"]) == [] and polled == ["7"]
    clock.t = 15.0
    assert [st.process_id for st in ended.look(["7"])] == ["7"] and clock.sleeps == []


def test_notices_make_the_look_poll_only_the_notified_import():
    clock = FakeClock()
    arrived: dict[int, dict] = {}
    polled: list[str] = []

    def get_process(pid):
        polled.append(pid)
        return ProcessState(pid, ProcessOutcome.SUCCEEDED)

    ended = EndedImports(
        get_process,
        clock=clock,
        notices=lambda ids: {i: arrived[i] for i in ids if i in arrived},
        notice_deadline_s=3600.0,
        delays=lambda: iter([5.0] * 10),
    )
    for t in range(0, 30, 2):
        clock.t = float(t)
        assert ended.look(["7", "8"]) == []
    assert polled == []  # no notice, no poll
    arrived[8] = {"processId": 8}
    clock.t = 31.0
    assert [st.process_id for st in ended.look(["7", "8"])] == ["8"] and polled == ["8"]
