"""The status page inside Airflow's own api-server app (``airflow.api_fastapi.app.create_app``, the plugin mounted
from its entry point, SimpleAuthManager with real users): no data without a session (401), the data with the UI's
``_token`` cookie or a bearer token, and the webhook endpoint still public (its own HMAC check answers)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.airflow_db

PASSWORD = "s3cret-Passw0rd"


@pytest.fixture
def api(airflow_db, tmp_path, monkeypatch):
    from airflow.api_fastapi.app import create_app, purge_cached_app

    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"ada": PASSWORD}))
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "ada:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    purge_cached_app()
    app = create_app(apps="core")
    yield TestClient(app)
    purge_cached_app()


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """The store the plugin opens ($AIRFLOW_HOME's embedded SQLite file), with one run and one reject."""
    from airflow_provider_customerio.store.sync_store import SyncStore

    store = SyncStore.open()
    store.record_summary("people", "customerio_people_to_brevo", "auth_run", "sync_people", {"read": 4242})
    with store.ledger("customerio_people_to_brevo", "auth_run", "sync_people") as led:
        led.reject(
            record_id="cio_auth",
            reason="invalid_email",
            message="not an address",
            stage="map",
            identifiers={"email": "secret.person@example.com"},
        )
    return store


def test_plugin_is_registered_as_an_external_view(api):
    from airflow import plugins_manager

    views, _ = plugins_manager._get_ui_plugins()
    view = next(v for v in views if v.get("url_route") == "customerio-brevo")
    assert view["href"] == "customerio-brevo/" and view["destination"] == "nav"


def test_no_session_no_data_and_a_session_sees_the_data(api, stored):
    for path in ("/customerio-brevo/", "/customerio-brevo/api/status", "/customerio-brevo/rejects.csv"):
        anon = api.get(path, headers={"accept": "text/html"})
        assert anon.status_code == 401, (path, anon.status_code)
        assert "secret.person" not in anon.text and "4242" not in anon.text
    bad = api.get("/customerio-brevo/api/status", cookies={"_token": "not-a-jwt"})
    assert bad.status_code == 401 and "secret.person" not in bad.text

    login = api.post("/auth/token", json={"username": "ada", "password": PASSWORD})
    assert login.status_code in (200, 201), login.text
    token = login.json()["access_token"]
    api.cookies.set("_token", token)  # what the UI holds after logging in
    page = api.get("/customerio-brevo/?reason=invalid_email")
    assert page.status_code == 200, page.text[:500]
    assert "secret.person@example.com" in page.text and "4,242" in page.text and "Signed in as ada" in page.text
    api.cookies.clear()
    status = api.get("/customerio-brevo/api/status", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 200 and status.json()["rejects_by_reason"]["invalid_email"] >= 1
    assert status.json()["user"] == "ada"


def test_webhook_endpoint_stays_public_and_signed(api):
    resp = api.post("/customerio/webhooks", content=b'{"event_id": "x"}')
    # not the api-server's 401 "Not authenticated": the receiver's own answer (no signing key configured: 503)
    assert resp.status_code in (401, 503) and resp.json().get("error") in (
        "not_configured",
        "missing_header",
        "bad_signature",
    )
