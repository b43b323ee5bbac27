"""The single-machine reference of the distributed test: the same plan (``scenario.plan``) in ONE process with ONE
``AIRFLOW_HOME``, every DAG run with ``dag.test()`` and the webhook receiver served from this process.

Run by the test as ``python -m tests.distributed.reference_run PLAN_JSON SANDBOX_INFO_JSON RESULT_JSON`` with the
reference's Airflow environment (home, metadata DB, connections); writes ``{"runs": [...], "webhooks": ...}``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.distributed import REPO_ROOT, scenario
from tests.distributed.harness import WEBHOOK_SIGNING_KEY
from tests.serve import ThreadedServer


def run_dag(dag_id: str, logical_date: str, conf: dict[str, Any]) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    run = bag.dags[dag_id].test(logical_date=datetime.fromisoformat(logical_date), run_conf=conf or None)
    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        tasks = {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in tis}
    return {"dag_id": dag_id, "state": str(run.state), "tasks": tasks}


def main(plan_path: str, info_path: str, result_path: str) -> int:
    from fastapi import FastAPI

    from airflow_provider_customerio.webhooks.plugin import URL_PREFIX, build_app

    the_plan = json.loads(Path(plan_path).read_text())
    info = json.loads(Path(info_path).read_text())
    root = FastAPI()
    root.mount(URL_PREFIX, build_app())
    receiver = ThreadedServer(root).start()
    result: dict[str, Any] = {"runs": []}
    try:
        for step in the_plan["steps"]:
            if "webhooks" in step:
                url = f"{receiver.base_url}{URL_PREFIX}/webhooks"
                result["webhooks"] = scenario.send_webhooks(info, url, WEBHOOK_SIGNING_KEY, step["webhooks"])
            elif "edit_brevo" in step:
                result["edited"] = scenario.edit_in_brevo(info, step["edit_brevo"])
            else:
                result["runs"].append(run_dag(step["dag_id"], step["logical_date"], step["conf"]))
                print(f"reference: {result['runs'][-1]}", flush=True)
    finally:
        receiver.stop()
        Path(result_path).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
