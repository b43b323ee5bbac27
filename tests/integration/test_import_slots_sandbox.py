"""One Brevo import in flight per account, across tasks sharing one sync store, against the sandbox.

Brevo: "Do not import multiple files at the same time. Wait for your current import to finish before starting a
new one." The sandbox's process timeline (``GET /_sandbox/brevo/processes/{id}``: ``created_at`` when the import was
submitted, ``completed_at`` when it ended) shows whether a task sent an import while another was still in flight.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.store.sync_store import SyncStore

pytestmark = pytest.mark.integration
EXAMPLE_CONFIG = Path(__file__).parents[2] / "dags" / "customerio_config.yaml"
SEED_NOW = 1_795_910_400
FAST = {"rate_limit": 50.0}


@pytest.fixture
def env(sandbox, monkeypatch, tmp_path):
    sandbox.seed(people=250, seed=11, now=SEED_NOW)
    sandbox.set_airflow_env(monkeypatch)
    text = EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db")
    text = text.replace("import_batch_bytes: 4000000", "import_batch_bytes: 30000")  # several imports per sync
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(text)
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    return SimpleNamespace(sandbox=sandbox, store=tmp_path / "state.db")


def operator(sync_name: str, run_id: str, **kw: Any) -> tuple[CustomerIOToBrevoPeopleOperator, dict[str, Any]]:
    op = CustomerIOToBrevoPeopleOperator(
        task_id=f"sync_{sync_name}",
        mode="full",
        sync_name=sync_name,
        poll_interval=0.05,
        export_check_interval=0.05,
        customerio_app_hook_params=FAST,
        brevo_hook_params=FAST,
        **kw,
    )
    return op, {"ti": SimpleNamespace(dag_id="slots_it"), "run_id": run_id}


def timeline(sandbox) -> list[dict[str, Any]]:
    """The account's imports in submission order: id, submitted and ended (ISO ms strings sort as times)."""
    out = []
    for pid in range(1, 1000):
        resp = sandbox.http.get(f"{sandbox.control_url}/brevo/processes/{pid}")
        if resp.status_code == 404:
            break
        body = resp.json()
        if body["name"] == "IMPORTUSER":
            out.append({"id": pid, "submitted": body["created_at"], "ended": body.get("completed_at")})
    return out


def contacts(sandbox) -> int:
    return int(sandbox.http.get(f"{sandbox.control_url}/brevo/contacts").json()["count"])


def assert_never_overlapped(imports: list[dict[str, Any]]) -> None:
    for before, after in zip(imports, imports[1:]):
        assert before["ended"] is not None and after["submitted"] >= before["ended"], (
            f"import {after['id']} was submitted at {after['submitted']} while import {before['id']} was still "
            f"in flight (it ended at {before['ended']}): {imports}"
        )


def test_two_concurrent_syncs_sharing_one_store_never_have_two_imports_in_flight(env):
    # Both extract first (sequentially), so each has all 250 people staged; then both load at once.
    for name in ("people_a", "people_b"):
        op, ctx = operator(name, f"run_{name}", step="extract")
        op.execute(ctx)
    results: dict[str, Any] = {}

    def load(name: str) -> None:
        op, ctx = operator(name, f"run_{name}", step="load", deferrable=False)
        try:
            results[name] = op.execute(ctx)
        except BaseException as exc:  # reported below
            results[name] = exc

    threads = [threading.Thread(target=load, args=(n,)) for n in ("people_a", "people_b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert all(isinstance(r, dict) for r in results.values()), results
    assert results["people_a"]["imports"] >= 2 and results["people_b"]["imports"] >= 2
    imports = timeline(env.sandbox)
    assert len(imports) == results["people_a"]["imports"] + results["people_b"]["imports"]
    assert_never_overlapped(imports)
    assert SyncStore.at(env.store).import_slots().in_flight(_account(), now=time.time()) == []


def _account() -> str:
    from airflow_provider_customerio.hooks.brevo import BrevoHook

    return BrevoHook().import_slot_account


def test_a_killed_holders_slot_lapses_and_the_sync_goes_on(env):
    op, ctx = operator("people", "after_the_kill", step="extract")
    op.execute(ctx)
    dead = SyncStore.at(env.store).import_slots()
    now = time.time()
    assert dead.take(_account(), "run of a task killed mid-import", limit=1, ttl=2.0, now=now) == 0
    dead.bind(_account(), 0, "run of a task killed mid-import", "4242", ttl=2.0, now=now)  # never renewed again
    op, ctx = operator("people", "after_the_kill", step="load", deferrable=False)
    out = op.execute(ctx)
    assert out["created"] == contacts(env.sandbox) > 200 and out["imports"] >= 2
    first = datetime.fromisoformat(timeline(env.sandbox)[0]["submitted"].replace("Z", "+00:00")).timestamp()
    assert first >= now + 2.0  # the first import waited for the dead holder's slot to lapse, then went on


def test_a_killed_task_resumes_with_its_pending_import_and_does_not_wait_for_its_own_slot(env):
    op, ctx = operator("people", "killed", deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(ctx)  # import 1 sent, its slot held; then the task dies (the trigger never runs)
    retry, ctx = operator("people", "killed", deferrable=False)  # the retry, on any machine
    started = time.monotonic()
    out = retry.execute(ctx)
    assert out["created"] == contacts(env.sandbox) > 200 and out["imports"] >= 2
    assert time.monotonic() - started < 600  # it did not wait for its own slot to lapse (the TTL)
    imports = timeline(env.sandbox)
    assert len(imports) == out["imports"]  # import 1 was re-found and waited for, not sent again
    assert_never_overlapped(imports)
