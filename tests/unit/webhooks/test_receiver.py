"""The Customer.io reporting-webhook receiver (``webhooks/receiver.py``) through its ASGI app: 200 only once the
event is stored, duplicates acknowledged, and the refusals (401, 400, 413, 503) counted (a real SQLite store)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from airflow_provider_customerio.store.inbox import EventStore
from airflow_provider_customerio.webhooks.receiver import KeyNotConfiguredError, ReceiverSettings, create_app
from airflow_provider_customerio.webhooks.signature import sign_headers

KEY = "signing-key"


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "events.db"
        self.keys: list[str] = [KEY]
        self.flushed: list[Mapping[str, int]] = []
        self.store_down = False

    def get_keys(self) -> list[str]:
        if not self.keys:
            raise KeyNotConfiguredError("no key")
        return self.keys

    def open_store(self) -> EventStore:
        if self.store_down:
            raise ConnectionError("store down")
        return EventStore.sqlite(self.path)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


@pytest.fixture
def client(setup: Setup) -> Iterator[TestClient]:
    settings = ReceiverSettings(
        keys=setup.get_keys, store_factory=setup.open_store, max_body_bytes=2000, counts_sink=setup.flushed.append
    )
    app = create_app(settings)
    with TestClient(app) as c:
        yield c
    app.state.writer.close()
    if app.state.counts_flusher is not None:
        app.state.counts_flusher.flush()


def _post(client: TestClient, payload: object, key: str = KEY) -> tuple[int, dict[str, object]]:
    body = json.dumps(payload).encode()
    resp = client.post("/webhooks", content=body, headers=sign_headers(key, body, int(time.time())))
    return resp.status_code, resp.json()


def test_a_signed_event_is_stored_once_and_a_duplicate_is_acknowledged(client: TestClient, setup: Setup) -> None:
    event = {"event_id": "E1", "metric": "opened", "timestamp": 1767225600}
    assert _post(client, event) == (200, {"status": "stored", "event_id": "E1"})
    assert _post(client, event) == (200, {"status": "duplicate", "event_id": "E1"})
    stored = EventStore.sqlite(setup.path).get("E1")
    assert stored is not None and json.loads(stored.payload)["metric"] == "opened" and stored.event_ts == 1767225600
    assert client.app.state.counters["stored"] == 1 and client.app.state.counters["duplicate"] == 1  # type: ignore[attr-defined]


def test_a_wrong_signature_is_401_and_stores_nothing(client: TestClient, setup: Setup) -> None:
    status, body = _post(client, {"event_id": "E2"}, key="another-key")
    assert status == 401 and body["error"]
    unsigned = client.post("/webhooks", content=b'{"event_id": "E3"}')
    assert unsigned.status_code == 401
    assert EventStore.sqlite(setup.path).get("E2") is None
    assert client.app.state.counters["unauthorized"] == 2  # type: ignore[attr-defined]


def test_malformed_and_oversized_bodies_are_refused_naming_the_problem(client: TestClient) -> None:
    assert _post(client, {"metric": "opened"}) == (
        400,
        {"error": "malformed", "message": "field `event_id` is missing or not a non-empty string"},
    )
    status, body = _post(client, {"event_id": "E4", "content": "x" * 3000})
    assert status == 413 and "max_body_bytes" in str(body["message"])


def test_no_key_or_no_store_is_503_so_that_customerio_retries(client: TestClient, setup: Setup) -> None:
    setup.keys = []
    status, body = _post(client, {"event_id": "E5"})
    assert (status, body["error"]) == (503, "not_configured")
    setup.keys, setup.store_down = [KEY], True
    status, body = _post(client, {"event_id": "E5"})
    assert (status, body["error"]) == (503, "store_unavailable")


def test_health_answers_without_a_signature(client: TestClient) -> None:
    assert client.get("/webhooks/health").json() == {"status": "ok"}


def test_the_counts_reach_the_lasting_sink(setup: Setup) -> None:
    settings = ReceiverSettings(keys=setup.get_keys, store_factory=setup.open_store, counts_sink=setup.flushed.append)
    app = create_app(settings)
    with TestClient(app) as c:
        _post(c, {"event_id": "E6"})
        _post(c, {"event_id": "E7"}, key="wrong")
    app.state.counts_flusher.flush()
    app.state.writer.close()
    total: dict[str, int] = {}
    for deltas in setup.flushed:
        for name, n in deltas.items():
            total[name] = total.get(name, 0) + n
    assert total["stored"] == 1 and total["unauthorized"] == 1
