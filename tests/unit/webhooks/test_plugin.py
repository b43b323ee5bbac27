"""The webhook plugin (``webhooks/plugin.py``): the receiver and the Brevo notice route wired to the webhook
connection (its keys, cached; its store), mounted at ``/customerio`` on the api-server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from airflow.plugins_manager import AirflowPlugin
from fastapi.testclient import TestClient

from airflow_provider_customerio.store.engine import dispose_all
from airflow_provider_customerio.store.inbox import EventStore
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.webhooks import plugin
from airflow_provider_customerio.webhooks.plugin import (
    COUNTER_SCOPE,
    CustomerIOWebhookPlugin,
    WebhookConnectionSource,
    build_app,
)
from airflow_provider_customerio.webhooks.receiver import KeyNotConfiguredError
from airflow_provider_customerio.webhooks.signature import sign_headers


def test_the_keys_are_the_password_then_the_previous_key_and_are_cached(airflow_conn) -> None:
    airflow_conn("wh", conn_type="customerio_webhook", password="new", extra={"previous_signing_key": "old"})
    cached = WebhookConnectionSource("wh", ttl_seconds=3600)
    fresh = WebhookConnectionSource("wh", ttl_seconds=0)
    assert cached.keys() == fresh.keys() == ["new", "old"]
    airflow_conn("wh", conn_type="customerio_webhook", password="rotated")
    assert cached.keys() == ["new", "old"]  # read at most once per ttl
    assert fresh.keys() == ["rotated"]


def test_a_missing_connection_or_key_names_the_fix(airflow_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMERIO_WEBHOOK_CONN_ID", "nowhere")
    with pytest.raises(KeyNotConfiguredError, match="connection 'nowhere' cannot be read.*customerio_webhook"):
        WebhookConnectionSource().keys()
    airflow_conn("keyless", conn_type="customerio_webhook")
    with pytest.raises(KeyNotConfiguredError, match="'keyless' has no password"):
        WebhookConnectionSource("keyless").keys()


def test_the_built_app_stores_events_counts_them_and_takes_brevo_notices(tmp_path: Path, airflow_conn) -> None:
    dispose_all()
    db = tmp_path / "store.db"
    airflow_conn(
        "wh", conn_type="customerio_webhook", password="k", extra={"store_conn_id": "none_here", "store_path": str(db)}
    )
    source = WebhookConnectionSource("wh")
    app = build_app(source)
    body = json.dumps({"event_id": "E1", "metric": "clicked"}).encode()
    token = SyncStore.at(db).notices().issue("import")
    with TestClient(app) as client:
        assert client.post("/webhooks", content=body, headers=sign_headers("k", body, int(time.time()))).json() == {
            "status": "stored",
            "event_id": "E1",
        }
        assert client.post(f"/brevo/processes/{token}", json={"processId": 5}).status_code == 200
    app.state.writer.close()
    app.state.counts_flusher.flush()
    store = SyncStore.at(db)
    assert EventStore(store.engine).get("E1") is not None
    assert store.counts(COUNTER_SCOPE)["stored"] == 1
    dispose_all()


def test_the_plugin_mounts_the_app_at_customerio() -> None:
    assert issubclass(CustomerIOWebhookPlugin, AirflowPlugin)
    [mounted] = CustomerIOWebhookPlugin.fastapi_apps
    assert (mounted["app"], mounted["url_prefix"]) == (plugin.app, "/customerio")
    routes = {getattr(r, "path", "") for r in plugin.app.routes}
    assert {"/webhooks", "/webhooks/health", "/brevo/processes/{token}"} <= routes
