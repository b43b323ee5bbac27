"""Event forwarding against the sandbox: real HTTP, real hooks, the real operators.

Brevo's ``GET /events`` (needed to reconcile interrupted sends) is not served by the sandbox yet (it answers 405).
Until it is, the fixture ``brevo_get_events`` answers that one route from the sandbox's own state (control plane
``/_sandbox/brevo/events``) with requests-mock, filtering like Brevo (event_name, startDate/endDate, limit/offset,
newest first, api-key checked). Every other call, the sends included, is real HTTP to the sandbox. When the sandbox
serves the route, the shim steps aside by itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pendulum
import pytest
import requests
import requests_mock
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.operators.events import (
    CustomerIOEventsToBrevoOperator,
    CustomerIOTrackEventsOperator,
)
from airflow_provider_customerio.sandbox.webhook_emitter import emit_webhooks, make_event
from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.ledger import read_ledger
from tests.conftest import REPO_ROOT
from tests.integration.test_events_receiver import KEY, Receiver

pytestmark = pytest.mark.integration

MAPPING = {
    "email_sent": "EMAIL_SENT",
    "email_delivered": "EMAIL_DELIVERED",
    "email_opened": "EMAIL_OPENED",
    "email_clicked": "EMAIL_CLICKED",
    "customer_subscribed": "SUBSCRIBED",
    "purchase_completed": "ORDER_PLACED",
    "feature_activated": "FEATURE_USED",
}


class World:
    """The sandbox, the config, the store and helpers to read Brevo and run the operators."""

    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_conn: Any) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        sandbox.set_airflow_env(monkeypatch)
        sandbox.ratelimits(enabled=False)
        self.store_path = tmp_path / "webhooks.db"
        self.config_path = tmp_path / "customerio_config.yaml"
        doc = {
            "connectors": {
                "customerio": {
                    "event_mapping": MAPPING,
                    "events": {"unmapped": "skip"},
                    "people": {"state_path": str(self.store_path)},  # the sync store: events, ledger, state
                }
            }
        }
        self.config_path.write_text(json.dumps(doc), encoding="utf-8")
        monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(self.config_path))
        airflow_conn(
            "customerio_webhook_default",
            conn_type="customerio_webhook",
            password=KEY,
            extra=json.dumps({"store_path": str(self.store_path)}),
        )
        self.runs = 0

    # ------------------------------------------------------------------------------------- operators
    def forward(self, context: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        self.runs += 1
        kwargs.setdefault("reconcile_grace_seconds", 0)
        op = CustomerIOEventsToBrevoOperator(task_id="forward_events", state_path=str(self.store_path), **kwargs)
        ctx = {"dag_run": _Run("customerio_events_to_brevo", f"run{self.runs}")}
        ctx.update(context or {})
        return op.execute(context=ctx)  # type: ignore[arg-type]

    def store(self) -> EventStore:
        return EventStore.sqlite(self.store_path)

    def add_webhooks(self, n: int, seed: int = 0) -> dict[str, dict[str, Any]]:
        events = {}
        rows = []
        for i in range(n):
            ev = make_event(i, seed=seed)
            ev["metric"], ev["object_type"] = "opened", "email"  # all mapped
            events[ev["event_id"]] = ev
            rows.append(StoredEvent(ev["event_id"], "webhook", json.dumps(ev), ev["timestamp"], received_at=float(i)))
        s = self.store()
        s.add(rows)
        s.dispose()
        return events

    # ---------------------------------------------------------------------------------------- Brevo
    def brevo_events(self) -> list[dict[str, Any]]:
        return self.sandbox._call("GET", "/brevo/events")["events"]

    def brevo_ids(self) -> Counter[str]:
        return Counter((e.get("event_properties") or {}).get("cio_event_id") for e in self.brevo_events())

    def ledger_lines(self) -> list[dict[str, Any]]:
        return read_ledger(self.store_path)

    # ---------------------------------------------------------------------------------- Customer.io
    def track(self, person: str, name: str, data: dict[str, Any], ts: int) -> None:
        auth = self.sandbox.track_auth
        requests.put(
            f"{self.sandbox.track_url}/api/v1/customers/{person}",
            auth=auth,
            json={"email": f"buyer{person}@example.com"},
            timeout=10,
        ).raise_for_status()
        requests.post(
            f"{self.sandbox.track_url}/api/v1/customers/{person}/events",
            auth=auth,
            json={"name": name, "data": data, "timestamp": ts},
            timeout=10,
        ).raise_for_status()


class _Run:
    def __init__(self, dag_id: str, run_id: str) -> None:
        self.dag_id, self.run_id = dag_id, run_id


@pytest.fixture
def brevo_get_events(sandbox: Any) -> Iterator[str]:
    probe = requests.get(f"{sandbox.brevo_url}/events", headers=sandbox.brevo_headers, params={"limit": 1}, timeout=10)
    if probe.status_code == 200:
        yield "sandbox"
        return
    control = f"{sandbox.control_url}/brevo/events"
    key = sandbox.info["brevo_api_key"]

    def answer(request: Any, context: Any) -> Any:
        if request.headers.get("api-key") != key:
            context.status_code = 401
            return {"code": "unauthorized", "message": "Key not found"}
        q = parse_qs(urlsplit(request.url).query)
        names = set(q.get("event_name", []))
        start = date.fromisoformat(q["startDate"][0][:10]) if "startDate" in q else None
        end = date.fromisoformat(q["endDate"][0][:10]) if "endDate" in q else None
        limit, offset = int(q.get("limit", ["100"])[0]), int(q.get("offset", ["0"])[0])
        held = requests.get(control, timeout=10).json()["events"]
        out = []
        for e in reversed(held):  # newest first
            if names and e["event_name"] not in names:
                continue
            when = e.get("event_date") or e["received_at"]
            day = datetime.fromisoformat(when.replace("Z", "+00:00")).date()
            if (start and day < start) or (end and day > end):
                continue
            out.append(
                {
                    "contact_id": e.get("contact_id"),
                    "event_date": when,
                    "event_name": e["event_name"],
                    "event_properties": e.get("event_properties"),
                    "contact_properties": e.get("contact_properties"),
                }
            )
        return {"events": out[offset : offset + limit], "count": len(out)}

    with requests_mock.Mocker(real_http=True) as m:
        m.get(re.compile(re.escape(f"{sandbox.brevo_url}/events") + r"(\?.*)?$"), json=answer)
        yield "shim"


@pytest.fixture
def world(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_conn: Any, brevo_get_events: str
) -> World:
    return World(sandbox, tmp_path, monkeypatch, airflow_conn)


def test_webhooks_and_behavioural_events_reach_brevo_once(world: World) -> None:
    receiver = Receiver().start()
    try:
        report = emit_webhooks(receiver.url, KEY, 60, duplicates=20, concurrency=4, seed=3)
    finally:
        receiver.stop()
    assert report.unexpected == []
    now = int(time.time())
    world.track("41", "purchase_completed", {"order_id": "A-1", "total": 10}, now - 120)
    world.track("42", "purchase_completed", {"order_id": "A-2", "total": 20}, now - 60)
    world.track("42", "feature_activated", {"feature": "export"}, now - 30)
    world.track("43", "page_viewed_custom", {"x": 1}, now - 30)  # unmapped: skipped, in the ledger
    world.track("44", "purchase_completed", {"order_id": "OLD"}, now - 7200)  # outside the window
    interval = {
        "data_interval_start": pendulum.from_timestamp(now - 300),
        "data_interval_end": pendulum.from_timestamp(now + 1),
    }
    summary = world.forward(interval, activity_lookback_seconds=0)

    held = world.brevo_ids()
    assert max(held.values()) == 1  # each event once
    webhook_mapped = {eid for eid, ev in report.events.items() if f"{ev['object_type']}_{ev['metric']}" in MAPPING}
    webhook_skipped = set(report.events) - webhook_mapped
    activity_ids = {k for k in held if k.startswith("activity:")}
    assert set(held) == webhook_mapped | activity_ids and len(activity_ids) == 3
    names = Counter(e["event_name"] for e in world.brevo_events() if e["event_properties"]["cio_source"] == "activity")
    assert names == {"ORDER_PLACED": 2, "FEATURE_USED": 1}
    order = next(e for e in world.brevo_events() if e["event_properties"].get("order_id") == "A-2")
    assert order["identifiers"] == {"email_id": "buyer42@example.com", "ext_id": "42"}
    assert order["event_date"] == datetime.fromtimestamp(now - 60, tz=timezone.utc).isoformat()
    opened = next(e for e in world.brevo_events() if e["event_name"] == "EMAIL_OPENED")
    assert {"campaign_id", "delivery_id", "cio_event_id"} <= set(opened["event_properties"])

    ledger = {l["record_id"]: l["reason"] for l in world.ledger_lines()}
    assert set(ledger) == webhook_skipped | {k for k, v in ledger.items() if k.startswith("activity:")}
    assert sorted(v for k, v in ledger.items() if k.startswith("activity:")) == ["unmapped_event"]
    assert summary["created"] == len(held) and summary["events_processed"] == len(held)
    assert summary["batches"] == 1 and summary["events_per_call"] == float(len(held))
    # nothing lost: every stored event is in Brevo or in the ledger, never both
    s = world.store()
    assert s.counts()["pending"] == s.counts()["in_flight"] == 0
    s.dispose()
    assert not set(held) & set(ledger)

    again = world.forward(interval, activity_lookback_seconds=0)  # a re-run changes nothing
    assert again["created"] == 0 and world.brevo_ids() == held
    assert again["activities_read"] == 4 and again["activities_new"] == 0


def test_partial_207_errors_end_in_the_ledger_and_the_rest_once(world: World) -> None:
    events = world.add_webhooks(50, seed=4)
    world.sandbox._call("POST", "/brevo/faults", json={"kind": "events_partial_207", "count": 3})
    summary = world.forward(include_activities=False)
    held = world.brevo_ids()
    ledger = [l for l in world.ledger_lines() if l["reason"] == "vendor_rejected"]
    assert max(held.values()) == 1
    assert set(held) | {l["record_id"] for l in ledger} == set(events)
    assert not set(held) & {l["record_id"] for l in ledger}
    # 50 sent; 25 failed "temporarily" and went again; 13 again; the 7 failing a third time are ledgered
    assert (len(held), len(ledger), summary["requeued"], summary["batches"]) == (43, 7, 38, 3)
    assert all("Temporary failure" in l["message"] and l["stage"] == "send" for l in ledger)


def test_killed_between_send_and_mark_rerun_leaves_no_duplicates(world: World) -> None:
    events = world.add_webhooks(250, seed=5)
    script = textwrap.dedent(f"""
        import os, signal
        from airflow_provider_customerio.store.inbox import EventStore
        real_mark = EventStore.mark
        def mark(self, changes):
            if any(status == "sent" for status, _ in changes.values()):
                os.kill(os.getpid(), signal.SIGKILL)  # killed after Brevo accepted, before the mark
            return real_mark(self, changes)
        EventStore.mark = mark
        from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator
        from types import SimpleNamespace
        op = CustomerIOEventsToBrevoOperator(task_id="forward_events", state_path={str(world.store_path)!r},
                                             include_activities=False)
        # the killed attempt of the run that world.forward() retries below (same dag run: same lease holder)
        op.execute(context={{"dag_run": SimpleNamespace(dag_id="customerio_events_to_brevo", run_id="run1")}})
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=dict(os.environ), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    s = world.store()
    assert (s.counts()["in_flight"], s.counts()["pending"]) == (200, 50)
    s.dispose()
    assert sum(world.brevo_ids().values()) == 200  # the first batch landed

    summary = world.forward(include_activities=False)
    assert (summary["reconciled_sent"], summary["reconciled_resent"], summary["created"]) == (200, 0, 50)
    held = world.brevo_ids()
    assert set(held) == set(events) and max(held.values()) == 1  # Brevo holds each event once


def test_a_retry_right_after_a_kill_mid_send_resolves_the_in_flight_events_itself(world: World) -> None:
    events = world.add_webhooks(30, seed=8)
    script = textwrap.dedent(f"""
        import os, signal
        from airflow_provider_customerio.store.inbox import EventStore
        real_mark = EventStore.mark
        def mark(self, changes):
            if any(status == "sent" for status, _ in changes.values()):
                os.kill(os.getpid(), signal.SIGKILL)  # killed after Brevo accepted, before the mark
            return real_mark(self, changes)
        EventStore.mark = mark
        from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator
        from types import SimpleNamespace
        op = CustomerIOEventsToBrevoOperator(task_id="forward_events", state_path={str(world.store_path)!r},
                                             include_activities=False)
        op.execute(context={{"dag_run": SimpleNamespace(dag_id="customerio_events_to_brevo", run_id="run1")}})
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=dict(os.environ), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    # the retry, inside the batch's grace: it waits the rest of the grace, then resolves the batch
    summary = world.forward(include_activities=False, reconcile_grace_seconds=8, in_flight_wait_seconds=30)
    assert (summary["reconciled_sent"], summary["reconciled_resent"], summary["created"]) == (30, 0, 0)
    s = world.store()
    assert (s.counts()["in_flight"], s.counts()["sent"]) == (0, 30)
    s.dispose()
    assert world.brevo_ids() == Counter(dict.fromkeys(events, 1))


def test_uncertain_failure_that_did_not_land_is_sent_once(world: World) -> None:
    events = world.add_webhooks(30, seed=6)
    world.sandbox.faults(vendor="brevo", kind="drop", count=1, path_contains="/events/batch")
    with pytest.raises(Exception, match="No usable response"):
        world.forward(include_activities=False)
    s = world.store()
    assert s.counts()["in_flight"] == 30  # unknown outcome: nothing resent blindly
    s.dispose()
    assert world.brevo_ids() == Counter()
    summary = world.forward(include_activities=False)
    assert (summary["reconciled_sent"], summary["reconciled_resent"], summary["created"]) == (0, 30, 30)
    assert world.brevo_ids() == Counter(dict.fromkeys(events, 1))


def test_manual_run_without_interval_reads_from_the_watermark(world: World) -> None:
    now = int(time.time())
    world.track("51", "purchase_completed", {"order_id": "M-1"}, now - 600)
    world.track("50", "purchase_completed", {"order_id": "TOO-OLD"}, now - 3 * 3600)
    first = world.forward(activity_lookback_seconds=0)  # no data interval, first run: the last hour
    assert first["created"] == 1
    world.track("52", "purchase_completed", {"order_id": "M-2"}, now - 5)
    second = world.forward()  # from the end of the last window read, minus the lookback
    assert second["window"]["start"] == first["window"]["end"]
    assert second["created"] == 1 and second["activities_new"] == 1  # M-1 re-read, deduplicated
    orders = Counter(e["event_properties"]["order_id"] for e in world.brevo_events())
    assert orders == {"M-1": 1, "M-2": 1}


def test_activity_feed_outage_still_forwards_the_webhooks_then_fails(world: World) -> None:
    from airflow_provider_customerio.exceptions import ServerError
    from airflow_provider_customerio.hooks.retry import RetryPolicy

    events = world.add_webhooks(5, seed=8)
    world.sandbox.faults(vendor="app", kind="500", count=1)
    with pytest.raises(ServerError):
        world.forward(customerio_app_hook_params={"retry_policy": RetryPolicy(max_attempts=1)})
    assert world.brevo_ids() == Counter(dict.fromkeys(events, 1))
    s = world.store()
    assert s.get_meta("activity_window_end") is None  # the window was not consumed: the retry re-reads it
    s.dispose()


def test_sync_switch_off_skips(world: World) -> None:
    doc = json.loads(world.config_path.read_text())
    doc["connectors"]["customerio"]["sync"] = {"events": False}
    world.config_path.write_text(json.dumps(doc))
    world.add_webhooks(3)
    with pytest.raises(AirflowSkipException, match="sync.events is false"):
        world.forward()
    assert world.brevo_ids() == Counter()


# ------------------------------------------------------------------------------------ to Customer.io Track
def test_track_operator_replay_is_deduplicated(world: World, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {"name": "signup", "customer_id": "61", "data": {"plan": "pro"}, "timestamp": 1700000000},
        {"name": "signup", "email": "sixty-two@example.com", "timestamp": "2023-11-14T22:13:20Z"},
        {"name": "visit", "anonymous_id": "anon-1", "data": {"page": "/"}},
        {"name": "", "customer_id": "63"},
        {"customer_id": "64"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    for person in ("61", "sixty-two@example.com"):
        requests.put(
            f"{world.sandbox.track_url}/api/v1/customers/{person}",
            auth=world.sandbox.track_auth,
            json={"email": "sixty-two@example.com"} if "@" in person else {},
            timeout=10,
        ).raise_for_status()

    def run(n: int) -> dict[str, Any]:
        op = CustomerIOTrackEventsOperator(
            task_id="send_to_track", events_path=str(path), state_path=str(tmp_path / "store.db")
        )
        return op.execute(context={"dag_run": _Run("d", f"r{n}")})  # type: ignore[arg-type]

    first, second = run(1), run(2)
    assert (first["read"], first["sent"], first["rejected"]) == (6, 3, 3)
    assert second["sent"] == 3
    state = world.sandbox._call("GET", "/state/customerio/events")
    person_events = [e for e in state["events"] if e["name"] == "signup"]
    anon = [e for e in state["anonymous_events"] if e["name"] == "visit"]
    assert len(person_events) == 2 and len(anon) == 1  # the replay was deduplicated by the deterministic ids
    assert all(len(e["id"]) == 26 for e in person_events + anon)
    reasons = Counter(l["reason"] for l in read_ledger(tmp_path / "store.db", first["ledger"]))
    assert reasons == {"malformed_event": 3}


def test_track_operator_from_xcom_list(world: World, tmp_path: Path) -> None:
    requests.put(
        f"{world.sandbox.track_url}/api/v1/customers/71", auth=world.sandbox.track_auth, json={}, timeout=10
    ).raise_for_status()
    op = CustomerIOTrackEventsOperator(
        task_id="t",
        events=json.dumps([{"name": "a", "customer_id": "71", "id": "01HKEEPTHISID0000000000000"}]),
        state_path=str(tmp_path / "store.db"),
    )
    out = op.execute(context={})  # type: ignore[arg-type]
    assert out == {"read": 1, "sent": 1, "rejected": 0, "ledger": None, "api_calls": 1}
    state = world.sandbox._call("GET", "/state/customerio/events", params={"name": "a"})
    assert [e["id"] for e in state["events"]] == ["01HKEEPTHISID0000000000000"]


def test_dry_run_plans_what_the_real_run_then_does_and_writes_nothing(world: World) -> None:
    events = world.add_webhooks(450, seed=12)  # mapped: 450 -> 3 batches of <= 200
    unmapped = make_event(9999, seed=12)
    unmapped["metric"], unmapped["object_type"] = "dropped", "email"  # email_dropped is not in the mapping
    s = world.store()
    s.add([StoredEvent(unmapped["event_id"], "webhook", json.dumps(unmapped), unmapped["timestamp"], received_at=1e9)])
    before = s.counts()
    s.dispose()

    plan_run = world.forward(include_activities=False, dry_run=True)
    plan = plan_run["plan"]
    assert plan_run["dry_run"] is True and plan_run["read"] == 451
    assert (plan["send"], plan["batches"], plan["by_event"]) == (450, 3, {"EMAIL_OPENED": 450})
    assert plan["skip"] == {"unmapped_event": 1} and plan["reject"] == {} and len(plan["sample"]) == 50
    # nothing was written: no Brevo event, the outbox unchanged, no ledger row
    assert world.brevo_ids() == Counter()
    s = world.store()
    assert s.counts() == before
    s.dispose()
    assert world.ledger_lines() == []

    real = world.forward(include_activities=False)
    assert (real["created"], real["batches"], real["skipped_events"]) == (plan["send"], plan["batches"], 1)
    assert set(world.brevo_ids()) == set(events)
