"""The incremental plan (sync/people/plan.py): hydrate the changed people or export them, by counted calls."""

from __future__ import annotations

import itertools
import json

import pytest

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore
from airflow_provider_customerio.sync.people.plan import (
    DEFAULT_EXPORT_CALLS,
    EXPORT,
    EXPORT_COST_WATERMARK,
    FEED,
    ExportCost,
    choose_plan,
    export_cost_estimate,
    seed_export_cost,
    stream_export,
)
from airflow_provider_customerio.sync.people.ports import Change
from airflow_provider_customerio.sync.people.sync import PeopleSync, run_blocking
from tests.unit.sync.people.fakes import ATTRS, CFG, WINDOW, FakeClock, FakeSink, FakeSource, people


class ExportingSource(FakeSource):
    """FakeSource that can also export named people (in reverse id order: not the staging order)."""

    def __init__(self, persons):
        super().__init__(persons)
        self.exports: list[list[str]] = []
        self.fail_export = False
        self.read_fail_after: int | None = None

    def start_changed_export(self, cio_ids):
        if self.fail_export:
            return None
        self.exports.append(list(cio_ids))
        return {"export_ids": [len(self.exports)], "calls": 4, "seconds": 0.5}

    def iter_export(self, token):
        ids = self.exports[token["export_ids"][0] - 1]
        for n, cid in enumerate(sorted(ids, reverse=True)):
            if self.read_fail_after is not None and n >= self.read_fail_after:
                raise ConnectionError("killed")
            if cid in self.people:
                yield self.people[cid]


def make_env(tmp_path, source_cls):
    state = StateStore(tmp_path / "state.db")
    src = source_cls(people(250))
    sink = FakeSink(ATTRS)
    runs = itertools.count()

    def make(run_id=None, **kw):
        rid = run_id or f"r{next(runs)}"
        ledger = Ledger.for_run(tmp_path / "ledger", "dag", rid, "t")
        return PeopleSync(
            config=CFG,
            source=src,
            sink=sink,
            state=state,
            ledger=ledger,
            run_key=f"dag/{rid}/t",
            clock=FakeClock(),
            **kw,
        )

    return make, src, sink, state


def change_people(src, ids):
    """Rename these people and put them in the feed (with one delete, c00001)."""
    ts = int(WINDOW.start.timestamp())
    for cid in ids:
        p = src.people[cid]
        src.people[cid] = type(p)(p.cio_id, p.id, p.email, {**p.attributes, "first_name": f"New {cid}"})
    src.changes = [Change(cid, "upsert", ts + 10) for cid in ids] + [Change("c00001", "delete", ts + 20)]
    src.people.pop("c00001")


CHANGED = [f"c{i:05d}" for i in range(2, 202)]  # 200 people: 2 hydrations


def test_switch_point_is_where_hydration_costs_more_calls_than_the_export():
    unmeasured = ExportCost(5, 0.0, measured="")
    assert choose_plan(500, unmeasured).plan == FEED  # 5 hydrations = 5 export calls: hydrate
    assert choose_plan(501, unmeasured).plan == EXPORT  # 6 hydrations > 5
    assert choose_plan(0, ExportCost(0, 0.0, "")).plan == FEED
    reason = choose_plan(501, ExportCost(5, 0.3, measured="filtered")).reason
    assert reason.startswith("incremental plan: export (501 changed people: hydrating them costs 6 App calls")
    assert (
        "about 5 calls and 0.3 s (measured on the last filtered export)" in reason
        and "fewer calls and no more time" in reason
    )


def test_an_export_that_waits_longer_than_the_hydrations_is_not_taken():
    # 1,000 people: 10 hydrations, 1 s at 10/s; an export of 6 calls that waited 10 s is slower
    slow = choose_plan(1000, ExportCost(6, 10.0, measured="filtered"))
    assert slow.plan == FEED and "the export's wait is longer than the hydrations" in slow.reason
    # 20,000 people: 200 hydrations, 20 s; the same export is cheaper in calls and time
    assert choose_plan(20_000, ExportCost(12, 10.0, measured="filtered")).plan == EXPORT
    assert choose_plan(1000, ExportCost(6, 1.0, measured="filtered")).plan == EXPORT  # a wait of 1 s is no longer


def test_export_cost_is_the_last_measured_export_per_10000_people(tmp_path):
    state = StateStore(tmp_path / "s.db")
    assert export_cost_estimate(state, 10) == ExportCost(DEFAULT_EXPORT_CALLS, 0.0, "")
    state.set_watermark(EXPORT_COST_WATERMARK, json.dumps({"calls": 18, "exports": 2, "seconds": 3}))
    assert export_cost_estimate(state, 10) == ExportCost(9, 3.0, "filtered")
    assert export_cost_estimate(state, 25_000) == ExportCost(27, 3.0, "filtered")  # three exports, side by side
    state.set_watermark(EXPORT_COST_WATERMARK, "garbage")
    assert export_cost_estimate(state, 10) == ExportCost(DEFAULT_EXPORT_CALLS, 0.0, "")


def test_stream_export_keeps_staged_order_positions_and_names_the_missing():
    src = ExportingSource(people(5))
    src.exports.append(["c00000", "c00001", "c00002", "c00003", "c00099"])
    staged = ["c00000", "c00001", "c00002", "c00003", "c00099"]  # c00099 is gone from Customer.io
    token = {"export_ids": [1]}
    got = [(pos, p.cio_id if p else None, cid) for pos, p, cid in stream_export(src, token, staged, 0)]
    assert got == [
        (0, "c00003", "c00003"),
        (1, "c00002", "c00002"),
        (2, "c00001", "c00001"),
        (3, "c00000", "c00000"),
        (4, None, "c00099"),
    ]
    # an unstaged person in the file is skipped; resuming at 3 gives the same tail
    src.exports[0].append("c00004")
    assert [(pos, cid) for pos, _, cid in stream_export(src, token, staged, 3)] == [(3, "c00000"), (4, "c00099")]


@pytest.mark.parametrize("cost", [1, 100])
def test_both_plans_give_the_same_brevo_end_state(tmp_path, cost):
    """Above the switch point (export cost 1 call < 2 hydrations) the export plan, below it the feed plan; the
    contacts, deletes and hashes match the run through a source that cannot export."""
    out = {}
    for name, cls in (("exporting", ExportingSource), ("feed_only", FakeSource)):
        make, src, sink, state = make_env(tmp_path / name, cls)
        run_blocking(make(), mode="full", window=None)
        state.set_watermark(EXPORT_COST_WATERMARK, json.dumps({"calls": cost, "exports": 1}))
        change_people(src, CHANGED)
        src.hydrate_calls = 0
        s = run_blocking(make("inc"), mode="incremental", window=WINDOW)
        hashes = state.get_hashes(CIO_TO_BREVO, [f"c{i:05d}" for i in range(250)])
        out[name] = (sink.contacts, sink.deleted, hashes, (s.read, s.updated, s.deleted, s.unchanged), s.notes, src)
    exp, feed = out["exporting"], out["feed_only"]
    assert exp[:4] == feed[:4]
    assert exp[3] == (200, 200, 1, 0)
    assert feed[5].hydrate_calls == 2 and "incremental plan: feed" in feed[4][-1]
    if cost == 1:
        assert exp[5].hydrate_calls == 0 and len(exp[5].exports) == 1
        assert sorted(exp[5].exports[0]) == CHANGED
        assert any(n.startswith("incremental plan: export (200 changed people") for n in exp[4])
    else:
        assert exp[5].hydrate_calls == 2 and exp[5].exports == []
        assert any(n.startswith("incremental plan: feed (200 changed people") for n in exp[4])


def test_export_plan_is_recorded_and_a_killed_read_resumes_on_the_same_export(tmp_path):
    make, src, sink, state = make_env(tmp_path, ExportingSource)
    run_blocking(make(), mode="full", window=None)
    state.set_watermark(EXPORT_COST_WATERMARK, json.dumps({"calls": 1, "exports": 1}))
    change_people(src, CHANGED)
    src.read_fail_after = 130
    with pytest.raises(ConnectionError):
        make("crash", checkpoint_every=50).run(mode="incremental", window=WINDOW)
    cp = state.get_checkpoint("dag/crash/t")
    assert cp["incremental_plan"] == EXPORT and cp["plan_token"]["export_ids"] == [1] and cp["offset"] == 100
    src.read_fail_after = None
    imports_before = len(sink.imports)
    s = run_blocking(make("crash", checkpoint_every=50), mode="incremental", window=WINDOW)
    rows = [r["email"] for i in sink.imports[imports_before:] for r in i["rows"]]
    assert len(rows) == len(set(rows)) == 200 and s.updated == 200  # none twice, none missed
    assert len(src.exports) == 1 and src.hydrate_calls == 0  # the same export, read again
    # the measured cost is what the next run estimates from
    assert json.loads(state.get_watermark(EXPORT_COST_WATERMARK)) == {
        "calls": 4,
        "exports": 1,
        "seconds": 0.5,
        "source": "filtered",
    }


def test_people_missing_from_the_export_are_ledgered_as_not_found(tmp_path):
    make, src, sink, state = make_env(tmp_path, ExportingSource)
    run_blocking(make(), mode="full", window=None)
    state.set_watermark(EXPORT_COST_WATERMARK, json.dumps({"calls": 1, "exports": 1}))
    change_people(src, CHANGED)
    src.people.pop("c00050")  # deleted after its change, with no delete in the window
    s = run_blocking(make("inc"), mode="incremental", window=WINDOW)
    assert s.updated == 199 and s.read == 200
    lines = [r for r in read_ledger(tmp_path / "ledger", s.ledger) if r["record_id"] == "c00050"]
    assert [r["reason"] for r in lines] == ["not_found"]


def test_failed_export_falls_back_to_hydration(tmp_path):
    make, src, sink, state = make_env(tmp_path, ExportingSource)
    run_blocking(make(), mode="full", window=None)
    state.set_watermark(EXPORT_COST_WATERMARK, json.dumps({"calls": 1, "exports": 1}))
    change_people(src, CHANGED)
    src.fail_export = True
    src.hydrate_calls = 0
    s = run_blocking(make("inc"), mode="incremental", window=WINDOW)
    assert s.updated == 200 and src.hydrate_calls == 2
    assert "the export failed, so hydrated instead" in s.notes[-1]


def test_dry_run_does_not_record_the_export_cost(tmp_path):
    make, src, sink, state = make_env(tmp_path, ExportingSource)
    run_blocking(make(), mode="full", window=None)
    state.set_watermark(EXPORT_COST_WATERMARK, json.dumps({"calls": 1, "exports": 1}))
    change_people(src, CHANGED)
    make("dry").extract(mode="incremental", window=WINDOW, dry_run=True)
    assert json.loads(state.get_watermark(EXPORT_COST_WATERMARK))["calls"] == 1
    assert len(src.exports) == 1


def test_a_full_export_seeds_the_estimate_until_a_filtered_one_is_measured(tmp_path):
    state = StateStore(tmp_path / "s.db")
    seed_export_cost(state, {"search": True})  # no export: nothing measured
    seed_export_cost(state, {"export_id": 3})  # no figures: nothing measured
    assert state.get_watermark(EXPORT_COST_WATERMARK) is None
    seed_export_cost(state, {"export_id": 3, "calls": 6, "seconds": 12.5})
    assert export_cost_estimate(state, 10) == ExportCost(6, 12.5, "full")
    seed_export_cost(state, {"export_id": 4, "calls": 7, "seconds": 20})  # a later full export replaces it
    assert export_cost_estimate(state, 10) == ExportCost(7, 20.0, "full")
    state.set_watermark(EXPORT_COST_WATERMARK, json.dumps({"calls": 4, "seconds": 1, "source": "filtered"}))
    seed_export_cost(state, {"export_id": 5, "calls": 9, "seconds": 30})  # a filtered measurement stays
    assert export_cost_estimate(state, 10) == ExportCost(4, 1.0, "filtered")


class SlowExportSource(ExportingSource):
    """Its full export took 30 s: an incremental export is expected to wait as long."""

    def start_full(self):
        return {**super().start_full(), "calls": 1, "seconds": 30.0}


def test_after_a_slow_full_export_few_changes_are_hydrated_and_many_exported(tmp_path):
    make, src, sink, state = make_env(tmp_path, SlowExportSource)
    run_blocking(make(), mode="full", window=None)
    assert export_cost_estimate(state, 1) == ExportCost(1, 30.0, "full")
    change_people(src, CHANGED)  # 200 people: 2 hydrations, 0.2 s, against 1 call and 30 s
    s = run_blocking(make("few"), mode="incremental", window=WINDOW)
    assert src.exports == [] and "measured on the last full export" in s.notes[-1]
    assert "the export's wait is longer than the hydrations" in s.notes[-1]
    # 40,000 people: 400 hydrations, 40 s, against 4 calls (4 exports) and 30 s
    assert choose_plan(40_000, export_cost_estimate(state, 40_000)).plan == EXPORT
