"""The one sync lifecycle (``operators/base.py``): ``SyncOperator`` driving a tiny job through run, wait or defer,
complete and finish, with real Airflow (DAG, TaskDeferred, skip) and a real SQLite store in tmp_path."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.runs.sync_run import SyncRun, SyncWaitError
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout, ProcessOutcome, ProcessState
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger


class FakeJob:
    """A sync job that starts the processes of ``batches`` one batch at a time and records what it was told."""

    def __init__(self, batches: Sequence[Sequence[str]], calls: list[Any]) -> None:
        self.batches = [list(b) for b in batches]
        self.calls = calls

    def run(self) -> Sequence[str]:
        self.calls.append("run")
        return self.batches.pop(0) if self.batches else []

    def resume(self) -> None:
        self.calls.append("resume")

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        self.calls.append(("complete", sorted((s.process_id, s.outcome.value) for s in states)))
        return self.batches.pop(0) if self.batches else []

    def save(self) -> None:
        self.calls.append("save")

    def finish(self) -> Mapping[str, Any]:
        self.calls.append("finish")
        return {"written": 2}

    def close(self) -> None:
        self.calls.append("close")


class FakeImports:
    """Stands in for the run's Brevo imports component: every process it is asked about has ended well."""

    def __init__(self, calls: list[Any]) -> None:
        self.calls = calls
        self.notices = None

    def wait(self, ids: Sequence[str], *, timeout: float, poll_first: bool, factor: float) -> dict[str, ProcessState]:
        self.calls.append(("wait", list(ids)))
        return {i: ProcessState(i, ProcessOutcome.SUCCEEDED) for i in ids}


class FakeSyncOperator(SyncOperator):
    capability = "people"
    config_switch = "people"

    def __init__(self, *, batches: Sequence[Sequence[str]] = (), brevo_conn_id: str = "brevo_default", **kw: Any):
        super().__init__(**kw)
        self.batches = batches
        self.brevo_conn_id = brevo_conn_id
        self.calls: list[Any] = []
        self.runs: list[SyncRun] = []

    def build_sync(self, run: SyncRun) -> FakeJob:
        self.runs.append(run)
        if self.deferrable:
            run.brevo_imports(BrevoHook(self.brevo_conn_id, rate_limit=0), hold_slots=False)
        else:
            run.imports = FakeImports(self.calls)  # type: ignore[assignment]
        return FakeJob(self.batches, self.calls)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connectors:\n  customerio:\n    store_conn_id: no_such_store\n"
        f"    people: {{state_path: '{tmp_path / 'store.db'}'}}\n"
    )
    return path


def _op(config: Path, **kw: Any) -> FakeSyncOperator:
    with DAG("d", schedule=None):
        return FakeSyncOperator(task_id="sync_people", config_path=str(config), **kw)


def ctx(op: SyncOperator) -> dict[str, Any]:
    """The part of an Airflow context a sync reads: the DAG and the run id."""
    return {"dag": op.dag, "run_id": "r1"}


def _store(config: Path) -> SyncStore:
    return SyncStore.at(config.parent / "store.db")


def test_a_run_without_processes_finishes_and_records_its_summary(config: Path) -> None:
    op = _op(config)
    assert op.execute(ctx(op)) == {"written": 2}
    assert op.calls == ["run", "finish", "close"]
    [row] = _store(config).summaries("people")
    assert (row["dag_id"], row["run_id"], row["task_id"]) == ("d", "r1", "sync_people")
    assert row["summary"]["written"] == 2 and row["summary"]["capability"] == "people"


def test_the_run_key_is_dag_run_and_sync_name(config: Path) -> None:
    op = _op(config)
    op.execute(ctx(op))
    assert op.runs[0].run_key == "d/r1/sync_people"  # default: the task id
    named = _op(config, sync_name="nightly")
    named.execute(ctx(named))
    assert (named.runs[0].run_key, named.lease_name(named.runs[0])) == ("d/r1/nightly", "people:nightly")


@pytest.mark.parametrize(("given", "expected"), [(False, False), ("true", True), ("False", False), ("", False)])
def test_dry_run_is_coerced_from_its_rendering(config: Path, given: Any, expected: bool) -> None:
    op = _op(config, dry_run=given)
    op.execute(ctx(op))
    assert op.runs[0].dry_run is expected


def test_a_nonsense_dry_run_names_the_argument(config: Path) -> None:
    with pytest.raises(ValueError, match="dry_run must be true or false, got 'perhaps'"):
        op = _op(config, dry_run="perhaps")
        op.execute(ctx(op))


@pytest.mark.parametrize("switch", ["enabled: false", "sync: {people: false}"])
def test_the_capability_switched_off_skips_the_task(config: Path, switch: str) -> None:
    config.write_text(config.read_text() + f"    {switch}\n")
    op = _op(config)
    with pytest.raises(AirflowSkipException, match="the capability is off"):
        op.execute(ctx(op))
    assert op.calls == []


def test_a_blocking_run_waits_and_completes_until_nothing_is_pending(config: Path) -> None:
    op = _op(config, batches=[["1", "2"], ["3"]], deferrable=False)
    assert op.execute(ctx(op)) == {"written": 2}
    assert op.calls == [
        "run",
        ("wait", ["1", "2"]),
        ("complete", [("1", "succeeded"), ("2", "succeeded")]),
        ("wait", ["3"]),
        ("complete", [("3", "succeeded")]),
        "finish",
        "close",
    ]


def test_a_deferrable_run_saves_and_defers_with_its_import_slots(config: Path, airflow_conn) -> None:
    airflow_conn("brevo_default", conn_type="brevo", password="k")
    op = _op(config, batches=[["7"]], deferrable=True, import_timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx(op))
    trigger = deferred.value.trigger
    assert isinstance(trigger, BrevoProcessTrigger) and deferred.value.method_name == "execute_complete"
    slots = op.runs[0].slots
    assert slots is not None and slots.holder == "d/r1/sync_people"
    kwargs = trigger.serialize()[1]
    assert kwargs["process_ids"] == ["7"] and kwargs["brevo_conn_id"] == "brevo_default"
    assert (kwargs["slot_account"], kwargs["slot_holder"]) == (slots.account, "d/r1/sync_people")
    assert kwargs["store_path"] == str(config.parent / "store.db")
    assert op.calls == ["run", "save", "close"]
    assert _store(config).summaries() == []  # not finished yet


def test_execute_complete_resumes_completes_and_finishes(config: Path) -> None:
    op = _op(config)
    event = {"status": "success", "processes": {"7": {"status": "completed"}}}
    assert op.execute_complete(ctx(op), event) == {"written": 2}
    assert op.calls == ["resume", ("complete", [("7", "succeeded")]), "finish", "close"]


@pytest.mark.parametrize(
    ("event", "error", "match", "outcome"),
    [
        (
            {"status": "error", "message": "boom", "processes": {"7": {"status": "failed"}}},
            SyncWaitError,
            "boom",
            "failed",
        ),
        (
            {"status": "timeout", "pending": ["8"], "processes": {"7": {"status": "completed"}}},
            BrevoProcessTimeout,
            r"process\(es\) 8 not finished",
            "succeeded",
        ),
    ],
)
def test_execute_complete_raises_on_a_failed_wait_after_completing_what_ended(
    config: Path, event: dict[str, Any], error: type[Exception], match: str, outcome: str
) -> None:
    op = _op(config)
    with pytest.raises(error, match=match):
        op.execute_complete(ctx(op), event)
    assert op.calls[:2] == ["resume", ("complete", [("7", outcome)])]
    assert "finish" not in op.calls and op.calls[-1] == "close"
    assert _store(config).summaries() == []


class RealImportsOperator(FakeSyncOperator):
    """Waits through the run's real Brevo imports component (no HTTP: a zero timeout ends the wait at once)."""

    def build_sync(self, run: SyncRun) -> FakeJob:
        self.runs.append(run)
        run.brevo_imports(BrevoHook(self.brevo_conn_id, rate_limit=0), hold_slots=False)
        return FakeJob(self.batches, self.calls)


def test_a_blocking_wait_that_times_out_keeps_the_progress_and_says_what_to_do(config: Path, airflow_conn) -> None:
    """The blocking wait's timeout names the processes, says their work stays pending and how to go on (as the
    deferred wait's does, and as the people sync's wait did before the lifecycle moved into the base)."""
    airflow_conn("brevo_default", conn_type="brevo", password="k")
    with DAG("d", schedule=None):
        op = RealImportsOperator(
            task_id="sync_people", config_path=str(config), batches=[["7"]], deferrable=False, import_timeout=0
        )
    with pytest.raises(BrevoProcessTimeout, match=r"process\(es\) 7 not finished after 0 s") as err:
        op.execute(ctx(op))
    message = str(err.value)
    assert "stays pending" in message and "resume waiting" in message and "import_timeout" in message
    assert err.value.pending == ["7"]
    assert op.calls == ["run", "save", "close"]  # the progress is kept for the retry
    assert _store(config).summaries() == []


def test_counting_api_calls_reads_no_connection_of_an_unused_hook(config: Path) -> None:
    """A hook the task built but never used (the App hook of a load step) is counted without reading its
    connection, which the load task's machine need not have (the old operator read ``api_calls`` only)."""
    op = _op(config)
    unused = BrevoHook("no_such_connection", timeout=5)  # no rate given: its limiter would read the connection
    op.__dict__["app_hook"] = unused
    assert op.take_api_calls() == 0
    unused.api_calls = 3
    assert op.take_api_calls() == 3 and unused.api_calls == 0


def test_a_deferred_run_finishes_even_if_its_capability_was_switched_off_meanwhile(config: Path) -> None:
    """The switch decides whether a run starts; a run that already sent its imports commits them when it resumes
    (as the people operator did): a skip there would leave the processes and the checkpoint pending for good."""
    op = _op(config)
    config.write_text(config.read_text() + "    sync: {people: false}\n")
    event = {"status": "success", "processes": {"7": {"status": "completed"}}}
    assert op.execute_complete(ctx(op), event) == {"written": 2}
    assert op.calls == ["resume", ("complete", [("7", "succeeded")]), "finish", "close"]


def test_a_brevo_hook_made_for_a_task_spends_the_accounts_hourly_budget_in_the_store(
    config: Path, airflow_conn
) -> None:
    """``make_hook``: the Brevo hook takes its pool's share of the plan and spends "other endpoints" in the shared
    store, so a second task's hook sees the calls of the first."""
    from airflow_provider_customerio.hooks.ratelimit import SharedWindowLimiter
    from airflow_provider_customerio.pools import BREVO_POOL

    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"plan": "advanced"})
    first, second = _op(config, pool=BREVO_POOL), _op(config, pool=BREVO_POOL)
    hooks = []
    for op in (first, second):
        op._start(ctx(op))
        hooks.append(op.make_hook(BrevoHook, "brevo_default", None, BREVO_POOL))
    limiter = hooks[0].other_limiter
    assert isinstance(limiter, SharedWindowLimiter) and limiter.limit == 200
    assert hooks[0].rate_limiter.rate == 7.0  # 2 slots x 7 req/s + 6 side slots x 1 = Advanced's 20 req/s
    limiter.acquire()
    assert len(_store(config).request_budget().spent(limiter.account, window_s=3600, now=time.time())) == 1
    hooks[1].other_limiter.acquire()
    assert len(_store(config).request_budget().spent(limiter.account, window_s=3600, now=time.time())) == 2
    plain = BrevoHook("brevo_default")  # a hook outside a task keeps its own budget
    assert not isinstance(plain.other_limiter, SharedWindowLimiter)
