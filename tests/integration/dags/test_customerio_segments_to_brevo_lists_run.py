"""The segment DAG run end to end with ``dag.test()`` against the sandbox: the scheduled path (every configured
pair, dynamic task mapping, a building segment skipped) and the manual path (params: one pair, dry run).

Each run happens in a child process (``dag_test_in_child``) on the session's metadata database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import dag_test_in_child

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]


def run_dag(sandbox: Any, tmp_path: Path, config: dict[str, Any], conf: dict[str, Any] | None) -> dict[str, Any]:
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(json.dumps({"connectors": {"customerio": config}}), encoding="utf-8")
    return dag_test_in_child(
        "customerio_segments_to_brevo_lists",
        env={**sandbox.info["airflow_conn_env"], "CUSTOMERIO_PROVIDER_CONFIG": str(cfg)},
        cwd=tmp_path,
        conf=conf,
        xcoms={"report": "report"},
    )


@pytest.fixture
def seeded(sandbox: Any) -> Any:
    sandbox.ratelimits(enabled=False)
    sandbox.seed(people=400, segments=[120, 30], seed=11)
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    return sandbox


def list_size(sandbox: Any, list_id: int) -> int:
    resp = requests.get(
        f"{sandbox.brevo_url}/contacts/lists/{list_id}/contacts",
        params={"limit": 500},
        headers=sandbox.brevo_headers,
        timeout=30,
    )
    return len(resp.json()["contacts"])


def test_scheduled_run_mirrors_every_pair_and_skips_building(seeded: Any, airflow_db: Path, tmp_path: Path) -> None:
    out = run_dag(seeded, tmp_path, {"segments": {"mirror": {"1": 13, "2": 14, "3": 12}}}, None)
    report = out["report"]
    assert out["state"] == "success"
    assert (report["pairs"], report["mirrored"]) == (3, 2)
    assert report["skipped_building"] == [{"segment": 3, "list": 12, "state": "building"}]
    assert report["exported"] == list_size(seeded, 13) + list_size(seeded, 14) > 0
    assert list_size(seeded, 12) == 0


def test_manual_run_with_params_mirrors_that_pair_only(seeded: Any, airflow_db: Path, tmp_path: Path) -> None:
    conf = {"segment_id": 2, "list_id": 12, "include_attributes": ["first_name"], "dry_run": True}
    out = run_dag(seeded, tmp_path, {"segments": {"mirror": {"1": 13}}}, conf)
    report = out["report"]
    assert out["state"] == "success"
    assert (report["pairs"], report["dry_run"], report["exported"]) == (1, True, 0)
    assert report["would_export"] > 0 and report["per_pair"][0]["segment"] == 2
    assert list_size(seeded, 12) == 0 and list_size(seeded, 13) == 0
