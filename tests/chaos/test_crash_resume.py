"""Crash and resume: SIGKILL a sync task's process mid-run, re-run it, and check the final state.

The task runs in a child process (the real operator, real HTTP to the sandbox in this process). The sandbox slows
the write calls down (a ``slow`` fault, so the run lasts long enough to be interrupted), the test polls the
sandbox request log until a checkpoint is observable (N writes accepted), then SIGKILLs the child: no timer
decides when. The task is then run again, as Airflow's retry would, and the outcome is compared with a run that
was never interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import brevo_contacts, diff
from tests.chaos.test_chaos_people import _forward, _prepare, _rejects
from tests.conftest import REPO_ROOT
from tests.integration import test_events_forwarding as events_it

pytestmark = pytest.mark.integration
brevo_get_events = events_it.brevo_get_events  # fixture


def _start_child(script: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=dict(os.environ),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(proc: subprocess.Popen[str], sb: Any, path: str, accepted: int) -> int:
    """Poll the sandbox log until ``accepted`` successful POSTs to ``path`` are logged, then SIGKILL the child.
    Returns how many were accepted when the kill was sent."""
    while True:
        done = [
            r
            for r in sb.requests(vendor="brevo", path_contains=path)
            if r["method"] == "POST" and r["status"] and 200 <= r["status"] < 300
        ]
        if len(done) >= accepted:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            return len(done)
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the child ended before the checkpoint (rc {proc.returncode}):\n{err[-3000:]}")
        try:
            proc.wait(timeout=0.05)  # an event wait on the child, not a sleep: returns as soon as it exits
        except subprocess.TimeoutExpired:
            pass


@pytest.mark.parametrize("kill_after_batches", [1, 4])
def test_killed_event_forwarding_resumes_without_duplicates(
    sandbox, monkeypatch, airflow_conn, brevo_get_events, tmp_path, kill_after_batches
):
    sandbox.reset()
    world = events_it.World(sandbox, tmp_path, monkeypatch, airflow_conn)
    sandbox.ratelimits(enabled=False)
    events = world.add_webhooks(1400, seed=4)  # 7 batches of 200
    sandbox.faults(vendor="brevo", kind="slow", rate=1.0, delay_s=0.15, path_contains="/events/batch")
    proc = _start_child(f"""
        from types import SimpleNamespace
        from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator
        op = CustomerIOEventsToBrevoOperator(task_id="forward_events", state_path={str(world.store_path)!r},
                                             include_activities=False, reconcile_grace_seconds=0)
        op.execute(context={{"dag_run": SimpleNamespace(dag_id="customerio_events_to_brevo", run_id="run1")}})
        print("FINISHED")
    """)
    accepted = _kill_when(proc, sandbox, "/events/batch", kill_after_batches)
    assert proc.returncode == -signal.SIGKILL
    sandbox.clear_faults()
    held = world.brevo_ids()
    assert 0 < sum(held.values()) < 1400 and max(held.values()) == 1, (accepted, len(held))

    world.forward(include_activities=False)  # the retry, same run
    held = world.brevo_ids()
    assert set(held) == set(events) and max(held.values()) == 1  # Brevo holds each event exactly once
    s = world.store()
    try:
        counts = s.counts()
    finally:
        s.dispose()
    assert counts.get("pending", 0) == counts.get("in_flight", 0) == 0, counts


def test_killed_people_sync_resumes_to_the_same_state(sandbox, monkeypatch, tmp_path):
    # the reference: never interrupted
    _prepare(sandbox, monkeypatch, tmp_path / "ref")
    small = lambda p: p.write_text(p.read_text().replace("import_batch_bytes: 4000000", "import_batch_bytes: 10000"))
    small(Path(os.environ["CUSTOMERIO_PROVIDER_CONFIG"]))
    ref_first = _forward("r1")
    ref_last = _forward("r2")
    assert ref_first["imports"] >= 5, ref_first  # several imports, so a kill after 3 is mid-run
    ref_contacts, ref_rejects = brevo_contacts(sandbox), _rejects(ref_last)

    workdir = _prepare(sandbox, monkeypatch, tmp_path / "crash")
    small(Path(os.environ["CUSTOMERIO_PROVIDER_CONFIG"]))
    sandbox.faults(vendor="brevo", kind="slow", rate=1.0, delay_s=0.1, path_contains="/contacts/import")
    proc = _start_child("""
        from types import SimpleNamespace
        from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
        op = CustomerIOToBrevoPeopleOperator(task_id="sync_people", mode="full", deferrable=False, poll_interval=0.01,
                                             export_check_interval=0.01, customerio_app_hook_params={"rate_limit": 0},
                                             brevo_hook_params={"rate_limit": 0})
        op.execute({"ti": SimpleNamespace(dag_id="people_chaos"), "run_id": "r1"})
        print("FINISHED")
    """)
    imports_before_kill = _kill_when(proc, sandbox, "/contacts/import", 3)
    assert proc.returncode == -signal.SIGKILL
    sandbox.clear_faults()
    assert imports_before_kill < ref_first["imports"]  # killed with imports still to submit
    # (accepted imports complete when polled: the killed child never polled them, Brevo may hold fewer contacts)
    assert len(brevo_contacts(sandbox)) < len(ref_contacts)

    _forward("r1")  # Airflow's retry of the killed try
    last = _forward("r2")
    assert brevo_contacts(sandbox) == ref_contacts, diff(ref_contacts, brevo_contacts(sandbox))
    assert _rejects(last) == ref_rejects
    assert (workdir / "state.db").exists()
