"""Review of the pipelined people run (issue 26): kill points, oversized rows, slots, failures, blacklists."""

from __future__ import annotations

from collections import Counter

import pytest

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.mapping import Person
from airflow_provider_customerio.sync.people import load
from airflow_provider_customerio.sync.people.pipeline import PIPE_OFFSET
from airflow_provider_customerio.sync.people.sync import PeopleSync, run_blocking
from tests.unit.sync.people.fakes import CFG, FakeClock, people
from tests.unit.sync.people.test_pipeline import N, ReadingSource, SerialSink

RUN_KEY = "dag/r1/t"


class Killed(BaseException):
    """The task dies here (nothing below catches it)."""


@pytest.fixture
def store(tmp_path):
    return SyncStore.open(sqlite_path=tmp_path / "store.db")


@pytest.fixture
def small_imports(monkeypatch):
    """Imports of 2,000 bytes (the config allows 10,000 at least): a 900-character name is over the item limit."""
    monkeypatch.setattr(load, "BREVO_IMPORT_LIMIT_BYTES", 2000)


def make_sync(tmp_path, store, clock, sink, source, *, cfg=CFG, limit=1, **kw):
    cp = store.state().get_checkpoint(RUN_KEY)
    ledger = Ledger.for_run(
        tmp_path / "ledger", "dag", "r1", "t", truncate_to=int((cp or {}).get("ledger_offset") or 0)
    )
    slots = ImportSlots(store.import_slots(), "brevo:a", "run r1", limit=limit, clock=clock, wall=lambda: clock.t)
    return PeopleSync(
        config=cfg,
        source=source,
        sink=sink,
        state=store.state(),
        ledger=ledger,
        run_key=RUN_KEY,
        clock=clock,
        slots=slots,
        checkpoint_every=10,
        pipeline_poll_s=2.0,
        **kw,
    )


def succeeded_rows(sink):
    return Counter(r["email"] for imp in sink.imports if not imp["fail"] for r in imp["rows"])


def everyone(n=N, but=()):
    return Counter({f"p{i}@example.com": 1 for i in range(n) if i not in but})


def kill_then_resume(tmp_path, store, patch, *, cfg=CFG):
    """Run once with ``patch(sync)`` installing a kill, then resume on a fresh sync (same store, Brevo, clock)."""
    clock = FakeClock()
    sink = SerialSink(clock, takes_s=30.0)  # Brevo takes longer than reading a batch: imports overlap reading
    source = ReadingSource(clock, sink)
    sync = make_sync(tmp_path, store, clock, sink, source, cfg=cfg)
    patch(sync)
    with pytest.raises(Killed):
        run_blocking(sync, mode="full", window=None)
    killed_step = store.state().get_checkpoint(RUN_KEY)["step"]
    summary = run_blocking(make_sync(tmp_path, store, clock, sink, source, cfg=cfg), mode="full", window=None)
    return sink, summary, killed_step


def assert_exactly_once(tmp_path, store, sink, summary):
    assert succeeded_rows(sink) == everyone(), "a row sent twice or lost"
    assert store.state().count_hashes(CIO_TO_BREVO) == N
    assert read_ledger(tmp_path / "ledger") == []
    assert summary.created == N
    assert sink.most_in_flight == 1  # the killed try's import in flight counted against the slot after the resume


def test_killed_between_the_next_send_and_the_commit_of_the_ended_import(tmp_path, store):
    def patch(sync):
        real = sync._commit_process
        calls = []

        def commit(*a, **kw):
            calls.append(1)
            if len(calls) == 2:  # the 2nd ended import: the 3rd was just sent, nothing of the 2nd committed
                raise Killed
            return real(*a, **kw)

        sync._commit_process = commit

    sink, summary, step = kill_then_resume(tmp_path, store, patch)
    assert step == "stage"
    assert_exactly_once(tmp_path, store, sink, summary)


def test_killed_between_the_end_of_an_import_and_its_commit_while_reading(tmp_path, store):
    def patch(sync):
        real = sync._send_next

        def send_next(ended):
            if sync.step == "stage" and sync.summary.imports >= 2:
                raise Killed  # the import ended, nothing sent nor committed yet
            return real(ended)

        sync._send_next = send_next

    sink, summary, step = kill_then_resume(tmp_path, store, patch)
    assert step == "stage"
    assert_exactly_once(tmp_path, store, sink, summary)


def test_killed_right_after_a_pipelined_import_is_recorded_before_the_checkpoint_moves(tmp_path, store):
    """add_pending is done, the checkpoint's pipe_offset not yet moved past the batch."""

    def patch(sync):
        real = sync.state.add_pending
        calls = []

        def add_pending(*a, **kw):
            real(*a, **kw)
            calls.append(1)
            if len(calls) == 2 and sync.step == "stage":
                raise Killed

        sync.state.add_pending = add_pending

    sink, summary, step = kill_then_resume(tmp_path, store, patch)
    assert step == "stage"
    assert_exactly_once(tmp_path, store, sink, summary)


def test_killed_after_the_commit_before_the_checkpoint_keeps_the_counts(tmp_path, store):
    def patch(sync):
        real = sync._commit_process
        calls = []

        def commit(*a, **kw):
            real(*a, **kw)
            calls.append(1)
            if len(calls) == 2:
                raise Killed

        sync._commit_process = commit

    sink, summary, step = kill_then_resume(tmp_path, store, patch)
    assert step == "stage"
    assert_exactly_once(tmp_path, store, sink, summary)


def test_killed_in_the_load_step_after_the_reading(tmp_path, store):
    def patch(sync):
        real = sync._commit_process
        calls = []

        def commit(*a, **kw):
            if sync.step != "stage":
                calls.append(1)
                if len(calls) == 1:
                    raise Killed
            return real(*a, **kw)

        sync._commit_process = commit

    sink, summary, step = kill_then_resume(tmp_path, store, patch)
    assert step != "stage"
    assert_exactly_once(tmp_path, store, sink, summary)


def big_people(n, big, blacklisted=()):
    out = []
    for p in people(n):
        i = int(p.id)
        attrs = dict(p.attributes)
        if i in big:
            attrs["first_name"] = "x" * 900
        out.append(Person(p.cio_id, p.id, p.email, attrs, unsubscribed=i in blacklisted))
    return out


def test_an_oversized_row_inside_the_pipelined_region_is_ledgered_once(tmp_path, store, small_imports):
    """Rows of ~150 bytes, the row of 15 over the 976-byte item limit: the pipeline meets it while reading."""
    clock = FakeClock()
    sink = SerialSink(clock, takes_s=5.0)
    source = ReadingSource(clock, sink)
    source.people = {p.cio_id: p for p in big_people(N, {15})}
    sync = make_sync(tmp_path, store, clock, sink, source)
    ledgered_in: list[str] = []
    real = sync._ledger_oversize

    def ledger_oversize(out, seq, **kw):
        ledgered_in.append(sync.step)
        return real(out, seq, **kw)

    sync._ledger_oversize = ledger_oversize
    summary = run_blocking(sync, mode="full", window=None)
    assert ledgered_in[0] == "stage"  # the pipeline packed past it while reading
    assert succeeded_rows(sink) == everyone(but={15})
    rejects = read_ledger(tmp_path / "ledger")
    assert [r["record_id"] for r in rejects] == ["c00015"], rejects
    assert summary.created == N - 1


def test_an_oversized_row_in_the_pipelined_region_killed_and_resumed(tmp_path, store, small_imports):
    cfg = CFG

    def patch(sync):
        sync.source.people = {p.cio_id: p for p in big_people(N, {15})}
        real = sync._commit_process
        calls = []

        def commit(*a, **kw):
            calls.append(1)
            if len(calls) == 6:
                raise Killed
            return real(*a, **kw)

        sync._commit_process = commit

    sink, summary, _ = kill_then_resume(tmp_path, store, patch, cfg=cfg)
    assert succeeded_rows(sink) == everyone(but={15})
    assert [r["record_id"] for r in read_ledger(tmp_path / "ledger")] == ["c00015"]


@pytest.mark.parametrize("pipeline", [True, False])
def test_an_oversized_blacklisted_row_staged_before_an_oversized_row_is_ledgered(
    tmp_path, store, pipeline, small_imports
):
    cfg = CFG
    clock = FakeClock()
    sink = SerialSink(clock, takes_s=5.0)
    source = ReadingSource(clock, sink)
    source.people = {p.cio_id: p for p in big_people(N, {10, 200}, blacklisted={10, 11})}
    summary = run_blocking(
        make_sync(tmp_path, store, clock, sink, source, cfg=cfg, pipeline=pipeline), mode="full", window=None
    )
    assert succeeded_rows(sink) == everyone(but={10, 200})
    assert sorted(r["record_id"] for r in read_ledger(tmp_path / "ledger")) == ["c00010", "c00200"]
    assert summary.created == N - 2


def test_blacklisted_rows_go_in_their_own_imports(tmp_path, store):
    clock = FakeClock()
    sink = SerialSink(clock, takes_s=5.0)
    source = ReadingSource(clock, sink)
    bl = set(range(0, N, 7))
    source.people = {p.cio_id: p for p in big_people(N, set(), blacklisted=bl)}
    run_blocking(make_sync(tmp_path, store, clock, sink, source), mode="full", window=None)
    for imp in sink.imports:
        emails = {r["email"] for r in imp["rows"]}
        blocked = {f"p{i}@example.com" for i in bl}
        assert emails <= blocked if imp["bl"] else not emails & blocked
    assert succeeded_rows(sink) == everyone()


def test_a_failed_pipelined_import_is_resubmitted_and_nothing_is_sent_twice(tmp_path, store):
    clock = FakeClock()
    sink = SerialSink(clock, takes_s=30.0)
    sink.fail_next_processes = 1
    source = ReadingSource(clock, sink)
    summary = run_blocking(make_sync(tmp_path, store, clock, sink, source), mode="full", window=None)
    assert sink.imports[0]["fail"] and len([i for i in sink.imports if i["fail"]]) == 1
    assert succeeded_rows(sink) == everyone()
    assert summary.created == N and read_ledger(tmp_path / "ledger") == []
    assert sink.most_in_flight == 1


def test_at_most_the_slot_limit_in_flight_with_two_slots(tmp_path, store):
    clock = FakeClock()
    sink = SerialSink(clock, takes_s=60.0)
    source = ReadingSource(clock, sink)
    run_blocking(make_sync(tmp_path, store, clock, sink, source, limit=2), mode="full", window=None)
    assert sink.most_in_flight == 2
    assert succeeded_rows(sink) == everyone()


def test_dry_run_sends_nothing(tmp_path, store):
    clock = FakeClock()
    sink = SerialSink(clock)
    source = ReadingSource(clock, sink)
    sync = make_sync(tmp_path, store, clock, sink, source)
    sync.extract(mode="full", window=None, dry_run=True)
    sync.load()
    assert sink.imports == [] and PIPE_OFFSET not in store.state().get_checkpoint(RUN_KEY)


def test_killed_after_add_pending_in_the_load_step_without_the_pipeline(tmp_path, store):
    """The same kill point in the load step (no pipeline): whether the duplicate predates the pipeline."""

    def patch(sync):
        sync.pipeline = False
        real = sync.state.add_pending
        calls = []

        def add_pending(*a, **kw):
            real(*a, **kw)
            calls.append(1)
            if len(calls) == 2:
                raise Killed

        sync.state.add_pending = add_pending

    clock = FakeClock()
    sink = SerialSink(clock, takes_s=30.0)
    source = ReadingSource(clock, sink)
    sync = make_sync(tmp_path, store, clock, sink, source, pipeline=False)
    patch(sync)
    with pytest.raises(Killed):
        run_blocking(sync, mode="full", window=None)
    summary = run_blocking(make_sync(tmp_path, store, clock, sink, source, pipeline=False), mode="full", window=None)
    assert_exactly_once(tmp_path, store, sink, summary)


def test_the_extract_only_step_sends_nothing(tmp_path, store):
    from airflow_provider_customerio.sync.people.job import PeopleJob

    clock = FakeClock()
    sink = SerialSink(clock)
    source = ReadingSource(clock, sink)
    sync = make_sync(tmp_path, store, clock, sink, source)
    job = PeopleJob(
        sync, step="extract", mode="full", since=None, data_interval=(None, None), dry_run=False, api_calls=lambda: 0
    )
    assert job.run() == [] and sink.imports == []
    assert store.state().get_checkpoint(RUN_KEY)["step"] == "load"
