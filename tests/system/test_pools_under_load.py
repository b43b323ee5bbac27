"""Every example DAG at once, under a real scheduler and the shipped pools, against the sandbox with its
vendor rate limits on: no API answers 429, and the observed peak rate of each API stays within its limit."""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from airflow_provider_customerio.pools import POOLS

pytestmark = pytest.mark.system

#: requests/s the vendors allow (Brevo: /contacts and /events buckets, General plan)
LIMITS = {"app": 10.0, "track": 100.0, "brevo:contacts": 10.0, "brevo:events": 10.0}


def _family(entry: dict) -> str:
    vendor = entry.get("vendor", "?")
    if vendor != "brevo":
        return vendor
    path = entry.get("path", "")
    tail = path.split("/brevo/v3", 1)[-1]
    if tail.startswith("/contacts"):
        return "brevo:contacts"
    if tail.startswith("/events"):
        return "brevo:events"
    return "brevo:other"


def peak_per_second(stamps: list[float]) -> int:
    """Most requests inside any one-second window [t, t+1)."""
    stamps = sorted(stamps)
    best = 0
    for i, t in enumerate(stamps):
        best = max(best, bisect.bisect_left(stamps, t + 1.0) - i)
    return best


def test_peak_per_second_helper():
    assert peak_per_second([0, 0.1, 0.5, 0.99, 1.0, 1.5]) == 4
    assert peak_per_second([]) == 0


def test_all_dags_at_once_within_rate_limits(airflow_stack, parsed_dags):
    airflow_stack.control("PUT", "/ratelimits", json={"enabled": True})
    airflow_stack.control("DELETE", "/requests")
    dag_ids = sorted(d for d in parsed_dags if d != "customerio_connection_check")
    # heavier runs than the schedule's defaults, so the pools, not the small data, bound the request rate
    conf = {
        "customerio_people_to_brevo": {"mode": "full"},
        "customerio_segments_to_brevo_lists": {
            "segment_id": 1,
            "list_id": 13,
            "include_attributes": ["first_name", "last_name", "plan"],
        },
        "customerio_campaign_metrics": {"lookback_days": 30},
    }
    triggered = {}
    now = datetime.now(timezone.utc).isoformat()
    for dag_id in dag_ids:
        airflow_stack.unpause(dag_id)
        run = airflow_stack.api_ok(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": now, "dag_run_id": f"load_{dag_id}", "conf": conf.get(dag_id, {})},
        )
        triggered[dag_id] = run["dag_run_id"]
    states = {dag_id: airflow_stack.wait_run(dag_id, run_id, timeout=1200) for dag_id, run_id in triggered.items()}
    entries = airflow_stack.control("GET", "/requests")["requests"]
    by_family: dict[str, list[float]] = defaultdict(list)
    for entry in entries:
        by_family[_family(entry)].append(entry["ts"])
    rejected = [e for e in entries if e.get("status") == 429]
    peaks = {fam: peak_per_second(ts) for fam, ts in by_family.items()}
    print(f"\nrequests per API: { {f: len(t) for f, t in by_family.items()} }")
    print(f"observed peak requests/s per API: {peaks}; 429 answers: {len(rejected)}")
    print(f"pools: { {n: (b.slots, b.per_task_rate) for n, b in POOLS.items()} }")
    assert entries, "the DAGs made API calls"
    assert rejected == [], rejected[:5]
    for fam, limit in LIMITS.items():
        assert peaks.get(fam, 0) <= limit, (fam, peaks)
    failed = {d: s for d, s in states.items() if s != "success"}
    assert not failed, failed
