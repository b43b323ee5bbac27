"""Workflow state into Brevo attributes against the sandbox: real hooks, real HTTP, the real operators, the events
capability's real webhook store.

The seeded world (200 people, 3 campaigns, 3 days) has about 200 deliveries spread over the last 3 days, so many
people have several messages. Expected states are computed here from the messages read straight from the App API
(an oracle independent of the provider's folding code).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.operators.workflow import (
    CustomerIOWorkflowStateOperator,
    CustomerIOWorkflowStateToBrevoOperator,
)
from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.ledger import read_ledger

pytestmark = pytest.mark.integration
UTC = timezone.utc
ATTRS = (
    "CIO_LAST_CAMPAIGN",
    "CIO_LAST_CAMPAIGN_ID",
    "CIO_LAST_ACTION",
    "CIO_LAST_MESSAGE_STATUS",
    "CIO_LAST_MESSAGE_AT",
)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class World:
    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        sandbox.set_airflow_env(monkeypatch)
        seeded = sandbox.seed(people=200, campaigns=3, days=3, seed=3)
        self.now = seeded["now"]
        sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
        cfg = tmp_path / "customerio_config.yaml"
        cfg.write_text(json.dumps({"connectors": {"customerio": {"lists": {"all_contacts": 12}}}}))
        monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
        self.events_db = tmp_path / "state.db"  # the sync store holds the webhook events too
        self.runs = 0

    def context(self, start: int, end: int) -> dict[str, Any]:
        self.runs += 1
        return {
            "run_id": f"run{self.runs}",
            "data_interval_start": datetime.fromtimestamp(start, tz=UTC),
            "data_interval_end": datetime.fromtimestamp(end, tz=UTC),
        }

    def run(self, start: int | None = None, end: int | None = None, **write_kwargs: Any) -> tuple[dict, dict]:
        ctx = self.context(self.now - 4 * 86400 if start is None else start, self.now + 1 if end is None else end)
        common = {"state_path": str(self.tmp_path / "state.db")}
        derived = CustomerIOWorkflowStateOperator(
            task_id="derive_state",
            lookback_hours=0,
            **common,
        ).execute(context=ctx)
        written = CustomerIOWorkflowStateToBrevoOperator(
            task_id="write_to_brevo",
            import_check_interval=0.01,
            **{"create_missing_attributes": True, **write_kwargs},
            **common,
        ).execute(context=ctx)
        return derived, written

    def messages(self) -> list[dict[str, Any]]:
        out, start = [], None
        while True:
            params: dict[str, Any] = {"limit": 1000, "start_ts": 0, "end_ts": self.now + 1}
            if start:
                params["start"] = start
            body = requests.get(
                f"{self.sandbox.app_url}/v1/messages", params=params, headers=self.sandbox.app_headers, timeout=30
            ).json()
            out += body["messages"]
            start = body.get("next")
            if not start:
                return out

    def contacts(self) -> dict[str, dict[str, Any]]:
        body = self.sandbox._call("GET", "/brevo/contacts")
        out = {}
        for c in body["contacts"]:
            attrs = c.get("attributes") or {}
            key = c.get("email") or f"ext:{attrs.get('EXT_ID')}"
            out[key] = attrs
        return out

    def import_requests(self) -> int:
        return sum(
            1 for r in self.sandbox.requests(vendor="brevo", path_contains="/contacts/import") if r["method"] == "POST"
        )


@pytest.fixture
def world(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(sandbox, tmp_path, monkeypatch)


def expected_states(messages: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], int]]:
    """person cio_id -> (their newest message, number of messages)."""
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        by_person[m["customer_identifiers"]["cio_id"]].append(m)
    return {k: (max(v, key=lambda m: (m["created"], m["id"])), len(v)) for k, v in by_person.items()}


def test_attributes_for_people_with_several_messages(world: World) -> None:
    derived, written = world.run()
    messages = world.messages()
    assert derived["messages"] == len(messages) > 100
    states = expected_states(messages)
    contacts = world.contacts()
    several = 0
    for _cio_id, (last, count) in states.items():
        ident = last["customer_identifiers"]
        email = (ident.get("email") or "").lower()
        attrs = contacts.get(email) or contacts.get(f"ext:{ident.get('id')}")
        if "@@" in email or ".." in email:
            assert attrs is None or "CIO_LAST_MESSAGE_STATUS" not in attrs  # invalid email: ledgered, not written
            continue
        if not email and not ident.get("id"):
            continue
        assert attrs is not None, f"no Brevo contact for {ident}"
        metrics = {k: v for k, v in last["metrics"].items() if k != "created"}
        at = max(metrics.values())
        assert attrs["CIO_LAST_CAMPAIGN_ID"] == str(last["campaign_id"])
        assert (
            attrs["CIO_LAST_CAMPAIGN"]
            == ("Onboarding flow" if last["campaign_id"] % 2 else "Weekly digest") + f" {last['campaign_id']}"
        )
        assert attrs["CIO_LAST_ACTION"] == str(last["action_id"])
        assert attrs["CIO_LAST_MESSAGE_AT"] == iso(at)
        assert metrics[attrs["CIO_LAST_MESSAGE_STATUS"]] == at
        if count > 1:
            several += 1
    assert several >= 10  # the scenario really covers people with several messages
    assert written["written"] == derived["to_write"] and written["imports"] >= 1
    assert sorted(written["attributes_created"]) == sorted(ATTRS)
    reasons = {line["reason"] for line in read_ledger(world.tmp_path / "state.db", derived["ledger"])}
    assert reasons == {"invalid_email"}  # the seeded bad addresses, each with its reason


def test_only_people_whose_state_changed_are_written(world: World) -> None:
    first_derived, first = world.run()
    assert first["written"] > 50
    world.sandbox.clear_requests()

    again_derived, again = world.run()
    assert (again_derived["to_write"], again["written"], world.import_requests()) == (0, 0, 0)
    assert again_derived["unchanged"] == first["written"]

    # a reporting webhook says one person clicked their last message: only that person is written
    states = expected_states(world.messages())
    cio_id, (last, _) = next(
        (k, v)
        for k, v in sorted(states.items())
        if "@" in (v[0]["customer_identifiers"].get("email") or "")
        and "@@" not in v[0]["customer_identifiers"]["email"]
        and ".." not in v[0]["customer_identifiers"]["email"]
    )
    clicked_at = world.now - 10
    store = EventStore.sqlite(world.events_db)
    store.add(
        [
            StoredEvent(
                event_id="01WEBHOOKCLICK",
                source="webhook",
                event_ts=clicked_at,
                payload=json.dumps(
                    {
                        "event_id": "01WEBHOOKCLICK",
                        "object_type": "email",
                        "metric": "clicked",
                        "timestamp": clicked_at,
                        "data": {
                            "delivery_id": last["id"],
                            "campaign_id": last["campaign_id"],
                            "action_id": last["action_id"],
                            "identifiers": last["customer_identifiers"],
                            "href": "https://example.com",
                        },
                    }
                ),
            )
        ]
    )
    store.dispose()
    world.sandbox.clear_requests()
    derived, written = world.run()
    assert (derived["webhook_events"], derived["to_write"], written["written"]) == (1, 1, 1)
    imports = [
        r for r in world.sandbox.requests(vendor="brevo", path_contains="/contacts/import") if r["method"] == "POST"
    ]
    assert len(imports) == 1
    email = last["customer_identifiers"]["email"].lower()
    assert world.contacts()[email]["CIO_LAST_MESSAGE_STATUS"] == "clicked"
    assert world.contacts()[email]["CIO_LAST_MESSAGE_AT"] == iso(clicked_at)


def test_an_older_window_does_not_overwrite_newer_state(world: World) -> None:
    world.run()
    before = world.contacts()
    world.sandbox.clear_requests()
    derived, written = world.run(start=world.now - 4 * 86400, end=world.now - 2 * 86400)  # e.g. a backfill
    assert derived["people"] > 0 and derived["stale"] + derived["unchanged"] == derived["people"] - derived["rejected"]
    assert written["written"] == 0 and world.import_requests() == 0
    assert world.contacts() == before


def test_missing_attributes_are_a_clear_error_unless_created(world: World) -> None:
    with pytest.raises(ConfigError, match="CIO_LAST_MESSAGE_STATUS .*create_missing_attributes"):
        world.run(create_missing_attributes=False)
    assert world.import_requests() == 0
    _, written = world.run(create_missing_attributes=True)  # the staged rows of that run are written now
    assert written["written"] > 0


def test_a_failed_import_is_retried_then_written(world: World) -> None:
    world.sandbox._call("POST", "/brevo/faults", json={"kind": "import_failure", "count": 1})
    derived, written = world.run()
    assert (written["resubmitted"], written["written"], written["rejected"]) == (1, derived["to_write"], 0)


def test_renamed_attributes_are_used(world: World) -> None:
    names = {"status": "JOURNEY_STATUS", "campaign_id": None}
    ctx = world.context(world.now - 4 * 86400, world.now + 1)
    common = {
        "state_path": str(world.tmp_path / "state.db"),
        "attribute_names": names,
    }
    CustomerIOWorkflowStateOperator(task_id="d", lookback_hours=0, **common).execute(context=ctx)
    CustomerIOWorkflowStateToBrevoOperator(
        task_id="w", create_missing_attributes=True, import_check_interval=0.01, **common
    ).execute(context=ctx)
    statuses = [a for a in world.contacts().values() if "JOURNEY_STATUS" in a]
    assert len(statuses) > 50 and not any("CIO_LAST_CAMPAIGN_ID" in a for a in world.contacts().values())


def test_a_manual_run_without_interval_reads_the_last_day(world: World) -> None:
    common = {"state_path": str(world.tmp_path / "state.db")}
    derived = CustomerIOWorkflowStateOperator(task_id="d", lookback_hours=0, **common).execute(
        context={"run_id": "manual__1"}
    )
    assert derived["window"]["manual"] is True
    assert derived["window"]["end_ts"] - derived["window"]["start_ts"] == 86400
    in_last_day = [m for m in world.messages() if m["created"] >= derived["window"]["start_ts"]]
    assert derived["messages"] == len(in_last_day) > 0


def test_a_dry_run_plans_the_people_and_writes_nothing(world: World) -> None:
    before = world.contacts()
    derived, dry = world.run(dry_run=True)
    assert dry["dry_run"] is True and dry["imports"] == 0 and world.import_requests() == 0
    assert dry["plan"]["updates"] == derived["to_write"] > 0 and len(dry["plan"]["updates_items"]) == 50
    assert dry["attributes_created"] == [] and world.contacts() == before
    _, written = world.run()  # nothing was recorded as written: the real run writes them all
    assert written["written"] == derived["to_write"]
