"""The segment mirror and the workflow-state write wait for their Brevo imports in the triggerer: the task defers on
each import, the real :class:`~airflow_provider_customerio.triggers.brevo.BrevoProcessTrigger` waits for it against
the sandbox, and the task resumes from the sync store (a new operator instance) until it finishes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator
from airflow_provider_customerio.operators.workflow import (
    CustomerIOWorkflowStateOperator,
    CustomerIOWorkflowStateToBrevoOperator,
)
from tests.integration.test_segments_sandbox import SEGMENT_BIG, expected_keys
from tests.integration.test_segments_sandbox import World as SegmentWorld
from tests.integration.test_workflow_state_sandbox import World as WorkflowWorld

pytestmark = pytest.mark.integration


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event.payload
    return None


def _finish_deferred(make_op: Any, context: dict[str, Any]) -> tuple[dict[str, Any], list[list[str]]]:
    """Execute a deferrable task the way Airflow does: each deferral is waited for by its trigger, then a fresh
    operator instance resumes with the trigger's event. Returns the result and the process ids of each wait."""
    waits: list[list[str]] = []
    try:
        return make_op().execute(context=context), waits
    except TaskDeferred as first:
        deferred = first
    while True:
        trigger = deferred.trigger
        trigger.poll_interval = 0.05
        waits.append(list(trigger.process_ids))

        event = asyncio.run(_first_event(trigger))
        assert event["status"] == "success", event
        try:
            return getattr(make_op(), deferred.method_name)(context=context, event=event), waits
        except TaskDeferred as again:
            deferred = again


def test_the_segment_mirror_defers_on_its_import_and_finishes_from_the_triggerer(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.ratelimits(enabled=False)
    sandbox.set_airflow_env(monkeypatch)
    world = SegmentWorld(sandbox, tmp_path, monkeypatch)
    world.seed(people=400, segments=[120, 30])
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 2})  # running when deferred
    members = world.members(SEGMENT_BIG)

    def make_op() -> CustomerIOSegmentToBrevoListOperator:
        return CustomerIOSegmentToBrevoListOperator(
            task_id="mirror_deferred",
            segment_id=SEGMENT_BIG,
            list_id=13,
            state_path=str(tmp_path / "store.db"),
            deferrable=True,
            import_check_interval=0.01,
            customerio_app_hook_params={"rate_limit": 0},
            brevo_hook_params={"rate_limit": 0},
        )

    summary, waits = _finish_deferred(make_op, {"run_id": "deferred"})
    assert waits == [["1"]]  # one import, waited for in the triggerer
    assert world.list_keys(13) == expected_keys(members)
    assert summary["added"] == len(expected_keys(members)) == summary["list_size_after"]


def test_the_workflow_write_defers_on_each_import_and_finishes_from_the_triggerer(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = WorkflowWorld(sandbox, tmp_path, monkeypatch)
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 2})  # running when deferred
    context = world.context(world.now - 4 * 86400, world.now + 1)
    common = {"state_path": str(tmp_path / "state.db")}
    derived = CustomerIOWorkflowStateOperator(task_id="derive_state", lookback_hours=0, **common).execute(context)

    def make_op() -> CustomerIOWorkflowStateToBrevoOperator:
        return CustomerIOWorkflowStateToBrevoOperator(
            task_id="write_to_brevo",
            deferrable=True,
            import_max_bytes=6000,  # several imports: each one deferred on, one at a time
            import_check_interval=0.01,
            create_missing_attributes=True,
            **common,
        )

    written, waits = _finish_deferred(make_op, context)
    assert len(waits) == written["imports"] > 1 and all(len(w) == 1 for w in waits)
    assert written["written"] == derived["to_write"] > 0
    assert sum(1 for attrs in world.contacts().values() if "CIO_LAST_MESSAGE_STATUS" in attrs) == written["written"]
