"""The people sync over the fakes of its ports and a real state store: ``env`` makes one run after another."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.people.sync import PeopleSync
from tests.unit.sync.people.fakes import ATTRS, CFG, FakeClock, FakeSink, FakeSource, people


@pytest.fixture
def env(tmp_path):
    state = StateStore(tmp_path / "state.db")
    src = FakeSource(people(250))
    sink = FakeSink(ATTRS)
    clock = FakeClock()
    runs = itertools.count()

    def make(run_id=None, cfg=CFG, **kw):
        rid = run_id or f"r{next(runs)}"
        ledger = Ledger.for_run(tmp_path / "ledger", "dag", rid, "t")
        return PeopleSync(
            config=cfg, source=src, sink=sink, state=state, ledger=ledger, run_key=f"dag/{rid}/t", clock=clock, **kw
        )

    return make, src, sink, state, clock
