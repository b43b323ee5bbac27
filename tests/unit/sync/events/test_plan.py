"""Dry runs of the forwarding: the plan counts what a run would send, skip and reject, packed as a run would."""

from __future__ import annotations

import json

from airflow_provider_customerio.store.inbox import StoredEvent
from airflow_provider_customerio.sync.events.mapping import MAX_EVENTS_PER_BATCH, EventMapper
from airflow_provider_customerio.sync.events.plan import plan_forwarding
from tests.unit.sync.events.fakes import webhook_rows


def test_the_plan_counts_sends_batches_skips_and_rejects_without_touching_the_outbox() -> None:
    rows = webhook_rows(MAX_EVENTS_PER_BATCH + 5) + webhook_rows(3, "clicked", start=1000)
    rows += webhook_rows(2, "bounced", start=2000)  # not in event_mapping: skipped
    mapper = EventMapper({"email_opened": "EMAIL_OPENED", "email_clicked": "CLICK"})
    plan = plan_forwarding(rows, mapper, in_flight=4)
    assert plan.send == MAX_EVENTS_PER_BATCH + 8
    assert plan.batches == 2  # 208 events: one full batch of 200 and one of 8
    assert dict(plan.by_event) == {"EMAIL_OPENED": MAX_EVENTS_PER_BATCH + 5, "CLICK": 3}
    assert dict(plan.skip) == {"unmapped_event": 2} and not plan.reject
    assert plan.in_flight == 4 and len(plan.sample) == 50 and plan.sample[0] == "W00000"
    assert plan.as_dict()["skip"] == {"unmapped_event": 2}


def test_the_plan_rejects_what_a_run_would_ledger() -> None:
    body = {"event_id": "B1", "object_type": "email", "metric": "opened", "timestamp": 1700000000, "data": {}}
    bad = StoredEvent("B1", "webhook", json.dumps(body), 1700000000)  # names no person
    plan = plan_forwarding([*webhook_rows(1), bad], EventMapper({"email_opened": "EMAIL_OPENED"}))
    assert plan.send == 1 and dict(plan.reject) == {"missing_identifier": 1}
