"""`airflow backfill` with a real scheduler: each past interval is synced exactly once, and reprocessing the
completed range changes nothing."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_customerio.adapters.people import CHANGE_ACTIVITY_TYPES
from tests.system.conftest import _wait

pytestmark = pytest.mark.system

DAG_ID = "customerio_people_to_brevo"
# the order in which the sync merges the typed feeds: on a same-second tie the first type wins, as in the sync
CHANGE_TYPES = tuple(CHANGE_ACTIVITY_TYPES)


def _backfill_runs(stack, dag_id: str = DAG_ID) -> list[dict]:
    runs = stack.api_ok("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
    return [r for r in runs if r["run_type"] == "backfill"]


def _wait_backfill(stack, backfill_id: int, dag_id: str = DAG_ID, timeout: float = 900) -> None:
    def complete() -> bool:
        body = stack.api_ok("GET", f"/api/v2/backfills/{backfill_id}")
        runs = _backfill_runs(stack, dag_id)
        return bool(body.get("completed_at") and runs and all(r["state"] in ("success", "failed") for r in runs))

    _wait(complete, timeout, f"backfill {backfill_id} of {dag_id}")


def _people_to_upsert(stack, start: datetime, end: datetime) -> set[str]:
    """Oracle: people whose newest change in [start, end) on the App API activity feed is not a delete."""
    info = stack.sandbox
    newest: dict[str, tuple[int, str]] = {}
    for kind in CHANGE_TYPES:
        params = {"type": kind, "limit": 100, "deleted": "true"}
        while True:
            body = requests.get(
                f"{info['app_url']}/v1/activities",
                params=params,
                headers={"Authorization": f"Bearer {info['app_api_key']}"},
                timeout=30,
            ).json()
            stop = False
            for act in body.get("activities") or []:
                ts = act["timestamp"]
                if ts < start.timestamp():
                    stop = True
                    break
                cio_id = (act.get("customer_identifiers") or {}).get("cio_id")
                if (
                    ts < end.timestamp() and cio_id and ts > newest.get(cio_id, (-1, ""))[0]
                ):  # ties: first type wins, as in the sync
                    newest[cio_id] = (ts, kind)
            if stop or not body.get("next"):
                break
            params["start"] = body["next"]
    return {cio_id for cio_id, (_, kind) in newest.items() if kind != "profile_delete"}


def test_backfill_three_intervals_exactly_once_then_reprocess_changes_nothing(airflow_stack, parsed_dags):
    stack = airflow_stack
    for dag_id in parsed_dags:  # keep other DAGs' scheduled runs out of the way
        stack.api_ok("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": dag_id != DAG_ID})
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    first, last = hour - timedelta(hours=5), hour - timedelta(hours=3)
    body = {
        "dag_id": DAG_ID,
        "from_date": first.isoformat(),
        "to_date": last.isoformat(),
        "max_active_runs": 1,
        "reprocess_behavior": "none",
    }
    backfill = stack.api_ok("POST", "/api/v2/backfills", json=body)
    _wait_backfill(stack, backfill["id"])
    runs = _backfill_runs(stack)
    assert len(runs) == 3, runs
    assert {r["state"] for r in runs} == {"success"}, runs
    intervals = Counter((r["data_interval_start"], r["data_interval_end"]) for r in runs)
    assert all(n == 1 for n in intervals.values()), intervals  # each interval exactly once
    starts = sorted(datetime.fromisoformat(s.replace("Z", "+00:00")) for s, _ in intervals)
    assert starts == [first, first + timedelta(hours=1), first + timedelta(hours=2)]
    total_written = 0
    for run in runs:
        start = datetime.fromisoformat(run["data_interval_start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(run["data_interval_end"].replace("Z", "+00:00"))
        extract = stack.xcom(DAG_ID, run["dag_run_id"], "extract_customerio_people")
        # the run synced exactly its own interval, and missed none of the people changed in it
        assert extract["window"] == {"start": start.isoformat(), "end": end.isoformat()}, extract
        assert extract["read"] >= len(_people_to_upsert(stack, start, end)) > 0, (run["dag_run_id"], extract)
        load = stack.xcom(DAG_ID, run["dag_run_id"], "load_brevo_contacts")
        total_written += load["created"] + load["updated"] + load["deleted"]
    assert total_written > 0, "the backfilled intervals contained changes"

    # reprocess the completed range: the runs are cleared and re-run, and nothing is written again
    again = stack.api_ok("POST", "/api/v2/backfills", json={**body, "reprocess_behavior": "completed"})
    _wait_backfill(stack, again["id"])
    rerun = _backfill_runs(stack)
    assert len(rerun) == 3 and {r["state"] for r in rerun} == {"success"}, rerun
    for run in rerun:
        load = stack.xcom(DAG_ID, run["dag_run_id"], "load_brevo_contacts")
        assert load["created"] == load["updated"] == load["deleted"] == 0, (run["dag_run_id"], load)


def test_metrics_backfill_fills_each_day_once_and_reprocessing_rewrites_nothing(airflow_stack, parsed_dags):
    import sqlite3

    stack = airflow_stack
    dag_id = "customerio_campaign_metrics"
    for other in parsed_dags:
        stack.api_ok("PATCH", f"/api/v2/dags/{other}", json={"is_paused": other != dag_id})
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    first, last = day - timedelta(days=4), day - timedelta(days=2)
    body = {
        "dag_id": dag_id,
        "from_date": first.isoformat(),
        "to_date": last.isoformat(),
        "max_active_runs": 1,
        "reprocess_behavior": "none",
    }
    _wait_backfill(stack, stack.api_ok("POST", "/api/v2/backfills", json=body)["id"], dag_id)
    runs = _backfill_runs(stack, dag_id)
    assert len(runs) == 3 and {r["state"] for r in runs} == {"success"}, runs

    def table() -> list[tuple]:
        db = stack.home / "customerio_sync" / "state.db"  # the metrics table is in the sync store
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT * FROM customerio_campaign_metrics ORDER BY campaign_id, date, source"
            ).fetchall()

    rows = table()
    keys = Counter((r[0], str(r[1]), r[2]) for r in rows)
    assert keys and all(n == 1 for n in keys.values()), keys  # one row per (campaign, day, source)
    days = {str(r[1]) for r in rows}
    for offset in range(3):  # every backfilled day is there
        assert (first + timedelta(days=offset)).date().isoformat() in days, days
    info = stack.sandbox
    listed = requests.get(
        f"{info['app_url']}/v1/campaigns", headers={"Authorization": f"Bearer {info['app_api_key']}"}, timeout=30
    ).json()["campaigns"]
    assert {r[0] for r in rows} == {c["id"] for c in listed}  # every campaign, nothing else

    again = stack.api_ok("POST", "/api/v2/backfills", json={**body, "reprocess_behavior": "completed"})
    _wait_backfill(stack, again["id"], dag_id)
    assert {r["state"] for r in _backfill_runs(stack, dag_id)} == {"success"}
    assert table() == rows  # reprocessing rewrote nothing
