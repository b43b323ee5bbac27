"""The resumable writer: import batches, written tokens, retries (``sync/workflow/write.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.processes import ImportReport, ProcessOutcome, ProcessState
from airflow_provider_customerio.sync.workflow.derive import (
    WORKFLOW_DIRECTION,
)
from airflow_provider_customerio.sync.workflow.write import WorkflowStateWriter, import_problem_count
from tests.unit.sync.workflow._support import FakeBrevo, derive, msg, stage


def test_writer_packs_imports_and_records_tokens_only_after_completion(tmp_path: Path) -> None:
    res = derive([msg(f"m{i}", f"p{i}", 1000 + i, {"sent": 2000}) for i in range(5)])
    state = StateStore(":memory:")
    stage(state, "run1", res.changes)
    brevo = FakeBrevo()
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, brevo, run_key="run1", rejects=ledger, max_rows=2).run()
    assert [len(b) for b in brevo.submitted] == [2, 2, 1]
    assert (out.written, out.imports) == (5, 3)
    assert state.get_hashes(WORKFLOW_DIRECTION, [k for k, _, _ in res.changes]) == {k: t for k, t, _ in res.changes}
    assert state.count_staged("run1") == 0


def test_a_failed_import_is_resubmitted_once_then_ledgered(tmp_path: Path) -> None:
    res = derive([msg("m1", "ann", 1000, {"sent": 1005})])
    state = StateStore(":memory:")
    stage(state, "r", res.changes)
    brevo = FakeBrevo(
        [
            ProcessState("1", ProcessOutcome.FAILED, error="boom", status="failed"),
            ProcessState("2", ProcessOutcome.FAILED, error="boom", status="failed"),
        ]
    )
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger).run()
    assert (out.imports, out.resubmitted, out.written, out.rejected) == (2, 1, 0, 1)
    assert [line["reason"] for line in read_ledger(tmp_path / "ledger.db")] == ["import_failed"]
    assert state.get_hashes(WORKFLOW_DIRECTION, ["cio_ann"]) == {}  # re-sent by the next run


def test_reported_problem_rows_keep_the_batch_unwritten_and_ledgered(tmp_path: Path) -> None:
    res = derive([msg("m1", "ann", 1000, {"sent": 1005}), msg("m2", "bob", 1000, {"sent": 1005})])
    state = StateStore(":memory:")
    stage(state, "r", res.changes)
    brevo = FakeBrevo(
        [ProcessState("1", ProcessOutcome.SUCCEEDED, report=ImportReport(unidentified={"import_invalid": 1}))]
    )
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger).run()
    assert (out.written, out.rejected) == (0, 2)
    assert {line["reason"] for line in read_ledger(tmp_path / "ledger.db")} == {"import_unverified"}
    assert (
        import_problem_count(ProcessState("1", ProcessOutcome.SUCCEEDED, report=ImportReport(unidentified={"x": 2})))
        == 2
    )


def test_a_killed_writer_resumes_from_its_pending_import(tmp_path: Path) -> None:
    res = derive([msg(f"m{i}", f"p{i}", 1000 + i, {"sent": 2000}) for i in range(4)])
    db = tmp_path / "state.db"
    state = StateStore(db)
    stage(state, "r", res.changes)

    class Killed(Exception):
        pass

    class DiesWhileWaiting(FakeBrevo):
        def wait(self, process_id: str) -> ProcessState:
            if process_id == "2":
                raise Killed
            return super().wait(process_id)

    first = DiesWhileWaiting()
    with Ledger(tmp_path / "ledger.db") as ledger, pytest.raises(Killed):
        WorkflowStateWriter(state, first, run_key="r", rejects=ledger, max_rows=2).run()
    state.close()
    state = StateStore(db)  # a new task attempt
    second = FakeBrevo([ProcessState("1", ProcessOutcome.SUCCEEDED)])
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, second, run_key="r", rejects=ledger, max_rows=2).run()
    assert second.submitted == [] and second.waited == ["2"]  # the pending import is settled, not re-sent
    # the run's counts live in its checkpoint (as the people sync's do): 2 written by the killed attempt, 2 now
    assert (out.written, out.imports) == (4, 2)
    assert len(state.get_hashes(WORKFLOW_DIRECTION, [k for k, _, _ in res.changes])) == 4


def test_the_writer_steps_one_import_at_a_time_and_resumes_in_a_new_writer(tmp_path: Path) -> None:
    """The deferrable form: ``start`` submits one batch, ``complete`` takes its end and submits the next; a new
    writer (a resumed task) carries on from the store, counts included."""
    res = derive([msg(f"m{i}", f"p{i}", 1000 + i, {"sent": 2000}) for i in range(5)])
    state = StateStore(tmp_path / "state.db")
    stage(state, "r", res.changes)
    brevo = FakeBrevo()
    with Ledger(tmp_path / "ledger.db") as ledger:
        assert WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger, max_rows=2).start() == ["1"]
        assert [len(b) for b in brevo.submitted] == [2]  # one import in flight
        resumed = WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger, max_rows=2)
        assert resumed.start() == ["1"]  # still pending: wait for it, send nothing
        assert resumed.complete([ProcessState("1", ProcessOutcome.RUNNING)]) == ["1"]  # not ended yet
        assert resumed.complete([ProcessState("1", ProcessOutcome.SUCCEEDED)]) == ["2"]
        last = WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger, max_rows=2)
        assert last.complete([ProcessState("2", ProcessOutcome.SUCCEEDED)]) == ["3"]
        assert last.complete([ProcessState("3", ProcessOutcome.SUCCEEDED)]) == []
        out = last.finish()
    assert [len(b) for b in brevo.submitted] == [2, 2, 1]
    assert (out.written, out.imports) == (5, 3)
    assert state.count_staged("r") == 0 and state.pending_processes("r") == []
