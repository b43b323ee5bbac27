"""The status page's app (``ui/app.py``) without a browser: the viewer's access, the JSON API, the CSV export."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.ui.app import Viewer, create_app


@pytest.fixture
def store(tmp_path):
    st = SyncStore.at(tmp_path / "s.db")
    st.record_summary("people", "dag_a", "r1", "t", {"read": 3})
    for dag in ("dag_a", "dag_b"):
        with st.ledger(dag, "r1", "t") as led:
            led.reject(record_id=f"{dag}_1", reason="invalid_email", message="bad", stage="map")
    return st


def client(store: SyncStore, may_read: set[str] | None, *, opened: list[int] | None = None) -> TestClient:
    async def authorize(request: Request, dags: frozenset[str]) -> Viewer:
        if may_read == set():
            raise HTTPException(403, "no")
        return Viewer("ada", None if may_read is None else dags & frozenset(may_read))

    def engine():
        if opened is not None:
            opened.append(1)
        return store.engine

    return TestClient(create_app(engine, authorize=authorize, today=lambda: date(2026, 3, 10), clock=lambda: 0.0))


def test_the_api_shows_only_the_viewers_dags(store):
    body = client(store, {"dag_b"}).get("/api/status").json()
    assert body["rejects_by_reason"] == {"invalid_email": 1}
    assert body["runs"]["people"] == []
    rows = client(store, None).get("/api/rejects", params={"reason": "invalid_email"}).json()["rows"]
    assert {r["dag_id"] for r in rows} == {"dag_a", "dag_b"}


def test_the_csv_export_streams_the_viewers_rejects(store):
    text = client(store, {"dag_a"}).get("/rejects.csv").text
    assert "dag_a_1" in text and "dag_b_1" not in text


def test_a_viewer_of_no_dag_is_refused_and_a_browser_gets_a_login_link(store):
    assert client(store, set()).get("/api/status").status_code == 401
    page = client(store, set()).get("/", headers={"accept": "text/html"})
    assert page.status_code == 401 and "log in" in page.text


def test_the_store_is_opened_once_and_a_bad_range_names_its_parameter(store):
    opened: list[int] = []
    c = client(store, None, opened=opened)
    assert c.get("/").status_code == 200 and c.get("/api/status").status_code == 200
    assert len(opened) == 1
    resp = c.get("/api/status", params={"from": "2026-03-10", "to": "2026-03-01"})
    assert resp.status_code == 400 and "from" in resp.json()["detail"]
