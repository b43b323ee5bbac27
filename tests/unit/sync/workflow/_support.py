"""Shared helpers of the workflow-state unit tests: message and event builders, a fake Brevo import sink."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState
from airflow_provider_customerio.sync.workflow.attributes import (
    attribute_names,
)
from airflow_provider_customerio.sync.workflow.derive import (
    STAGED_KIND,
    derive_changes,
)
from airflow_provider_customerio.sync.workflow.fold import StateBuilder

NAMES = {"1": "Onboarding", "2": "Digest"}


def msg(
    mid: str,
    person: str,
    created: int,
    metrics: dict[str, int],
    campaign: int = 1,
    action: int = 11,
    email: str | None = "default",
) -> dict[str, Any]:
    em = f"{person}@example.com" if email == "default" else email
    return {
        "id": mid,
        "customer_id": person,
        "customer_identifiers": {"id": person, "email": em, "cio_id": f"cio_{person}"},
        "created": created,
        "metrics": {"created": created, **metrics},
        "campaign_id": campaign,
        "action_id": action,
        "newsletter_id": None,
        "broadcast_id": None,
        "type": "email",
    }


def event(eid: str, delivery: str, person: str, metric: str, ts: int, campaign: int = 1) -> dict[str, Any]:
    return {
        "event_id": eid,
        "object_type": "email",
        "metric": metric,
        "timestamp": ts,
        "data": {
            "delivery_id": delivery,
            "campaign_id": campaign,
            "action_id": 12,
            "identifiers": {"id": person, "email": f"{person}@example.com", "cio_id": f"cio_{person}"},
        },
    }


def states(messages: list[dict[str, Any]], events: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    b = StateBuilder()
    for m in messages:
        b.add_message(m)
    for e in events:
        b.add_event(e)
    return {s.person_key: s for s in b.states()}


def derive(msgs: list[dict[str, Any]], stored: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
    b = StateBuilder()
    for m in msgs:
        b.add_message(m)
    return derive_changes(
        b.states(),
        names=attribute_names(),
        campaign_names=NAMES,
        stored_tokens=lambda keys: {k: v for k, v in (stored or {}).items() if k in keys},
    )


class FakeBrevo:
    """Import port double: records rows, finishes processes as scripted (the hook itself is tested elsewhere)."""

    def __init__(self, outcomes: list[ProcessState] | None = None) -> None:
        self.outcomes = outcomes or []
        self.submitted: list[list[dict[str, Any]]] = []
        self.waited: list[str] = []

    def submit(self, rows: list[dict[str, Any]]) -> str:
        self.submitted.append(rows)
        return str(len(self.submitted))

    def wait(self, process_id: str) -> ProcessState:
        self.waited.append(process_id)
        i = int(process_id) - 1
        return self.outcomes[i] if i < len(self.outcomes) else ProcessState(process_id, ProcessOutcome.SUCCEEDED)


def stage(state: StateStore, run_key: str, changes: list[tuple[str, str, dict[str, Any]]]) -> None:
    state.stage_items(run_key, [(k, STAGED_KIND, {"token": t, "row": r}) for k, t, r in changes])
