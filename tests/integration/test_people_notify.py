"""People sync with Brevo's notifyUrl: the imports end with a notice, not with polls (real HTTP everywhere).

The Brevo connection gets the extra ``notify_url``, pointing at the provider's notice route served on 127.0.0.1
over the same sync store as the task; the sandbox calls it when each import ends, as Brevo does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.webhooks.brevo_notify import create_notify_app
from tests.serve import ThreadedServer

pytestmark = pytest.mark.integration

EXAMPLE_CONFIG = Path(__file__).parents[2] / "dags" / "customerio_config.yaml"
SEED_NOW = 1_795_910_400
FAST = {"rate_limit": 50.0}


@pytest.fixture
def env(sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SimpleNamespace]:
    sandbox.seed(people=120, seed=5, now=SEED_NOW)
    sandbox.settings(export_polls=1)
    # Poll-driven processes would end only when polled: a notified import must end on its own.
    sandbox.http.post(f"{sandbox.control_url}/brevo/processes/settings", json={"polls_to_complete": 50})
    sandbox.set_airflow_env(monkeypatch)
    state_db = tmp_path / "state.db"
    text = EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {state_db}")
    # small import bodies: several imports, each with its own notice
    text = text.replace("import_batch_bytes: 4000000", "import_batch_bytes: 10000")
    assert "import_batch_bytes: 10000" in text
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(text)
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    server = ThreadedServer(create_notify_app(lambda: SyncStore.at(state_db))).start()
    brevo = json.loads(sandbox.info["airflow_conn_env"]["AIRFLOW_CONN_BREVO_DEFAULT"])
    brevo.setdefault("extra", {})
    brevo["extra"] = {**brevo["extra"], "notify_url": server.base_url, "notify_deadline": 600}
    monkeypatch.setenv("AIRFLOW_CONN_BREVO_DEFAULT", json.dumps(brevo))
    sandbox.clear_requests()
    yield SimpleNamespace(sandbox=sandbox, state_db=state_db)
    server.stop()


def _operator(run_id: str, deferrable: bool) -> tuple[CustomerIOToBrevoPeopleOperator, dict[str, Any]]:
    op = CustomerIOToBrevoPeopleOperator(
        task_id="sync_people",
        mode="full",
        deferrable=deferrable,
        poll_interval=0.05,
        export_check_interval=0.05,
        customerio_app_hook_params=FAST,
        brevo_hook_params=FAST,
    )
    return op, {"ti": SimpleNamespace(dag_id="people_notify"), "run_id": run_id}


def _imports_and_polls(sandbox: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    log = sandbox.requests(vendor="brevo")
    imports = [r for r in log if r["method"] == "POST" and r["path"].endswith("/contacts/import")]
    polls = [r for r in log if r["method"] == "GET" and "/processes/" in r["path"]]
    return imports, polls


def _contacts(sandbox: Any) -> int:
    return len(sandbox.http.get(f"{sandbox.control_url}/brevo/contacts").json()["contacts"])


def test_blocking_sync_waits_on_notices_and_polls_each_import_once(env: SimpleNamespace) -> None:
    op, ctx = _operator("blocking", deferrable=False)
    out = op.execute(ctx)
    imports, polls = _imports_and_polls(env.sandbox)
    assert len(imports) >= 2 and out["created"] == _contacts(env.sandbox) > 0
    # one GET /processes/{id} per import, to read the outcome its notice announced (polling would need many)
    assert len(polls) == len(imports)
    received = SyncStore.at(env.state_db).notices().received(range(1, 10_000))
    assert len(received) >= len(imports)


def test_deferred_wait_reads_the_notices_in_the_triggerer(env: SimpleNamespace) -> None:
    op, ctx = _operator("deferred", deferrable=True)
    with pytest.raises(TaskDeferred) as ei:
        op.execute(ctx)
    trigger = ei.value.trigger
    classpath, kwargs = trigger.serialize()
    assert kwargs["notify"] is True and kwargs["store_path"] == str(env.state_db)
    assert json.loads(json.dumps(kwargs)) == kwargs

    async def first_event(kwargs: dict[str, Any]) -> dict[str, Any]:
        async for ev in type(trigger)(**kwargs).run():  # as the triggerer does, from the serialized form
            return dict(ev.payload)
        raise AssertionError("no event")

    # One import in flight per account: each deferral waits for one import, read from its notice.
    method, waited = ei.value.method_name, 0
    while True:
        event = asyncio.run(first_event(kwargs))
        assert event["status"] == "success", event
        waited += len(event["processes"])
        imports, polls = _imports_and_polls(env.sandbox)
        assert len(polls) == len(imports) == waited  # one poll per import, after its notice
        try:
            out = getattr(op, method)(ctx, event)
            break
        except TaskDeferred as again:
            method, kwargs = again.method_name, again.trigger.serialize()[1]
    assert out["created"] == _contacts(env.sandbox) > 0 and out["imports"] == waited


def test_without_a_notice_the_wait_falls_back_to_polling(env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    brevo = json.loads(env.sandbox.info["airflow_conn_env"]["AIRFLOW_CONN_BREVO_DEFAULT"])
    # a notify URL nobody serves: the notices never arrive, the deadline passes, polling takes over
    brevo["extra"] = {**(brevo.get("extra") or {}), "notify_url": "http://127.0.0.1:9", "notify_deadline": 1}
    monkeypatch.setenv("AIRFLOW_CONN_BREVO_DEFAULT", json.dumps(brevo))
    op, ctx = _operator("fallback", deferrable=False)
    out = op.execute(ctx)
    assert out["created"] == _contacts(env.sandbox) > 0
    imports, polls = _imports_and_polls(env.sandbox)
    assert imports and polls


def test_a_retry_adopts_the_import_its_killed_try_sent_instead_of_sending_it_again(env: SimpleNamespace) -> None:
    import os
    import subprocess
    import sys
    import textwrap

    from tests.airflow_processes import wait_for

    sandbox = env.sandbox
    # Brevo applies the first import, then holds its answer: the try is killed in between
    sandbox.faults(vendor="brevo", kind="hold_answer", count=1, delay_s=60, path_contains="/contacts/import")
    script = textwrap.dedent("""
        from types import SimpleNamespace
        from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
        fast = {"rate_limit": 50.0}
        op = CustomerIOToBrevoPeopleOperator(task_id="sync_people", mode="full", deferrable=False, poll_interval=0.05,
                                             export_check_interval=0.05, customerio_app_hook_params=fast,
                                             brevo_hook_params=fast)
        op.execute({"ti": SimpleNamespace(dag_id="people_notify"), "run_id": "killed"})
    """)
    repo = Path(__file__).parents[2]
    child = subprocess.Popen([sys.executable, "-c", script], cwd=repo, env=dict(os.environ))
    try:
        applied = lambda: sandbox._call("GET", "/faults")["faults"][0]["applied"] or child.poll() is not None
        wait_for(applied, 120, "an import applied by Brevo, its answer held")
        assert child.poll() is None, "the try ended before Brevo held an answer"
        child.kill()  # after Brevo applied the import, before the try heard of it
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    sandbox.clear_faults()
    op, ctx = _operator("killed", deferrable=False)  # Airflow's retry of the killed try
    out = op.execute(ctx)
    assert out["created"] == _contacts(sandbox) > 0
    processes = []
    for pid in range(1, 10_000):
        resp = sandbox.http.get(f"{sandbox.control_url}/brevo/processes/{pid}")
        if resp.status_code == 404:
            break
        processes.append(resp.json())
    digests = [p["sandbox"]["digest"] for p in processes if p["sandbox"]["kind"] == "import"]
    assert len(digests) >= 2 and len(set(digests)) == len(digests), "an import was applied twice"
    received = SyncStore.at(env.state_db).notices().received(range(1, 10_000))
    assert set(received) == {p["id"] for p in processes}  # the killed try's import too: adopted, bound
