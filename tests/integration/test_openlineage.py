"""OpenLineage: with the OpenLineage provider installed (the test extra) and its file transport, a real run of the
people DAG (``dag.test()`` against the sandbox, in a child process) emits COMPLETE events whose inputs and outputs
are the vendor URIs of the task's Assets, with the rows written and the mapped attributes' schema. Without the
provider the package imports and the method answers ``None``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.integration.conftest import dag_test_in_child

EXAMPLE_CONFIG = REPO_ROOT / "dags" / "customerio_config.yaml"


def test_imports_and_answers_none_without_the_openlineage_provider():
    code = """
import sys
# as if the provider and its client were not installed (its registry entry still loads: discovery imports it)
for name in ("airflow.providers.openlineage.extractors", "openlineage", "openlineage.client"):
    sys.modules[name] = None
from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator
op = CustomerIOToBrevoPeopleOperator(task_id="t")
assert op.get_openlineage_facets_on_complete(None) is None
print("OUTLETS", [a.uri for a in op.outlets])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "['customerio://customerio_app_default/people', 'brevo://brevo_default/contacts']" in proc.stdout


@pytest.mark.integration
@pytest.mark.airflow_db
@pytest.mark.lineage
def test_people_run_emits_lineage_with_vendor_uris(sandbox, airflow_db, tmp_path: Path):
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is in the test extra")
    sandbox.seed(people=60, seed=3)
    sandbox.settings(export_polls=0)
    sandbox.http.post(
        f"{sandbox.control_url}/brevo/processes/settings", json={"polls_to_complete": 1}
    ).raise_for_status()
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db"))
    events_file = tmp_path / "openlineage.jsonl"
    out = dag_test_in_child(
        "customerio_people_to_brevo",
        env={
            **sandbox.info["airflow_conn_env"],
            "CUSTOMERIO_PROVIDER_CONFIG": str(cfg),
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events_file), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "cio-test",
        },
        cwd=tmp_path,
        conf={"mode": "full"},
        xcoms={"load": "load_brevo_contacts"},
    )
    assert out["state"] == "success"
    assert events_file.exists(), "no OpenLineage event written"
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    complete = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(".load_brevo_contacts")]
    assert complete, [(e["eventType"], e["job"]["name"]) for e in events]
    event = complete[-1]
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("customerio://customerio_app_default", "people")]
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [("brevo://brevo_default", "contacts")]
    load = out["load"]
    rows = event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"]
    assert rows == load["created"] + load["updated"] + load["deleted"] and rows > 0
    fields = {f["name"] for f in event["outputs"][0]["facets"]["schema"]["fields"]}
    assert "email" in fields and len(fields) > 1
