"""Connection form metadata, the Test button and UI/REST triggering, against a running api-server."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.system


def test_connection_form_shows_labelled_fields(airflow_stack):
    meta = airflow_stack.api_ok("GET", "/ui/connections/hook_meta")
    by_type = {m["connection_type"]: m for m in meta}
    track = by_type["customerio_track"]
    assert track["hook_name"] == "Customer.io Track API"
    assert track["standard_fields"]["login"]["title"] == "Site ID"
    assert track["standard_fields"]["password"]["title"] == "Track API key"
    assert track["standard_fields"]["port"]["hidden"] is True
    assert "region" in json.dumps(track["extra_fields"])
    app = by_type["customerio_app"]
    assert app["standard_fields"]["password"]["title"] == "App API key"
    assert app["standard_fields"]["login"]["hidden"] is True
    brevo = by_type["brevo"]
    assert brevo["hook_name"] == "Brevo"
    assert brevo["standard_fields"]["password"]["title"] == "API key"


@pytest.mark.parametrize(
    ("conn_type", "env_var"),
    [
        ("customerio_track", "AIRFLOW_CONN_CUSTOMERIO_TRACK_DEFAULT"),
        ("customerio_app", "AIRFLOW_CONN_CUSTOMERIO_APP_DEFAULT"),
        ("brevo", "AIRFLOW_CONN_BREVO_DEFAULT"),
    ],
)
def test_test_button_against_the_sandbox(airflow_stack, conn_type, env_var):
    conn = json.loads(airflow_stack.sandbox["airflow_conn_env"][env_var])
    body = {
        "connection_id": f"ui_{conn_type}",
        "conn_type": conn_type,
        "host": conn.get("host"),
        "login": conn.get("login"),
        "password": conn.get("password"),
        "extra": json.dumps(conn.get("extra") or {}),
    }
    result = airflow_stack.api_ok("POST", "/api/v2/connections/test", json=body)
    assert result["status"] is True, result
    bad = airflow_stack.api_ok("POST", "/api/v2/connections/test", json={**body, "password": "wrong-key"})
    assert bad["status"] is False
    assert "wrong-key" not in bad["message"]


def test_trigger_with_valid_and_invalid_conf(airflow_stack, parsed_dags):
    dag_id = "customerio_segments_to_brevo_lists"
    params = airflow_stack.api_ok("GET", f"/api/v2/dags/{dag_id}/details")["params"]
    assert params, "the DAG declares Params"
    bad = airflow_stack.api(
        "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {"dry_run": "yes please"}}
    )
    assert bad.status_code == 400, bad.text
    assert "dry_run" in bad.text
    good = airflow_stack.api(
        "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {"dry_run": True}}
    )
    assert good.status_code == 200, good.text
