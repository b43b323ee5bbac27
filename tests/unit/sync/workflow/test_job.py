"""The two workflow-state tasks as jobs of the sync lifecycle (``sync/workflow/job.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.lifecycle import SyncJob
from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState
from airflow_provider_customerio.sync.workflow.attributes import attribute_names
from airflow_provider_customerio.sync.workflow.job import DeriveJob, WriteJob
from airflow_provider_customerio.sync.workflow.write import WorkflowStateWriter
from tests.unit.sync.workflow._support import NAMES, FakeBrevo, event, msg


def derive_job(state: StateStore, ledger: Ledger, messages: list[dict[str, Any]], events: Any = None) -> DeriveJob:
    return DeriveJob(
        state=state,
        ledger=ledger,
        run_key="dag/run/workflow_state",
        names=attribute_names(),
        window=(1000, 9000, False),
        campaign_names=lambda: NAMES,
        messages=lambda start, end: [m for m in messages if start <= m["created"] <= end],
        events=events,
        api_calls=lambda: 7,
    )


def test_the_derive_job_stages_the_window_and_starts_no_process(tmp_path: Path) -> None:
    state = StateStore(":memory:")
    with Ledger(tmp_path / "ledger.db") as ledger:
        job: SyncJob = derive_job(
            state,
            ledger,
            [msg("m1", "ann", 1000, {"sent": 1005}), msg("m2", "bob", 500, {"sent": 505})],  # m2: before the window
            events=lambda start, end: [event("e1", "m1", "ann", "opened", 1010)],
        )
        assert job.run() == []
        out = job.finish()
    assert (out["staged"], out["messages"], out["webhook_events"], out["api_calls"]) == (1, 1, 1, 7)
    assert out["window"] == {"start_ts": 1000, "end_ts": 9000, "manual": False}
    assert state.count_staged("dag/run/workflow_state") == 1


def test_the_write_job_creates_attributes_once_and_reports_them_after_a_deferral(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.db")
    ledger = Ledger(tmp_path / "ledger.db")
    derive_job(state, ledger, [msg("m1", "ann", 1000, {"sent": 1005})]).run()
    brevo, created = FakeBrevo(), []

    def write_job() -> WriteJob:
        writer = WorkflowStateWriter(state, brevo, run_key="dag/run/workflow_state", rejects=ledger)
        return WriteJob(
            writer,
            ledger=ledger,
            ensure_attributes=lambda: created.append(1) or ["CIO_LAST_ACTION"],
            api_calls=lambda: 0,
        )

    assert write_job().run() == ["1"]
    resumed = write_job()  # the task deferred: a new job resumes from the store
    resumed.resume()
    assert resumed.complete([ProcessState("1", ProcessOutcome.SUCCEEDED)]) == []
    out = resumed.finish()
    assert (out["written"], out["imports"], out["attributes_created"], created) == (1, 1, ["CIO_LAST_ACTION"], [1])
