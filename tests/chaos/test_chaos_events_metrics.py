"""Chaos: event forwarding (webhook outbox -> Brevo events), campaign metrics (App API -> SQL table) and workflow
state (messages -> Brevo attributes) under the fault profile, including partial 207s on Brevo event batches and
failed import processes."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.operators import events as events_op
from airflow_provider_customerio.sync.ledger import read_ledger
from tests.chaos.conftest import brevo_contacts, brevo_events, diff, event_key, run_with_retries, sandbox_time
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


def test_event_forwarding_under_faults_sends_each_event_once(
    sandbox, chaos, monkeypatch, airflow_conn, brevo_get_events, tmp_path
):
    ref = _events_world(sandbox, monkeypatch, airflow_conn, tmp_path / "ref")
    ref.forward()
    ref.forward()
    ref_events, ref_ids = _stable(brevo_events(sandbox)), ref.brevo_ids()
    assert len(ref_ids) == EVENTS and set(ref_ids.values()) == {1}

    world = _events_world(sandbox, monkeypatch, airflow_conn, tmp_path / "chaos")
    # the forwarder's reconcile grace (60 s, the default) runs on the sandbox clock, like Brevo's read lag (30 s)
    monkeypatch.setattr(
        events_op, "EventForwarder", functools.partial(events_op.EventForwarder, clock=sandbox_time(sandbox))
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
    store = world.store()
    try:
        counts = store.counts()
    finally:
        store.dispose()
    ledgered = {line["record_id"] for line in world.ledger_lines()}
    assert sum(counts.values()) == EVENTS, counts
    assert len(ids) + counts.get("pending", 0) + counts.get("in_flight", 0) + len(ledgered - set(ids)) >= EVENTS, (
        counts,
        len(ids),
        len(ledgered),
        errors,
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
    # nothing lost: every (campaign, day) of the reference is in the table after the faulted run
    assert set(_table(world)) == set(ref_table), (errors, set(ref_table) - set(_table(world)))

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


def test_workflow_state_under_faults_equals_the_fault_free_run(sandbox, chaos, monkeypatch, tmp_path):
    ref = _workflow_world(sandbox, monkeypatch, tmp_path / "ref")
    ref.run()
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
    # nothing lost: each person with a state is written or ledgered
    contacts = brevo_contacts(sandbox)
    have_state = sum("CIO_LAST_CAMPAIGN_ID" in c["attributes"] for c in contacts.values())
    ledgered = {line["record_id"] for line in read_ledger(tmp_path / "chaos" / "state.db")}
    assert have_state + len(ledgered) >= sum(
        "CIO_LAST_CAMPAIGN_ID" in c["attributes"] for c in ref_contacts.values()
    ), (have_state, len(ledgered), errors, written)

    world.run()
    assert brevo_contacts(sandbox) == ref_contacts, diff(ref_contacts, brevo_contacts(sandbox))
