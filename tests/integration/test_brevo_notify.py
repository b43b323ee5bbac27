"""Brevo's notifyUrl end to end: the sandbox calls the provider's notice route, which records it in the store.

Real HTTP both ways: a Brevo-only sandbox and the notice app, each on 127.0.0.1 (ephemeral port).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_customerio.sandbox.brevo.standalone import build_standalone_app
from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.webhooks.brevo_notify import create_notify_app, notice_url
from tests.serve import ThreadedServer

KEY = "sandbox-brevo-notify-key"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    store = SyncStore.at(tmp_path / "store.db")
    state = BrevoState(KEY)
    state.seed(random.Random(0))
    brevo = ThreadedServer(build_standalone_app(state)).start()
    notify = ThreadedServer(create_notify_app(lambda: store)).start()
    yield {"store": store, "state": state, "brevo": brevo.base_url, "notify": notify.base_url}
    brevo.stop()
    notify.stop()


def _import(world: dict[str, Any], **extra: Any) -> requests.Response:
    body = {"jsonBody": [{"email": "ann@example.com", "attributes": {"FIRSTNAME": "Ann"}}], "listIds": [12], **extra}
    return requests.post(f"{world['brevo']}/brevo/v3/contacts/import", json=body, headers={"api-key": KEY}, timeout=30)


def _wait_for(fn: Any, deadline_s: float = 60.0) -> Any:
    """Readiness wait (not a timing assertion): the sandbox ends the process on its own clock, then calls back."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("no notice arrived")


def test_an_import_with_notify_url_ends_unpolled_and_its_notice_lands_in_the_store(world: dict[str, Any]) -> None:
    notices = world["store"].notices()
    token = notices.issue("import")
    resp = _import(world, notifyUrl=notice_url(world["notify"], token))
    assert resp.status_code == 202, resp.text
    pid = resp.json()["processId"]
    notices.bind(token, pid)
    got = _wait_for(lambda: notices.received([pid]))
    assert got[pid]["body"] == {"processId": pid, "status": "completed", "name": "IMPORTUSER"}
    assert world["state"].processes[pid].polls == 0  # nobody polled GET /processes/{id}
    proc = requests.get(f"{world['brevo']}/brevo/v3/processes/{pid}", headers={"api-key": KEY}, timeout=30).json()
    assert proc["status"] == "completed"
    contact = requests.get(f"{world['brevo']}/brevo/v3/contacts/ann@example.com", headers={"api-key": KEY}, timeout=30)
    assert contact.json()["attributes"]["FIRSTNAME"] == "Ann"
    assert world["state"].notifier.sent[-1]["http_status"] == 200


def test_a_failed_import_notifies_failed(world: dict[str, Any]) -> None:
    fault = {"kind": "import_failure", "count": 1}
    armed = requests.post(f"{world['brevo']}/_sandbox/brevo/faults", json=fault, timeout=30)
    assert armed.status_code == 201, armed.text
    notices = world["store"].notices()
    token = notices.issue()
    pid = _import(world, notifyUrl=notice_url(world["notify"], token)).json()["processId"]
    notices.bind(token, pid)
    assert _wait_for(lambda: notices.received([pid]))[pid]["body"]["status"] == "failed"


def test_the_route_refuses_unknown_and_malformed_tokens_alike(world: dict[str, Any]) -> None:
    for token in ("A" * 43, "short", "bad%20chars" + "x" * 40):
        resp = requests.post(f"{world['notify']}/brevo/processes/{token}", data=b"{}", timeout=30)
        assert resp.status_code == 404 and resp.json() == {"detail": "Not Found"}
    token = world["store"].notices().issue()
    assert requests.get(notice_url(world["notify"], token), timeout=30).status_code == 200


def test_notify_url_must_be_a_url(world: dict[str, Any]) -> None:
    resp = _import(world, notifyUrl="ftp://example.com/x")
    assert resp.status_code == 400 and "notifyUrl" in resp.json()["message"]
