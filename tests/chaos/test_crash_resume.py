"""Crash and resume: SIGKILL a sync task's process mid-run, re-run it, and check the final state.

The task runs in a child process (the real operator, real HTTP to the sandbox in this process). Covered: event
forwarding, people Customer.io -> Brevo, people Brevo -> Customer.io (reverse), segment -> list mirroring and
objects. Each writes in several small calls here (small batch bounds), so the kill lands mid-run. The sandbox slows
the write calls down (a ``slow`` fault, so the run lasts long enough to be interrupted), the test polls the
sandbox request log until a checkpoint is observable (N writes accepted), then SIGKILLs the child: no timer
decides when. The task is then run again, as Airflow's retry would, and the outcome is compared with a run that
was never interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.operators import reverse as reverse_op
from airflow_provider_customerio.operators import segments as segments_op
from airflow_provider_customerio.store.ledger import read_ledger
from tests.chaos.conftest import brevo_contacts, cio_people, diff, next_run, sandbox_sleep, slow_world_on
from tests.chaos.test_chaos_people import _forward, _prepare, _prepare_reverse, _rejects, _reverse
from tests.chaos.test_chaos_segments_objects import LIST, SEGMENT, _objects_world, _records, _segments_world
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


def _kill_when(proc: subprocess.Popen[str], sb: Any, path: str, accepted: int, vendor: str = "brevo") -> int:
    """Poll the sandbox log until ``accepted`` successful POSTs to ``path`` are logged, then SIGKILL the child.
    Returns how many were accepted when the kill was sent."""
    while True:
        done = [
            r
            for r in sb.requests(vendor=vendor, path_contains=path)
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


def _ledger(workdir: Path) -> dict[str, str]:
    """Every rejected record of a world's sync store (segments use store.db, objects state.db)."""
    out: dict[str, str] = {}
    for p in (workdir / "store.db", workdir / "state.db"):
        if p.exists():
            out.update({line["record_id"]: line["reason"] for line in read_ledger(p)})
    return out


def _small_batches(cls: type) -> type:
    """The reverse sync with 3 KB Track batches (so a run makes several)."""

    class Small(cls):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("batch_budget_bytes", 3000)
            super().__init__(*args, **kwargs)

    return Small


def test_killed_reverse_sync_resumes_to_the_same_state(sandbox, monkeypatch, tmp_path):
    from datetime import date, timedelta

    since = (date.today() - timedelta(days=3)).isoformat()
    monkeypatch.setattr(reverse_op, "ReverseSync", _small_batches(reverse_op.ReverseSync))  # several Track batches
    cfg = _prepare_reverse(sandbox, monkeypatch, tmp_path / "ref")
    _reverse(cfg, "manual__1", since)
    ref_people = cio_people(sandbox)
    batches = len([r for r in sandbox.requests(vendor="track", path_contains="/api/v2/batch") if r["method"] == "POST"])
    assert batches >= 5, batches

    cfg = _prepare_reverse(sandbox, monkeypatch, tmp_path / "crash")
    slow_world_on(sandbox)  # background processes and read lag, as in the chaos tier
    sandbox.faults(vendor="track", kind="slow", rate=1.0, delay_s=0.1, path_contains="/api/v2/batch")
    proc = _start_child(f"""
        from airflow_provider_customerio.operators import reverse as reverse_op
        from tests.chaos.test_crash_resume import _small_batches
        reverse_op.ReverseSync = _small_batches(reverse_op.ReverseSync)
        op = reverse_op.BrevoToCustomerIOPeopleOperator(
            task_id="reverse", config_path={str(cfg)!r}, since={since!r}, mode="incremental",
            brevo_hook_params={{"rate_limit": 0}}, customerio_track_hook_params={{"rate_limit": 0}},
            customerio_app_hook_params={{"rate_limit": 0}})
        op.execute({{"run_id": "manual__1"}})
        print("FINISHED")
    """)
    accepted = _kill_when(proc, sandbox, "/api/v2/batch", 2, vendor="track")
    assert proc.returncode == -signal.SIGKILL
    sandbox.clear_faults()
    assert accepted < batches and len(cio_people(sandbox)) < len(ref_people)  # killed mid-run

    next_run(sandbox)
    _reverse(cfg, "manual__1", since)  # Airflow's retry of the killed try
    assert cio_people(sandbox) == ref_people, diff(ref_people, cio_people(sandbox))


def test_killed_segment_mirror_resumes_to_the_same_state(sandbox, monkeypatch, tmp_path):
    small = functools.partial(segments_op.SegmentMirror, import_max_bytes=2000)  # several imports
    monkeypatch.setattr(segments_op, "SegmentMirror", small)
    ref = _segments_world(sandbox, monkeypatch, tmp_path / "ref")
    ref.run(SEGMENT, LIST)
    ref_list, ref_ledger = ref.list_keys(LIST), _ledger(tmp_path / "ref")
    imports = len([r for r in sandbox.requests(vendor="brevo", path_contains="/contacts/import") if r["status"]])
    assert imports >= 5 and len(ref_list) > 50, (imports, len(ref_list))

    world = _segments_world(sandbox, monkeypatch, tmp_path / "crash")
    brevo = json.loads(sandbox.info["airflow_conn_env"]["AIRFLOW_CONN_BREVO_DEFAULT"])
    brevo["extra"] = {"other_requests_per_hour": 0}  # background processes take more polls: no /processes throttle
    monkeypatch.setenv("AIRFLOW_CONN_BREVO_DEFAULT", json.dumps(brevo))
    slow_world_on(sandbox)  # background processes and read lag, as in the chaos tier
    sandbox.faults(vendor="brevo", kind="slow", rate=1.0, delay_s=0.1, path_contains="/contacts/import")
    proc = _start_child(f"""
        import functools
        from airflow_provider_customerio.operators import segments as segments_op
        segments_op.SegmentMirror = functools.partial(segments_op.SegmentMirror, import_max_bytes=2000)
        op = segments_op.CustomerIOSegmentToBrevoListOperator(
            task_id="mirror", segment_id={SEGMENT}, list_id={LIST}, state_path={str(tmp_path / "crash" / "store.db")!r},
            import_check_interval=0.01, customerio_app_hook_params={{"rate_limit": 0}},
            brevo_hook_params={{"rate_limit": 0}})
        op.execute(context={{}})
        print("FINISHED")
    """)
    _kill_when(proc, sandbox, "/contacts/import", 2)
    assert proc.returncode == -signal.SIGKILL
    sandbox.clear_faults()
    sandbox._call("POST", "/brevo/processes/complete")  # what Brevo accepted finishes without the killed client
    next_run(sandbox)  # (and the lagging list reads catch up)
    assert 0 < len(world.list_keys(LIST)) < len(ref_list)

    monkeypatch.setattr(segments_op, "SegmentMirror", functools.partial(small, sleep=sandbox_sleep(sandbox)))
    out = world.run(SEGMENT, LIST)  # the retry
    next_run(sandbox)  # the lagging list reads catch up
    assert world.list_keys(LIST) == ref_list, (out, _ledger(tmp_path / "crash"))
    assert _ledger(tmp_path / "crash") == ref_ledger  # every reject ledgered, as in the clean run


def test_killed_objects_sync_resumes_to_the_same_state(sandbox, monkeypatch, tmp_path):
    ref, rels = _objects_world(sandbox, monkeypatch, tmp_path / "ref")
    ref.run(max_bytes=800)
    ref_records = _records(ref)
    upserts = len(ref.upserts())
    assert set(ref_records) == set(rels) and upserts >= 4, upserts

    world, _ = _objects_world(sandbox, monkeypatch, tmp_path / "crash")
    slow_world_on(sandbox)  # background processes and read lag, as in the chaos tier
    sandbox.faults(vendor="brevo", kind="slow", rate=1.0, delay_s=0.1, path_contains="/batch/upsert")
    crash = tmp_path / "crash"
    proc = _start_child(f"""
        from airflow_provider_customerio.operators.objects import CustomerIOObjectsToBrevoOperator
        op = CustomerIOObjectsToBrevoOperator(
            task_id="sync_objects", state_path={str(crash / "state.db")!r},
            poll_interval=0.01, app_hook_params={{"rate_limit": 0}}, brevo_hook_params={{"rate_limit": 0}},
            max_bytes=800)
        op.execute(context={{"run_id": "run1"}})
        print("FINISHED")
    """)
    _kill_when(proc, sandbox, "/batch/upsert", 2)
    assert proc.returncode == -signal.SIGKILL
    sandbox.clear_faults()
    sandbox._call("POST", "/brevo/processes/complete")
    assert 0 < len(world.records()) < len(ref_records)

    next_run(sandbox)
    world.runs = 0
    world.run(max_bytes=800)  # the retry of run1
    assert _records(world) == ref_records, diff(ref_records, _records(world))
