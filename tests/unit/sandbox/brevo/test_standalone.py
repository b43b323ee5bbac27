"""The Brevo emulation served alone (``sandbox/brevo/standalone.py``): the API and its control plane on one app."""

from __future__ import annotations

from fastapi.testclient import TestClient

from airflow_provider_customerio.sandbox.brevo.standalone import build_standalone_app
from airflow_provider_customerio.sandbox.brevo.state import BrevoState

KEY = "standalone-test-key"


def test_the_app_serves_the_api_with_its_key_and_the_control_plane_without():
    client = TestClient(build_standalone_app(BrevoState(KEY)))
    assert client.get("/brevo/v3/contacts", headers={"api-key": "wrong"}).status_code == 401
    assert client.get("/brevo/v3/contacts", headers={"api-key": KEY}).status_code == 200
    control = client.get("/_sandbox/brevo/contacts")
    assert control.status_code == 200, control.text
