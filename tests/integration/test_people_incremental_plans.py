"""The incremental people sync's two plans against the real sandbox (real HTTP, real hooks, real operator): below
the switch point the changed people are hydrated, above it they come from one filtered export; both end where a
full sync finds nothing left to write."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.people.plan import EXPORT_COST_WATERMARK, choose_plan, export_cost_estimate

pytestmark = pytest.mark.integration
EXAMPLE_CONFIG = Path(__file__).parents[2] / "dags" / "customerio_config.yaml"
SEED_NOW = 1_795_910_400
FAST = {"rate_limit": 50.0}


@pytest.fixture
def env(sandbox, monkeypatch, tmp_path):
    sandbox.seed(people=1000, seed=5, now=SEED_NOW)
    # exports done at once when polled: the full sync measures an export of 4 calls and no real wait, the estimate
    # the first incremental run decides by (sync/people/plan.py)
    sandbox.settings(export_rate_per_s=None, export_polls=1)
    # the hooks run at FAST; the sandbox's App limit follows, so no 429 retry (a second's backoff) lands in the
    # export's measured seconds, which the next run's plan is chosen by
    sandbox.ratelimits(app=FAST["rate_limit"])
    sandbox.http.post(
        f"{sandbox.control_url}/brevo/processes/settings", json={"polls_to_complete": 2}
    ).raise_for_status()
    sandbox.set_airflow_env(monkeypatch)
    text = EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db")
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(text)
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    return SimpleNamespace(sandbox=sandbox, state=tmp_path / "state.db")


def execute(mode: str, run_id: str, start=None, end=None) -> dict:
    op = CustomerIOToBrevoPeopleOperator(
        task_id="sync_people",
        mode=mode,
        deferrable=False,
        poll_interval=0.05,
        export_check_interval=0.05,
        customerio_app_hook_params=FAST,
        brevo_hook_params=FAST,
    )
    ctx = {"ti": SimpleNamespace(dag_id="plans_it"), "run_id": run_id}
    if start is not None:
        ctx.update(data_interval_start=start, data_interval_end=end)
    return op.execute(ctx)


def syncable(sb) -> list[dict]:
    people = sb.http.get(f"{sb.control_url}/state/customerio/people", params={"limit": 1000}).json()["people"]
    return [
        p["identifiers"]
        for p in people
        if p["identifiers"]["id"] and "@" in (p["identifiers"]["email"] or "") and "@@" not in p["identifiers"]["email"]
    ]


def rename(sb, ids: list[dict], label: str) -> None:
    ops = [
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"cio_id": p["cio_id"]},
            "attributes": {"first_name": f"{label} {n}"},
        }
        for n, p in enumerate(ids)
    ]
    for i in range(0, len(ops), 200):
        r = requests.post(f"{sb.track_url}/api/v2/batch", json={"batch": ops[i : i + 200]}, auth=sb.track_auth)
        assert r.status_code == 200, r.text


def contacts(sb) -> dict[str, dict]:
    body = sb.http.get(f"{sb.control_url}/brevo/contacts").json()
    return {c["attributes"].get("EXT_ID") or c.get("email"): c for c in body["contacts"]}


def app_calls(sb, suffix: str, method: str | None = None) -> list[dict]:
    return [
        r for r in sb.requests(vendor="app") if r["path"].endswith(suffix) and (method is None or r["method"] == method)
    ]


def brevo_writes(sb) -> list[dict]:
    return [r for r in sb.requests(vendor="brevo") if r["method"] in ("POST", "PUT", "DELETE")]


def test_feed_below_the_switch_point_export_above_it_same_end_state(env):
    sb = env.sandbox
    execute("full", "full1")
    cost = StateStore(env.state).get_watermark(EXPORT_COST_WATERMARK)
    assert cost is not None and json.loads(cost)["calls"] == 4 and json.loads(cost)["source"] == "full"
    synced = contacts(sb)
    people = [p for p in syncable(sb) if p["id"] in synced]  # in Brevo after the full sync
    few, many, gone = people[:100], people[100:700], people[700]

    # 100 changed: 1 hydration is cheaper than an export (4 calls measured on the full sync): the feed plan
    start = datetime.now(timezone.utc) - timedelta(seconds=2)
    rename(sb, few, "Few")
    sb.clear_requests()
    out = execute("incremental", "inc_few", start, datetime.now(timezone.utc) + timedelta(seconds=2))
    assert out["updated"] == 100
    assert any(n.startswith("incremental plan: feed (100 changed people") for n in out["notes"])
    assert len(app_calls(sb, "/customers/attributes")) == 1 and app_calls(sb, "/exports/customers") == []
    sb.clear_requests()
    assert execute("full", "full2")["updated"] == 0 and brevo_writes(sb) == []  # nothing left to write

    # 600 changed and one deleted: 6 hydrations cost more calls and time than the export: the export plan
    start = datetime.now(timezone.utc) - timedelta(seconds=2)
    rename(sb, many, "Many")
    r = requests.delete(f"{sb.track_url}/api/v1/customers/{gone['id']}", auth=sb.track_auth, timeout=10)
    assert r.status_code == 200
    sb.clear_requests()
    end = datetime.now(timezone.utc) + timedelta(seconds=2)
    out = execute("incremental", "inc_many", start, end)
    assert (out["updated"], out["deleted"]) == (600, 1)
    assert any(n.startswith("incremental plan: export (600 changed people") for n in out["notes"]), out["notes"]
    (created,) = app_calls(sb, "/exports/customers", "POST")
    assert app_calls(sb, "/customers/attributes") == []
    got = contacts(sb)
    assert gone["id"] not in got
    assert got[many[0]["id"]]["attributes"]["FIRSTNAME"] == "Many 0"
    assert got[few[0]["id"]]["attributes"]["FIRSTNAME"] == "Few 0"
    sb.clear_requests()
    # the same window again: the plan the measured export dictates (its seconds are wall time, so a slow machine
    # may tip it to hydration), and no writes either way
    measured = json.loads(StateStore(env.state).get_watermark(EXPORT_COST_WATERMARK))
    assert measured["source"] == "filtered"
    expected = choose_plan(600, export_cost_estimate(StateStore(env.state), 600)).plan
    assert expected == ("export" if float(measured["seconds"]) <= 0.6 else "feed")
    again = execute("incremental", "inc_many_again", start, end)
    assert any(n.startswith(f"incremental plan: {expected} (600 changed people") for n in again["notes"]), again
    assert again["updated"] == 0 and again["unchanged"] == 600
    # no import; only the delete is sent again (Brevo answers 404 for a contact already gone: the same end state)
    assert [r["method"] for r in brevo_writes(sb)] == ["DELETE"]
    sb.clear_requests()
    assert execute("full", "full3")["updated"] == 0 and brevo_writes(sb) == []  # the export plan converged too
