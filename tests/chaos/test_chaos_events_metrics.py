"""Chaos: event forwarding (webhook outbox -> Brevo events), campaign metrics (App API -> SQL table) and workflow
state (messages -> Brevo attributes) under the fault profile, including partial 207s on Brevo event batches and
failed import processes."""

from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.ledger import read_ledger
from airflow_provider_customerio.sync.events import run as events_run
from tests.chaos.conftest import (
    assert_landed_or_ledgered,
    brevo_contacts,
    brevo_events,
    diff,
    event_key,
    run_with_retries,
    sandbox_time,
)
from tests.integration import test_campaign_metrics_sandbox as metrics_it
from tests.integration import test_events_forwarding as events_it
from tests.integration import test_workflow_state_sandbox as workflow_it

pytestmark = pytest.mark.integration
brevo_get_events = events_it.brevo_get_events  # fixture: Brevo GET /events (sandbox or shim)


def _events_world(sb: Any, monkeypatch: pytest.MonkeyPatch, airflow_conn: Any, workdir: Path) -> Any:
    sb.reset()
    workdir.mkdir()
    world = events_it.World(sb, workdir, monkeypatch, airflow_conn)
    sb.ratelimits(enabled=False)
    world.add_webhooks(EVENTS, seed=9)
    return world


GRACE = 60.0
EVENTS = 1200  # 6 batches: enough writes for the pre- and post-apply faults to all meet one


def duplicate_rate(ids: Counter[str]) -> float:
    """Extra copies of events in Brevo over distinct events."""
    return sum(n - 1 for n in ids.values()) / max(1, len(ids))


def _stable(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(event_key(e) for e in events)


def _by_id(events: list[dict[str, Any]]) -> dict[str, str]:
    """Brevo events by their Customer.io event id -> their content (duplicates are asserted apart)."""
    return {str((e.get("event_properties") or {}).get("cio_event_id")): event_key(e) for e in events}


def _ledger_pairs(path: Path) -> set[tuple[str, str]]:
    return {(line["record_id"], line["reason"]) for line in read_ledger(path)} if path.exists() else set()


def _outbox(world: Any) -> dict[str, set[str]]:
    """The webhook events the sync store holds, by status (pending, in_flight, sent, ...)."""
    store = world.store()
    try:
        return {status: {e.event_id for e in store.iter_status(status)} for status in store.counts()}
    finally:
        store.dispose()


def test_event_forwarding_under_faults_sends_each_event_once(
    sandbox, chaos, monkeypatch, airflow_conn, brevo_get_events, tmp_path
):
    ref = _events_world(sandbox, monkeypatch, airflow_conn, tmp_path / "ref")
    ref.forward()
    ref_first_events, ref_first_ledger = _by_id(brevo_events(sandbox)), _ledger_pairs(ref.store_path)
    ref.forward()
    ref_events, ref_ids = _stable(brevo_events(sandbox)), ref.brevo_ids()
    assert len(ref_ids) == EVENTS and set(ref_ids.values()) == {1}

    world = _events_world(sandbox, monkeypatch, airflow_conn, tmp_path / "chaos")
    # the forwarder's reconcile grace (60 s, the default) runs on the sandbox clock, like Brevo's read lag (30 s)
    monkeypatch.setattr(
        events_run, "EventForwarder", functools.partial(events_run.EventForwarder, clock=sandbox_time(sandbox))
    )
    chaos.on(vendors=("brevo",))
    out, errors = run_with_retries(lambda n: world.forward(reconcile_grace_seconds=GRACE))
    injected = chaos.injected()
    applied = chaos.post_applied()  # writes applied whose answer was lost
    assert applied["applied_5xx"] >= 1 and applied["applied_drop"] >= 1, applied
    faults = sandbox._call("GET", "/brevo/faults")["faults"]
    chaos.off()
    assert injected["503"] >= 1 and injected["429"] >= 1 and injected["drop"] >= 1, injected
    assert any(f["kind"] == "events_partial_207" and f["fired"] >= 1 for f in faults), faults
    # no duplicate, nothing lost: each event is in Brevo once, or still pending in the outbox, or ledgered
    ids = world.brevo_ids()
    assert max(ids.values()) == 1, [k for k, v in ids.items() if v > 1][:5]
    outbox = _outbox(world)
    assert sum(len(v) for v in outbox.values()) == EVENTS, {k: len(v) for k, v in outbox.items()}
    # record by record: each event is in Brevo with the fault-free run's content, or ledgered, or still held in
    # the sync store's outbox (pending, or in flight until Brevo's lagging reads confirm it: the next run
    # reconciles it; the run does not wait the grace out)
    held = {(eid, "held_in_outbox") for status in ("pending", "in_flight") for eid in outbox.get(status, set())}
    assert_landed_or_ledgered(
        {eid: eid for ids_ in outbox.values() for eid in ids_},
        _by_id(brevo_events(sandbox)),
        ref_first_events,
        _ledger_pairs(world.store_path) | held,
        ref_first_ledger,
    )

    # the next scheduled run, faults over: every event once, same content as the fault-free run
    last = world.forward(reconcile_grace_seconds=GRACE)
    assert world.brevo_ids() == ref_ids, f"Brevo event duplicates: {duplicate_rate(world.brevo_ids()):.2%}"
    print(
        f"events chaos: post-apply {dict(applied)}, reconciled as already sent {last['reconciled_sent']}, "
        f"resent {last['reconciled_resent']}, duplicate rate {duplicate_rate(world.brevo_ids()):.2%}"
    )
    assert _stable(brevo_events(sandbox)) == ref_events


def _metrics_world(sb: Any, monkeypatch: pytest.MonkeyPatch, airflow_conn: Any, workdir: Path) -> Any:
    sb.reset()
    workdir.mkdir()
    world = metrics_it.World(sb, workdir, monkeypatch, airflow_conn)
    sb.ratelimits(enabled=False)
    return world


def _table(world: Any) -> dict[Any, dict[str, Any]]:
    return {k: {c: v for c, v in row.items() if c != "updated_at"} for k, row in world.table().items()}


def test_campaign_metrics_under_faults_equal_the_fault_free_run(sandbox, chaos, monkeypatch, airflow_conn, tmp_path):
    ref = _metrics_world(sandbox, monkeypatch, airflow_conn, tmp_path / "ref")
    day = ref.today - timedelta(days=1)
    ref.load(day)
    ref_first_table = _table(ref)
    ref.load(day)
    ref_table = _table(ref)
    assert ref_table, "the reference run loaded metrics"

    world = _metrics_world(sandbox, monkeypatch, airflow_conn, tmp_path / "chaos")
    chaos.on(vendors=("app",), scale=2)
    campaigns, _ = run_with_retries(lambda n: world.list_campaigns())
    _, errors = run_with_retries(lambda n: world.load(day, campaigns))
    injected = chaos.injected()  # (the metrics load only reads a vendor: post-apply faults cannot hit it)
    chaos.off()
    assert injected["503"] >= 1 and injected["429"] >= 1 and injected["drop"] >= 1, injected
    # record by record: every (campaign, day) row of the fault-free run is in the table with the same figures,
    # or its campaign is in the ledger; no other row
    ledgered = {rid for rid, _ in _ledger_pairs(world.tmp_path / "state.db")}
    assert_landed_or_ledgered(
        {f"{c}|{d}": (c, d) for c, d in ref_first_table},
        _table(world),
        ref_first_table,
        {(f"{c}|{d}", "campaign_ledgered") for c, d in ref_first_table if str(c) in ledgered},
        set(),
    )

    world.load(day)
    assert _table(world) == ref_table


def _workflow_world(sb: Any, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Any:
    sb.reset()
    workdir.mkdir()
    world = workflow_it.World(sb, workdir, monkeypatch)
    # re-seed the same world with a pinned clock, so both runs see identical message times
    sb.reset()
    world.now = sb.seed(people=200, campaigns=3, days=3, seed=3, now=1_795_910_400)["now"]
    sb._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    sb.ratelimits(enabled=False)
    return world


def _workflow_ledger(workdir: Path) -> set[tuple[str, str]]:
    """The workflow ledger as (contact key, reason): the key ``brevo_contacts`` uses (EXT_ID, else e-mail)."""
    out = set()
    for line in read_ledger(workdir / "state.db") if (workdir / "state.db").exists() else []:
        ids = line.get("identifiers") or {}
        if isinstance(ids, str):
            ids = json.loads(ids or "{}")
        out.add((str(ids.get("ext_id") or ids.get("email") or line["record_id"]), line["reason"]))
    return out


def test_workflow_state_under_faults_equals_the_fault_free_run(sandbox, chaos, monkeypatch, tmp_path):
    ref = _workflow_world(sandbox, monkeypatch, tmp_path / "ref")
    ref.run()
    ref_first_contacts, ref_first_ledger = brevo_contacts(sandbox), _workflow_ledger(tmp_path / "ref")
    ref.run()
    ref_contacts = brevo_contacts(sandbox)
    assert sum("CIO_LAST_CAMPAIGN_ID" in c["attributes"] for c in ref_contacts.values()) > 50

    world = _workflow_world(sandbox, monkeypatch, tmp_path / "chaos")
    chaos.on(vendors=("app", "brevo"))
    (derived, written), errors = run_with_retries(lambda n: world.run())
    injected = chaos.injected()
    applied = chaos.post_applied()  # writes applied whose answer was lost
    assert applied["applied_5xx"] >= 1 and applied["applied_drop"] >= 1, applied
    chaos.off()
    assert injected["503"] >= 2 and injected["429"] >= 2 and injected["drop"] >= 2, injected
    # record by record: each contact has the workflow attributes of the fault-free first run, or is in the
    # ledger (by its identifiers); the fault-free run's rejects are there with their reasons; no other contact
    contacts = brevo_contacts(sandbox)
    assert_landed_or_ledgered(
        {key: key for key in ref_first_contacts},
        contacts,
        ref_first_contacts,
        _workflow_ledger(tmp_path / "chaos"),
        ref_first_ledger,
    )

    world.run()
    assert brevo_contacts(sandbox) == ref_contacts, diff(ref_contacts, brevo_contacts(sandbox))
