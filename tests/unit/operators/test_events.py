"""The event operators run with real Airflow operator objects against a mocked API (requests-mock): the Track
operator's sends and ledger, and the forwarding operator's switch and dry run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator, CustomerIOTrackEventsOperator
from airflow_provider_customerio.store.ledger import read_ledger

TRACK = "https://track.customer.io/api/v1"


def _context(run_id: str = "r1") -> dict[str, Any]:
    return {"dag_run": SimpleNamespace(dag_id="d", run_id=run_id)}


def test_the_track_operator_sends_valid_events_and_ledgers_the_others(airflow_conn, requests_mock, tmp_path) -> None:
    airflow_conn("customerio_track_default", conn_type="customerio_track", login="site", password="key")
    requests_mock.post(f"{TRACK}/customers/61/events", json={})
    requests_mock.post(f"{TRACK}/events", json={})
    requests_mock.post(f"{TRACK}/customers/62/events", status_code=400, json={"meta": {"error": "name too long"}})
    path = tmp_path / "events.jsonl"
    lines = [
        json.dumps({"name": "signup", "customer_id": "61", "timestamp": 1700000000}),
        json.dumps({"name": "visit", "anonymous_id": "anon-1"}),
        json.dumps({"name": "x" * 10, "customer_id": "62"}),
        json.dumps({"name": "", "customer_id": "63"}),
        "not json",
    ]
    path.write_text("\n".join(lines))
    op = CustomerIOTrackEventsOperator(
        task_id="t", events_path=str(path), state_path=str(tmp_path / "s.db"), track_hook_params={"rate_limit": 0}
    )
    out = op.execute(context=_context())  # type: ignore[arg-type]
    assert (out["read"], out["sent"], out["rejected"]) == (5, 2, 3)
    sent = [r.json() for r in requests_mock.request_history if "/customers/62/" not in r.url]
    assert [b["name"] for b in sent] == ["signup", "visit"] and all(b["id"] for b in sent)
    rows = read_ledger(tmp_path / "s.db", out["ledger"])
    assert sorted(r["reason"] for r in rows) == ["malformed_event", "malformed_event", "vendor_rejected"]


def test_the_forwarding_operator_skips_when_switched_off(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("connectors:\n  customerio:\n    sync:\n      events: false\n")
    op = CustomerIOEventsToBrevoOperator(task_id="t", config_path=str(config), state_path=str(tmp_path / "s.db"))
    with pytest.raises(AirflowSkipException, match="sync.events is false"):
        op.execute(context=_context())  # type: ignore[arg-type]


def test_the_track_operator_keeps_its_ledger_where_state_path_says(airflow_conn, requests_mock, tmp_path) -> None:
    airflow_conn("customerio_track_default", conn_type="customerio_track", login="site", password="key")
    op = CustomerIOTrackEventsOperator(
        task_id="t",
        events=[{"name": ""}],
        state_path=str(tmp_path / "other.db"),
        track_hook_params={"rate_limit": 0},
    )
    out = op.execute(context=_context("r9"))  # type: ignore[arg-type]
    assert out["rejected"] == 1 and requests_mock.request_history == []
    assert [r["reason"] for r in read_ledger(tmp_path / "other.db", out["ledger"])] == ["malformed_event"]
