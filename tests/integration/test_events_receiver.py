"""The webhook receiver for real: the plugin's app under uvicorn on 127.0.0.1 (ephemeral port), signed webhooks
sent by the sandbox's emitter, durable storage in a SQLite file."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_customerio.sandbox.control import webhooks as webhooks_control
from airflow_provider_customerio.sandbox.webhook_emitter import emit_webhooks, make_event
from airflow_provider_customerio.store.inbox import PENDING, EventStore
from airflow_provider_customerio.webhooks.plugin import (
    URL_PREFIX,
    CustomerIOWebhookPlugin,
    WebhookConnectionSource,
    build_app,
)
from airflow_provider_customerio.webhooks.signature import compute_signature
from tests.serve import ThreadedServer

pytestmark = pytest.mark.integration

KEY = "sandbox-webhook-signing-key"


class Receiver:
    """The plugin's app served by uvicorn in a thread, mounted under /customerio as on the api-server."""

    def __init__(self, max_body_bytes: int | None = None) -> None:
        import os

        if max_body_bytes:
            os.environ["CUSTOMERIO_WEBHOOK_MAX_BODY_BYTES"] = str(max_body_bytes)
        try:
            self.inner = build_app(WebhookConnectionSource(ttl_seconds=0))
        finally:
            os.environ.pop("CUSTOMERIO_WEBHOOK_MAX_BODY_BYTES", None)
        root = FastAPI()
        root.mount(URL_PREFIX, self.inner)  # what airflow.api_fastapi.app.init_plugins does
        self.http = ThreadedServer(root)

    def start(self) -> Receiver:
        self.url = f"{self.http.start().base_url}{URL_PREFIX}/webhooks"
        return self

    def stop(self) -> None:
        self.http.stop()
        self.inner.state.writer.close()

    @property
    def counters(self) -> dict[str, int]:
        return self.inner.state.counters


@pytest.fixture
def store_path(tmp_path: Path, airflow_conn: Any) -> Path:
    path = tmp_path / "webhooks.db"
    airflow_conn(
        "customerio_webhook_default",
        conn_type="customerio_webhook",
        password=KEY,
        extra=json.dumps({"store_path": str(path)}),
    )
    return path


@pytest.fixture
def receiver(store_path: Path) -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def stored(path: Path) -> dict[str, Any]:
    store = EventStore.sqlite(path)
    try:
        return {r.event_id: r for r in store.fetch(PENDING, limit=100_000)}
    finally:
        store.dispose()


def signed_post(url: str, body: bytes, *, key: str = KEY, ts: int | None = None, **kw: Any) -> httpx.Response:
    stamp = int(time.time()) if ts is None else ts
    headers = {
        "X-CIO-Timestamp": str(stamp),
        "X-CIO-Signature": compute_signature(key, stamp, body),
        "Content-Type": "application/json",
    }
    return httpx.post(url, content=body, headers=headers, timeout=10, **kw)


def test_plugin_declares_the_app_airflow_mounts() -> None:
    (entry,) = CustomerIOWebhookPlugin.fastapi_apps
    assert entry["url_prefix"] == "/customerio" and entry["app"] is not None and entry["name"]
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    assert not any(entry["url_prefix"].startswith(p) for p in RESERVED_URL_PREFIXES)


def test_signed_events_are_stored_once_despite_duplicates(receiver: Receiver, store_path: Path) -> None:
    report = emit_webhooks(receiver.url, KEY, 40, duplicates=15, concurrency=4, seed=1)
    assert report.unexpected == []
    assert report.counts == {"original": {"200": 40}, "duplicate": {"200": 15}}
    rows = stored(store_path)
    assert set(rows) == set(report.events)  # every acknowledged event is stored, each once
    any_id = next(iter(report.events))
    assert json.loads(rows[any_id].payload) == report.events[any_id]  # stored as received
    assert receiver.counters["stored"] == 40 and receiver.counters["duplicate"] == 15


def test_duplicate_answer_says_duplicate(receiver: Receiver) -> None:
    body = json.dumps(make_event(1, seed=3)).encode()
    first, second = signed_post(receiver.url, body), signed_post(receiver.url, body)
    assert (first.status_code, first.json()["status"]) == (200, "stored")
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")


def test_replays_and_bad_signatures_are_refused_and_not_stored(receiver: Receiver, store_path: Path) -> None:
    report = emit_webhooks(receiver.url, KEY, 5, replays=3, bad_signatures=4, seed=2)
    assert report.unexpected == []
    assert report.counts["replay"] == {"401": 3} and report.counts["bad_signature"] == {"401": 4}
    assert set(stored(store_path)) == set(report.events)  # only the 5 originals
    # a replay of a NEW event (never stored) with an old timestamp is refused too
    body = json.dumps(make_event(99, seed=2)).encode()
    resp = signed_post(receiver.url, body, ts=int(time.time()) - 301)
    assert resp.status_code == 401 and resp.json()["error"] == "stale_timestamp"
    assert json.loads(body)["event_id"] not in stored(store_path)


def test_missing_signature_headers_are_401(receiver: Receiver) -> None:
    body = json.dumps(make_event(1)).encode()
    assert httpx.post(receiver.url, content=body, timeout=10).status_code == 401
    resp = httpx.post(receiver.url, content=body, headers={"X-CIO-Timestamp": str(int(time.time()))}, timeout=10)
    assert resp.status_code == 401 and resp.json()["error"] == "missing_header"


@pytest.mark.parametrize(
    "body,fragment",
    [
        (b'{"event_id": "01X", "metric": ', "not valid"),
        (b"[1, 2]", "JSON object"),
        (b'{"metric": "sent"}', "event_id"),
        (b"\xff\xfe{}", "not valid"),
    ],
    ids=["truncated-json", "array", "no-event-id", "not-utf8"],
)
def test_malformed_bodies_are_400(receiver: Receiver, store_path: Path, body: bytes, fragment: str) -> None:
    resp = signed_post(receiver.url, body)
    assert resp.status_code == 400 and fragment in resp.json()["message"]
    assert stored(store_path) == {}


def test_malformed_from_the_emitter(receiver: Receiver) -> None:
    report = emit_webhooks(receiver.url, KEY, 0, malformed=2)
    assert report.counts == {"malformed": {"400": 2}}


def test_oversized_bodies_are_413(store_path: Path) -> None:
    r = Receiver(max_body_bytes=64 * 1024).start()
    try:
        report = emit_webhooks(r.url, KEY, 1, oversized=1, oversized_bytes=100 * 1024)
        assert report.counts == {"original": {"200": 1}, "oversized": {"413": 1}}
        # chunked upload without Content-Length: the limit is enforced while streaming
        big = json.dumps({"event_id": "01BIG", "pad": "x" * 100_000}).encode()
        ts = int(time.time())
        headers = {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": compute_signature(KEY, ts, big)}
        resp = httpx.post(r.url, content=iter([big[:50_000], big[50_000:]]), headers=headers, timeout=10)
        assert resp.status_code == 413
        assert set(stored(store_path)) == set(report.events)
    finally:
        r.stop()


def test_restart_keeps_pending_events_and_dedupe(store_path: Path) -> None:
    first = Receiver().start()
    before = emit_webhooks(first.url, KEY, 12, seed=5)
    first.stop()  # the api-server restarts; nothing acknowledged may be lost
    assert set(stored(store_path)) == set(before.events)
    second = Receiver().start()
    try:
        again = emit_webhooks(second.url, KEY, 12, seed=5)  # Customer.io redelivers the same events
        assert again.counts == {"original": {"200": 12}}
        assert second.counters["duplicate"] == 12 and second.counters["stored"] == 0
        more = emit_webhooks(second.url, KEY, 3, seed=6)
        rows = stored(store_path)
        assert set(rows) == set(before.events) | set(more.events) and len(rows) == 15
        assert {r.status for r in rows.values()} == {"pending"}
    finally:
        second.stop()


def test_no_signing_key_is_503_and_nothing_stored(tmp_path: Path, airflow_conn: Any) -> None:
    path = tmp_path / "k.db"
    airflow_conn(
        "customerio_webhook_default", conn_type="customerio_webhook", extra=json.dumps({"store_path": str(path)})
    )
    r = Receiver().start()
    try:
        resp = signed_post(r.url, json.dumps(make_event(1)).encode())
        assert resp.status_code == 503 and resp.json()["error"] == "not_configured"
        assert KEY not in resp.text
    finally:
        r.stop()
    assert not path.exists() or stored(path) == {}


def test_unwritable_store_is_503_never_200(tmp_path: Path, airflow_conn: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    airflow_conn(
        "customerio_webhook_default",
        conn_type="customerio_webhook",
        password=KEY,
        extra=json.dumps({"store_path": str(blocker / "sub" / "x.db")}),
    )
    r = Receiver().start()
    try:
        resp = signed_post(r.url, json.dumps(make_event(1)).encode())
        assert resp.status_code == 503 and resp.json()["error"] == "store_unavailable"
    finally:
        r.stop()


def test_rotated_key_is_picked_up_without_restart(receiver: Receiver, airflow_conn: Any, store_path: Path) -> None:
    body = json.dumps(make_event(7, seed=9)).encode()
    assert signed_post(receiver.url, body, key="new-key").status_code == 401
    airflow_conn(
        "customerio_webhook_default",
        conn_type="customerio_webhook",
        password="new-key",
        extra=json.dumps({"store_path": str(store_path), "previous_signing_key": KEY}),
    )
    assert signed_post(receiver.url, body, key="new-key").status_code == 200
    body2 = json.dumps(make_event(8, seed=9)).encode()
    assert signed_post(receiver.url, body2, key=KEY).status_code == 200  # the old key still works


def test_sandbox_control_route_emits_at_the_receiver(receiver: Receiver, store_path: Path) -> None:
    control = FastAPI()
    control.include_router(webhooks_control.router, prefix="/_sandbox/webhooks")
    with TestClient(control) as client:
        resp = client.post(
            "/_sandbox/webhooks/emit",
            json={
                "url": receiver.url,
                "signing_key": KEY,
                "count": 6,
                "duplicates": 2,
                "replays": 1,
                "bad_signatures": 1,
            },
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["unexpected"] == [] and body["distinct_events"] == 6
        assert set(stored(store_path)) == set(body["event_ids"])
        assert client.get("/_sandbox/webhooks/last").json()["sent"] == 10
        refused = client.post("/_sandbox/webhooks/emit", json={"url": "https://example.com/x", "signing_key": "k"})
        assert refused.status_code == 400 and "loopback" in refused.json()["error"]
        bad = client.post("/_sandbox/webhooks/emit", json={"url": receiver.url, "signing_key": KEY, "count": -1})
        assert bad.status_code == 400 and "count" in bad.json()["error"]


API_SERVER = r"""
import json, sys, threading, time, uvicorn
from airflow.api_fastapi.app import create_app
app = create_app()  # the real Airflow 3.3 api-server app; plugins from AIRFLOW__CORE__PLUGINS_FOLDER
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
def report():
    while not server.started:
        time.sleep(0.01)
    print("RECEIVER_PORT=%d" % server.servers[0].sockets[0].getsockname()[1], flush=True)
    sys.stdin.readline()
    server.should_exit = True
threading.Thread(target=report, daemon=True).start()
server.run()
"""


def test_mounted_on_the_real_airflow_api_server(tmp_path: Path) -> None:
    """The plugin loaded by Airflow's own plugin manager, served by the real api-server app over HTTP."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "customerio_webhooks.py").write_text(
        "from airflow_provider_customerio.webhooks.plugin import CustomerIOWebhookPlugin\n"
    )
    db = tmp_path / "api-server-webhooks.db"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret",
        "AIRFLOW_CONN_CUSTOMERIO_WEBHOOK_DEFAULT": json.dumps(
            {"conn_type": "customerio_webhook", "password": KEY, "extra": {"store_path": str(db)}}
        ),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", API_SERVER],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = None
        for line in proc.stdout:  # the auth manager prints its own lines first
            if line.startswith("RECEIVER_PORT="):
                port = int(line.split("=", 1)[1])
                break
        assert port, "the api-server did not start (run the script by hand to see its log)"
        url = f"http://127.0.0.1:{port}/customerio/webhooks"
        report = emit_webhooks(url, KEY, 8, duplicates=2, replays=1, bad_signatures=1, malformed=1, seed=12)
        assert report.unexpected == [], report.unexpected
        # the api-server's own API is still there and still protected, the webhook route needs no Airflow login
        assert httpx.get(f"http://127.0.0.1:{port}/api/v2/dags", timeout=10).status_code in (401, 403)
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=60)
    assert set(stored(db)) == set(report.events)
