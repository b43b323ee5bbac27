"""Data-aware scheduling under a real scheduler: a people sync's load task updates the Asset
``customerio://customerio_app_default/people`` (its asset event carries the run summary as ``extra``), and the
segment mirror, scheduled on that Asset in this tier (``CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET=true``), is triggered
by it.

The file is named to run after test_backfill.py: its people runs would leave the backfilled hours with nothing
to write."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from tests.system.conftest import _wait

pytestmark = pytest.mark.system

PEOPLE = "customerio_people_to_brevo"
SEGMENTS = "customerio_segments_to_brevo_lists"
PEOPLE_URI = "customerio://customerio_app_default/people"


def test_people_sync_triggers_the_segment_mirror_through_the_people_asset(airflow_stack, parsed_dags):
    stack = airflow_stack
    for other in parsed_dags:
        stack.api_ok("PATCH", f"/api/v2/dags/{other}", json={"is_paused": other not in (PEOPLE, SEGMENTS)})
    details = stack.api_ok("GET", f"/api/v2/dags/{SEGMENTS}/details")
    assert PEOPLE_URI in str(details.get("asset_expression") or ""), details.get("asset_expression")
    before = {
        r["dag_run_id"]
        for r in stack.api_ok("GET", f"/api/v2/dags/{SEGMENTS}/dagRuns", params={"limit": 100})["dag_runs"]
    }
    run_id = "asset_source_people"
    stack.api_ok(
        "POST",
        f"/api/v2/dags/{PEOPLE}/dagRuns",
        json={"logical_date": datetime.now(timezone.utc).isoformat(), "dag_run_id": run_id, "conf": {}},
    )
    assert stack.wait_run(PEOPLE, run_id, timeout=900) == "success"

    events = stack.api_ok("GET", "/api/v2/assets/events", params={"source_run_id": run_id, "limit": 50})
    by_uri = {e["uri"]: e for e in events["asset_events"]}
    assert set(by_uri) == {PEOPLE_URI, "brevo://brevo_default/contacts"}, by_uri.keys()
    extra = by_uri[PEOPLE_URI]["extra"]
    summary = stack.xcom(PEOPLE, run_id, "load_brevo_contacts")
    for key in ("created", "updated", "unchanged", "rejected"):
        assert extra[key] == summary[key], key  # the run summary is the event's extra
    assert extra["capability"] == "people"

    def triggered_by_our_run():
        """An asset-triggered segment-mirror run whose upstream events include our people run's (unpausing the
        people DAG also starts its latest scheduled run, whose event may trigger a run of its own first)."""
        runs = stack.api_ok("GET", f"/api/v2/dags/{SEGMENTS}/dagRuns", params={"limit": 100})["dag_runs"]
        for r in runs:
            if r["dag_run_id"] in before or r["run_type"] != "asset_triggered":
                continue
            upstream = stack.api_ok("GET", f"/api/v2/dags/{SEGMENTS}/dagRuns/{r['dag_run_id']}/upstreamAssetEvents")
            if (PEOPLE_URI, run_id) in {(e["uri"], e["source_run_id"]) for e in upstream["asset_events"]}:
                return r
        return None

    downstream = _wait(triggered_by_our_run, 600, "a segment-mirror run triggered by our people run's asset event")
    assert stack.wait_run(SEGMENTS, downstream["dag_run_id"], timeout=600) == "success"
    # the triggered run mirrored what the tier's config asks for (its pairs; none rejected), and said so
    config = yaml.safe_load(Path(stack.env["CUSTOMERIO_PROVIDER_CONFIG"]).read_text())
    pairs = len(config["connectors"]["customerio"]["segments"]["mirror"] or {})
    result = stack.xcom(SEGMENTS, downstream["dag_run_id"], "report")
    assert (result["pairs"], result["mirrored"], result["rejected"]) == (pairs, pairs, 0), result
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances(SEGMENTS, downstream["dag_run_id"])}
    assert states["plan"] == states["check_segments"] == states["report"] == "success", states
    stack.api_ok("PATCH", f"/api/v2/dags/{SEGMENTS}", json={"is_paused": True})
    stack.api_ok("PATCH", f"/api/v2/dags/{PEOPLE}", json={"is_paused": True})
