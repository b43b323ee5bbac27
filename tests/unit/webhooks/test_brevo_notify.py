"""The route Brevo calls when a process ends (``webhooks/brevo_notify.py``): a known token is recorded, an unknown
or malformed one is a bare 404, and a store that is down gets 429, the one answer Brevo retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.webhooks.brevo_notify import MAX_NOTICE_BYTES, create_notify_app


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "s.db")


def test_a_notice_for_an_issued_token_is_recorded_once(store: SyncStore) -> None:
    token = store.notices().issue("import")
    store.notices().bind(token, 41)
    client = TestClient(create_notify_app(lambda: store))
    resp = client.post(f"/brevo/processes/{token}", json={"processId": 41, "status": "completed"})
    assert (resp.status_code, resp.json()) == (200, {"received": True})
    assert client.get(f"/brevo/processes/{token}").status_code == 200  # GET too: Brevo documents no method
    assert store.notices().received([41])[41]["body"] == {"processId": 41, "status": "completed"}  # first call wins


def test_an_unknown_or_malformed_token_is_a_bare_404(store: SyncStore) -> None:
    client = TestClient(create_notify_app(lambda: store))
    assert client.post("/brevo/processes/" + "a" * 43).status_code == 404
    assert client.post("/brevo/processes/short").json() == {"detail": "Not Found"}


def test_a_long_body_is_cut(store: SyncStore) -> None:
    token = store.notices().issue("import")
    store.notices().bind(token, 42)
    client = TestClient(create_notify_app(lambda: store))
    assert client.post(f"/brevo/processes/{token}", content=b"x" * (MAX_NOTICE_BYTES * 2)).status_code == 200
    assert len(store.notices().received([42])[42]["body"]) <= MAX_NOTICE_BYTES


def test_a_store_that_is_down_gets_429_so_that_brevo_retries() -> None:
    def down() -> SyncStore:
        raise ConnectionError("no database")

    resp = TestClient(create_notify_app(down)).post("/brevo/processes/" + "a" * 43)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "600"
