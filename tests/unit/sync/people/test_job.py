"""The people sync in the steps of the one lifecycle (``sync/people/job.py``): extract, all, load early stops,
over the fakes of its ports and a real SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.people.job import WATERMARK, PeopleJob, check_step_and_mode
from airflow_provider_customerio.sync.people.sync import PeopleSync
from tests.unit.sync.people.fakes import ATTRS, CFG, T0, FakeSink, FakeSource, people


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "store.db")


def _job(store: SyncStore, sink: FakeSink, step: str, *, limit: int | None = None, **kw: Any) -> PeopleJob:
    clock = Clock()
    slots = ImportSlots(
        store.import_slots(), "brevo:a", "run r1", limit=limit or 1, ttl=600, clock=clock, wall=clock.wall
    )
    sync = PeopleSync(
        config=CFG,
        source=FakeSource(people(250)),
        sink=sink,
        state=store.state(),
        ledger=store.ledger("dag", "r1", "people"),
        run_key="dag/r1/people",
        clock=clock,
        slots=slots if limit else None,
    )
    calls = iter(range(1, 100))
    options: dict[str, Any] = {"mode": "full", "since": None, "data_interval": (None, None), "dry_run": False}
    return PeopleJob(sync, step=step, api_calls=lambda: next(calls), **{**options, **kw})


def _ended(sink: FakeSink, ids: list[str]) -> list[Any]:
    return [sink.get_process(pid) for pid in ids]


def test_step_and_mode_errors_name_the_argument_and_its_values() -> None:
    assert check_step_and_mode(None, " full ") == ("all", "full")
    with pytest.raises(ValueError, match=r"step must be one of all, extract, load, got 'both'"):
        check_step_and_mode("both", "full")
    with pytest.raises(ValueError, match=r"mode must be one of incremental, full, got 'delta'"):
        check_step_and_mode("all", "delta")


def test_the_extract_step_stages_returns_no_pending_and_records_no_summary(store: SyncStore) -> None:
    sink = FakeSink(ATTRS)
    job = _job(store, sink, "extract")
    assert job.run() == [] and sink.imports == []
    assert job.records_summary is False
    out = job.finish()
    assert out["read"] == 250 and out["api_calls"] >= 1
    job.close()
    load = _job(store, sink, "load")  # the load task carries the run on
    assert load.records_summary is True and load.run() and sink.imports


def test_the_all_step_returns_its_imports_and_finishes_once_they_end(store: SyncStore) -> None:
    sink = FakeSink(ATTRS)
    job = _job(store, sink, "all")
    pending = list(job.run())
    assert pending and sorted(pending) == sorted(sink.procs)
    assert job.complete(_ended(sink, pending)) == []
    out = job.finish()
    assert out["created"] == 250 and len(sink.contacts) == 250
    assert store.state().get_watermark("people.cio_to_brevo.last_sync")


def test_complete_loads_the_next_imports_when_load_stopped_for_a_slot(store: SyncStore) -> None:
    sink = FakeSink(ATTRS)
    job = _job(store, sink, "all", limit=1)
    first = list(job.run())
    assert len(first) == 1 and not job.sync.loaded and len(sink.imports) == 1
    second = list(job.complete(_ended(sink, first)))
    assert len(second) == 1 and second != first and len(sink.imports) == 2
    pending = second
    while pending:
        pending = list(job.complete(_ended(sink, pending)))
    assert job.finish()["created"] == 250


def test_an_incremental_run_reads_its_window_from_the_data_interval(store: SyncStore) -> None:
    sink = FakeSink(ATTRS)
    end = T0.replace(hour=1)
    job = _job(store, sink, "all", mode="incremental", data_interval=(T0, end))
    assert list(job.run()) == []  # nobody changed in the window
    job.finish()
    assert store.state().get_watermark(WATERMARK) == end.isoformat()
