"""The provider on a multi-node Airflow: CeleryExecutor, two workers, each process with its own ``AIRFLOW_HOME``.

Every example DAG runs once on the cluster (reading tasks on worker A, writing tasks on worker B), signed webhooks go
to the api-server's receiver, and the writing worker is killed with SIGKILL twice AFTER Brevo applied its write,
while Brevo holds the answer (the sandbox's ``hold_answer`` fault): the people load inside its contact import, the
events forwarding inside its event batch. Each retry runs on the other worker. The end state must equal that of the
same plan run on one machine (one process, ``dag.test()``) against a second sandbox seeded alike: Brevo contacts
with their attributes, list members, each event exactly once, custom objects; Customer.io's people with their
attributes and counts; no import asked more often than on one machine; the sync store's sync state, rejected
records (record, reason), run summaries and campaign-metrics rows; and every import notified through the api-server.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.airflow_processes import wait_for
from tests.distributed import REPO_ROOT, scenario
from tests.distributed.cluster_settings.airflow_local_settings import queue_for
from tests.distributed.harness import READ_QUEUE, WEBHOOK_SIGNING_KEY

pytestmark = pytest.mark.distributed

PEOPLE_DAG = "customerio_people_to_brevo"
LOAD_TASK = "load_brevo_contacts"
EVENTS_DAG = "customerio_events_to_brevo"
FORWARD_TASK = "forward_events"
#: The writes during which a worker is killed: DAG -> (task, Brevo endpoint). Brevo applies the write, then holds
#: its answer HOLD_ANSWER_S seconds: the kill lands after the write landed, before the task heard of it.
KILLS = {PEOPLE_DAG: (LOAD_TASK, "/contacts/import"), EVENTS_DAG: (FORWARD_TASK, "/events/batch")}
HOLD_ANSWER_S = 20


def _parsed(api: Any) -> set[str]:
    expected = {p.stem for p in (REPO_ROOT / "dags").glob("*.py")}

    def all_parsed() -> set[str] | None:
        errors = api.api_ok("GET", "/api/v2/importErrors")["import_errors"]
        if errors:
            raise AssertionError(f"DAG import errors: {errors}")
        ids = {d["dag_id"] for d in api.api_ok("GET", "/api/v2/dags", params={"limit": 100})["dags"]}
        return ids if expected <= ids else None

    return wait_for(all_parsed, 240, "every example DAG parsed by the dag-processor")


def _task_error(cluster: Any, dag_id: str, run_id: str, ti: dict[str, Any]) -> str:
    """The error of a failed task, from its log in the home of the worker that ran it (each worker writes its
    own logs; they all have the same log-server port on a real network, which one host cannot give them)."""
    import json

    folder = cluster.work / "homes" / ti["hostname"] / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    folder = folder / f"task_id={ti['task_id']}"
    if ti["map_index"] >= 0:
        folder = folder / f"map_index={ti['map_index']}"
    path = folder / f"attempt={max(1, ti['try_number'])}.log"
    if not path.exists():
        return f"(no log at {path})"
    errors = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "critical"):
            detail = entry.get("error_detail")
            if isinstance(detail, list) and detail:
                errors.append(f"{detail[-1].get('exc_type')}: {detail[-1].get('exc_value')}")
            else:
                errors.append(str(entry.get("event")))
    return (errors[-1] if errors else "(no error in the log)")[:400]


def _trigger(api: Any, step: dict[str, Any]) -> str:
    body = api.api_ok(
        "POST",
        f"/api/v2/dags/{step['dag_id']}/dagRuns",
        json={"logical_date": step["logical_date"], "conf": step["conf"]},
    )
    return body["dag_run_id"]


def test_every_dag_on_two_workers_without_shared_disk_matches_one_machine(distributed):
    cluster, reference, plan = distributed.cluster, distributed.reference, distributed.plan
    api, info = cluster.api, cluster.sandbox
    dag_ids = _parsed(api)
    for dag_id in dag_ids:  # no scheduled runs appear: the scheduler ignores schedules here (use_job_schedule)
        api.unpause(dag_id)

    problems: list[str] = []
    runs: list[dict[str, Any]] = []
    kills: dict[str, dict[str, Any]] = {}
    webhooks: dict[str, Any] = {}
    for step in plan["steps"]:
        if "webhooks" in step:
            webhooks = scenario.send_webhooks(info, cluster.webhook_url, WEBHOOK_SIGNING_KEY, step["webhooks"])
            continue
        if "edit_brevo" in step:
            scenario.edit_in_brevo(info, step["edit_brevo"])
            continue
        dag_id = step["dag_id"]
        if dag_id in KILLS:
            cluster_control(info, "POST", "/faults", json=_held_answer_fault(KILLS[dag_id][1]))
        run_id = _trigger(api, step)
        if dag_id in KILLS:
            kills[dag_id] = _kill_worker_during_write(cluster, dag_id, run_id)
        state = api.wait_run(dag_id, run_id, timeout=600)
        tis = api.task_instances(dag_id, run_id)
        runs.append({"dag_id": dag_id, "run_id": run_id, "state": state, "tis": tis})
        print(f"cluster: {dag_id} {state}: " + ", ".join(f"{t['task_id']}={t['state']}@{t['hostname']}" for t in tis))
        for ti in tis:
            if ti["state"] in ("failed", "upstream_failed"):
                problems.append(
                    f"{dag_id}.{ti['task_id']} {ti['state']} (try {ti['try_number']} on {ti['hostname']}): "
                    f"{_task_error(cluster, dag_id, run_id, ti) if ti['state'] == 'failed' else ''}"
                )
        if kills.get(dag_id, {}).get("killed"):
            _replace_worker(cluster, kills[dag_id])

    # ---- the webhooks were acknowledged by the api-server's receiver
    statuses = {kind: dict(by) for kind, by in (webhooks.get("counts") or {}).items()}
    assert webhooks.get("unexpected") == [], f"the api-server's receiver answered wrongly: {webhooks}"
    print(f"webhooks: {statuses}")

    # ---- every task ran where the cluster policy sent it: readers on worker A, writers on worker B
    for run in runs:
        for ti in run["tis"]:
            if ti["state"] in (None, "skipped", "removed", "upstream_failed") or not ti.get("hostname"):
                continue
            want = "worker-a" if queue_for(ti["task_id"]) == READ_QUEUE else "worker-b"
            kill = kills.get(run["dag_id"], {})
            if kill.get("killed") and ti["task_id"] == KILLS[run["dag_id"]][0]:
                want = kill["survivor"]  # the retry after the kill
            if not ti["hostname"].startswith(want):
                problems.append(f"{run['dag_id']}.{ti['task_id']} ran on {ti['hostname']}, not on {want}")

    # ---- the kills: a worker died after Brevo applied its write; the retry ran on the other worker and succeeded
    problems += _kills_ended_well(runs, kills)

    # ---- Brevo called the api-server when each import ended; the waits (workers, triggerer) read those notices
    # from the shared store instead of polling: at most one GET /processes/{id} per import, to read its outcome.
    imports = [p for p in scenario.brevo_processes(info) if p["sandbox"]["kind"] == "import"]
    notified = scenario.notices_received(cluster.store_url, [p["id"] for p in imports])
    polled_more = {p["id"]: p["sandbox"]["polls"] for p in imports if p["sandbox"]["polls"] > 1}
    print(
        f"imports: {len(imports)}, notified through the api-server: {len(notified)}, "
        f"polled more than once: {polled_more}"
    )
    unnotified = sorted({p["id"] for p in imports} - set(notified))
    if not imports or unnotified:
        problems.append(f"imports not notified through the api-server: {unnotified} (of {len(imports)} imports)")
    if polled_more:
        problems.append(f"imports polled instead of waiting for their notice: {polled_more}")

    # ---- the same end state as one machine
    ref = reference.wait(timeout=600)
    ref_failed = [r for r in ref["runs"] if r["state"] != "success"]
    assert not ref_failed, f"the single-machine reference run itself failed: {ref_failed}"
    got = scenario.end_state(info, cluster.store_url)
    want = scenario.end_state(reference.info, reference.store_url)
    print(
        "end state: "
        + ", ".join(f"{k}={len(v) if isinstance(v, (dict, list)) else v}" for k, v in got.items())
        + " | single machine: "
        + ", ".join(f"{k}={len(v) if isinstance(v, (dict, list)) else v}" for k, v in want.items())
    )
    # the reference itself synced something of each kind (else the comparison proves nothing)
    assert want["brevo_contacts"] and want["brevo_events"] and want["brevo_objects"], want.keys()
    metrics = want["metrics_rows"]
    if not (isinstance(metrics, dict) and any(metrics.values())):
        problems.append(f"the single-machine run has no campaign-metrics rows in its sync store: {metrics}")
    problems += scenario.differences(got, want)
    duplicated = scenario.duplicated_events(got)
    if duplicated:
        problems.append(f"{len(duplicated)} events reached Brevo more than once, e.g. {next(iter(duplicated))}")
    asked, asked_once = scenario.import_digests(info), scenario.import_digests(reference.info)
    held = cluster_control(info, "GET", "/requests", params={"vendor": "brevo"})["requests"]
    held = [f"{r.get('method')} {r.get('path')} -> {r.get('applied_status')}" for r in held if r.get("fault")]
    print(f"writes whose answer was held: {held}; times each import was asked: {sorted(asked.values())}")
    twice = {d[:12]: n for d, n in asked.items() if n > asked_once.get(d, 0)}
    if twice:
        problems.append(f"imports applied more often than on one machine (digest: times): {twice}")
    assert not problems, "the cluster run differs from one machine:\n- " + "\n- ".join(problems)


# ------------------------------------------------------------------------------------------------ the kill
def cluster_control(info: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    import requests

    resp = requests.request(method, f"{info['control_url']}{path}", timeout=60, **kwargs)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def _held_answer_fault(path: str) -> dict[str, Any]:
    return {
        "vendor": "brevo",
        "kind": "hold_answer",
        "count": 1,
        "delay_s": HOLD_ANSWER_S,
        "path_contains": path,
        "method": "POST",
    }


def _kill_worker_during_write(cluster: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """Wait until Brevo applied the task's held write (an import, an event batch) and holds its answer, then SIGKILL
    the worker running the task (worker B, by the cluster policy) and let the other worker consume the dead one's
    queue too. Returns what happened: ``killed`` with ``victim``, ``survivor``, ``queue``, or ``why`` not."""
    api, info = cluster.api, cluster.sandbox
    task_id = KILLS[dag_id][0]
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"

    def applied_or_over() -> dict[str, Any] | None:
        rules = cluster_control(info, "GET", "/faults")["faults"]
        if any(r["kind"] == "hold_answer" and r["applied"] for r in rules):
            return {"applied": True}
        ti = api.api_ok("GET", path)
        if ti["state"] in ("failed", "up_for_retry", "success", "deferred", "upstream_failed"):
            return {"applied": False, "state": ti["state"], "try_number": ti["try_number"]}
        return None

    seen = wait_for(applied_or_over, 300, f"{task_id}'s write applied by Brevo, its answer held")
    cluster_control(info, "DELETE", "/faults")  # the held answer still comes late: the rule already fired
    if not seen["applied"]:
        return {"killed": False, "why": f"Brevo never applied {task_id}'s write (the task was {seen['state']} first)"}
    ti = api.api_ok("GET", path)
    victim = ti["hostname"]
    survivor = "worker-a" if victim.startswith("worker-b") else "worker-b"
    tasks_killed = cluster.kill_worker(victim)
    assert tasks_killed, f"killing {victim} reached no task process (they run in process groups of their own)"
    cluster.take_over_queue(survivor, ti["queue"])
    print(
        f"killed {victim} (SIGKILL) during {task_id} try {ti['try_number']} after Brevo applied its write; "
        f"{survivor} took queue {ti['queue']}"
    )
    return {
        "killed": True,
        "task_id": task_id,
        "try_number": ti["try_number"],
        "victim": victim,
        "survivor": survivor,
        "queue": ti["queue"],
    }


def _kills_ended_well(runs: list[dict[str, Any]], kills: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for dag_id, (task_id, endpoint) in KILLS.items():
        kill = kills.get(dag_id, {})
        ti = next((t for r in runs if r["dag_id"] == dag_id for t in r["tis"] if t["task_id"] == task_id), None)
        if not kill.get("killed"):
            problems.append(f"no worker was killed during {task_id}'s {endpoint}: {kill.get('why')}")
        elif ti is not None and not (
            ti["state"] == "success" and ti["try_number"] > kill["try_number"] and ti["hostname"] == kill["survivor"]
        ):
            problems.append(
                f"{task_id} killed on {kill['victim']} (try {kill['try_number']}) did not end well on "
                f"{kill['survivor']}: state {ti['state']}, try {ti['try_number']}, host {ti['hostname']}"
            )
    return problems


def _replace_worker(cluster: Any, kill: dict[str, Any]) -> None:
    """A replacement for the killed worker (a fresh machine: new home, same queue), then the survivor gives the
    queue back, so the later DAGs run split across two workers again."""
    name = f"{kill['victim']}2"
    cluster.add_worker(name, kill["queue"]).start()
    cluster.wait_worker_ready(name)
    cluster.hand_back_queue(kill["survivor"], kill["queue"])
