"""The one lifecycle (``sync/lifecycle.py``): the people job is a ``SyncJob``.

The typed assignment is checked by mypy (``PeopleJob`` is a ``SyncJob``; so is the return type of the people
operator's ``build_sync``, which overrides ``SyncOperator.build_sync -> SyncJob``); the test checks the same at run
time, method by method, with the parameters the base calls them with.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.lifecycle import SyncJob
from airflow_provider_customerio.sync.people.job import PeopleJob
from airflow_provider_customerio.sync.people.sync import PeopleSync
from tests.unit.sync.people.fakes import ATTRS, CFG, FakeSink, FakeSource, people


def _steps() -> dict[str, list[str]]:
    return {
        name: [p for p in inspect.signature(fn).parameters if p != "self"]
        for name, fn in vars(SyncJob).items()
        if inspect.isfunction(fn) and not name.startswith("_")
    }


def test_the_lifecycle_has_its_six_steps() -> None:
    assert _steps() == {
        "run": [],
        "resume": [],
        "complete": ["states"],
        "save": [],
        "finish": [],
        "close": [],
    }


def test_the_people_job_is_a_sync_job(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "s.db")
    sync = PeopleSync(
        config=CFG,
        source=FakeSource(people(1)),
        sink=FakeSink(ATTRS),
        state=store.state(),
        ledger=store.ledger("d", "r", "t"),
        run_key="d/r/t",
    )
    job: SyncJob = PeopleJob(
        sync, step="extract", mode="full", since=None, data_interval=(None, None), dry_run=True, api_calls=lambda: 0
    )
    for name, params in _steps().items():
        method = getattr(job, name)
        assert callable(method)
        assert list(inspect.signature(method).parameters) == params, name
    assert job.run() == []
    job.close()
