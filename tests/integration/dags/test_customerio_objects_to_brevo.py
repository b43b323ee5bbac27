"""The object sync DAG run end to end with ``dag.test()`` against the sandbox: off by default (the run
short-circuits), and on (objects written to Brevo through the deferrable operator).

Each run happens in a child process (``dag_test_in_child``) on the session's metadata database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import dag_test_in_child

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]

DAG_ID = "customerio_objects_to_brevo"


def run_dag(
    sandbox: Any, tmp_path: Path, customerio: dict[str, Any], conf: dict[str, Any] | None = None
) -> dict[str, Any]:
    cfg = tmp_path / "customerio_config.yaml"
    customerio = {
        **customerio,
        "people": {"state_path": str(tmp_path / "state.db")},
    }
    cfg.write_text(json.dumps({"connectors": {"customerio": customerio}}), encoding="utf-8")
    return dag_test_in_child(
        DAG_ID,
        env={**sandbox.info["airflow_conn_env"], "CUSTOMERIO_PROVIDER_CONFIG": str(cfg)},
        cwd=tmp_path,
        conf=conf,
        xcoms={"summary": "sync_objects_to_brevo"},
    )


TYPES = {"1": {"brevo_object_type": "companies", "field_mapping": {"name": "name", "plan": "plan"}}}


def brevo_records(sandbox: Any) -> dict[str, Any]:
    body = sandbox._call("GET", "/brevo/objects/companies/records")
    return {r["identifiers"]["ext_id"]: r for r in body["records"]}


def test_dag_is_skipped_while_the_switch_is_off(sandbox: Any, airflow_db: Path, tmp_path: Path) -> None:
    sandbox.seed(people=0, objects=2, seed=3, campaigns=0)
    result = run_dag(sandbox, tmp_path, {"objects": {"types": TYPES}})  # sync.objects defaults off
    assert result["tasks"]["objects_enabled"] == "success"
    assert result["tasks"]["check_brevo_object_types"] == "skipped"
    assert result["tasks"]["sync_objects_to_brevo"] == "skipped"
    assert result["tasks"]["sync_brevo_objects_to_customerio"] == "skipped"
    assert brevo_records(sandbox) == {}
    assert [r for r in sandbox.requests(vendor="brevo") if "/objects/" in r["path"]] == []


def test_dag_syncs_objects_when_switched_on(sandbox: Any, airflow_db: Path, tmp_path: Path) -> None:
    sandbox.seed(people=0, objects=3, seed=3, campaigns=0)
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    result = run_dag(
        sandbox, tmp_path, {"sync": {"objects": True}, "objects": {"types": TYPES}}, conf={"reverse": True}
    )
    assert result["state"] == "success", result
    summary = result["summary"]
    assert summary["created"] == 3 and summary["rejected"] == 0
    records = brevo_records(sandbox)
    assert len(records) == 3 and all(set(r["attributes"]) == {"name", "plan"} for r in records.values())
    # the reverse direction ran and found only the forward direction's own records (echoes): nothing written
    assert result["tasks"]["sync_brevo_objects_to_customerio"] == "success"
    assert sandbox.requests(vendor="track") == []


def test_dag_fails_early_naming_a_missing_brevo_type(sandbox: Any, airflow_db: Path, tmp_path: Path) -> None:
    sandbox.seed(people=0, objects=2, seed=3, campaigns=0)
    types = {"1": {"brevo_object_type": "accounts", "field_mapping": {"name": "name"}}}
    result = run_dag(sandbox, tmp_path, {"sync": {"objects": True}, "objects": {"types": types}})
    assert result["tasks"]["check_brevo_object_types"] == "failed"
    assert result["tasks"]["sync_objects_to_brevo"] == "upstream_failed"
    assert [r for r in sandbox.requests(vendor="brevo") if r["path"].endswith("/batch/upsert")] == []
