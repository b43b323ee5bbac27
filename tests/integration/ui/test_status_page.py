"""The status page's app on a real store (SQLite file): every figure on the page is the store's, the drill-down
pages through one reason, the CSV holds the rejected records, access is limited to the viewer's DAGs."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.store.reporting import engine_store
from airflow_provider_customerio.store.status import StatusQueries
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.campaigns import MetricRow
from airflow_provider_customerio.ui.app import Viewer, create_app

TODAY = date(2026, 3, 10)


def _figures(html: str, name: str) -> list[str]:
    return re.findall(rf'data-figure="{name}"[^>]*>([^<]*)<', html)


@pytest.fixture
def store(tmp_path):
    st = SyncStore.at(tmp_path / "state.db")
    st.record_summary(
        "people",
        "customerio_people_to_brevo",
        "run_a",
        "sync_people",
        {"read": 1200, "created": 40, "updated": 7, "unchanged": 1150, "deleted": 1, "rejected": 2, "api_calls": 31},
    )
    st.record_summary("segments", "customerio_segments_to_brevo_lists", "run_b", "mirror", {"read": 5, "created": 5})
    with st.ledger("customerio_people_to_brevo", "run_a", "sync_people") as led:
        for i in range(120):
            led.reject(
                record_id=f"cio_{i}",
                reason="invalid_email",
                message=f"email #{i} is not an address",
                stage="map",
                identifiers={"email": f"bad{i}@"},
            )
        for i in range(3):
            led.reject(record_id=f"cio_x{i}", reason="brevo_rejected", message="duplicate SMS", stage="import")
    with st.ledger("customerio_segments_to_brevo_lists", "run_b", "mirror") as led:
        led.reject(record_id="seg_1", reason="list_full", message="list is full", stage="import")
    st.add_counts("webhook_receiver", {"stored": 9, "duplicate": 2, "unauthorized": 3, "unauthorized.bad_signature": 3})
    events = EventStore(st.engine)
    events.add(
        [StoredEvent(event_id=f"e{i}", source="webhook", payload="{}", received_at=1_000.0 + i) for i in range(4)]
    )
    events.mark({"e0": ("sent", None), "e1": ("sent", None)})
    ms = engine_store(st.engine)
    ms.ensure_table()
    rows = [
        MetricRow(7, d, "campaign", "Welcome", {"delivered": 100 + n, "opened": 40, "clicked": 4})
        for n, d in enumerate([date(2026, 3, 8), date(2026, 3, 9)])
    ]
    ms.upsert(rows, updated_at="2026-03-10T00:00:00+00:00")
    ms.close()
    return st


def _client(store, dag_ids=None, authenticated=True):
    async def authorize(request: Request, dags: frozenset[str]) -> Viewer:
        if not authenticated:
            raise HTTPException(401, "Not authenticated")
        return Viewer("ada", None if dag_ids is None else dags & frozenset(dag_ids))

    app = create_app(lambda: store.engine, authorize=authorize, today=lambda: TODAY, clock=lambda: 1_100.0)
    return TestClient(app)


def test_page_shows_the_store_figures(store):
    html = _client(store).get("/").text
    people = re.search(r'<table data-capability="people">.*?</table>', html, re.S).group(0)
    for name, value in (("read", "1,200"), ("created", "40"), ("unchanged", "1,150"), ("rejected", "2")):
        assert _figures(people, name) == [value]
    assert _figures(html, "rejects_total") == ["124"]
    counts = dict(re.findall(r'data-figure="rejects" data-reason="([^"]+)">([^<]*)<', html))
    assert counts == {"invalid_email": "120", "brevo_rejected": "3", "list_full": "1"}
    # the drill-down opens on the biggest reason, newest first, one page of 50
    assert _figures(html, "record_id")[:2] == ["cio_119", "cio_118"] and len(_figures(html, "record_id")) == 50
    assert _figures(html, "delivered") == ["201"] and _figures(html, "opened") == ["80"]
    assert "<svg" in html and "Welcome" in html
    assert _figures(html, "webhook_received") == ["14"]  # 9 stored + 2 duplicates + 3 refused
    assert _figures(html, "webhook_forwarded") == ["2"] and _figures(html, "webhook_unforwarded") == ["2"]
    assert _figures(html, "webhook_oldest_age_s") == ["98"]  # e2 received at 1002, now 1100
    assert 'data-reason="unauthorized.bad_signature">3<' in html


def test_drill_down_pages_through_a_reason(store):
    client = _client(store)
    seen: list[str] = []
    url = "/?reason=invalid_email"
    while url:
        html = client.get(url).text
        seen += _figures(html, "record_id")
        nxt = re.search(r'id="reject-next" href="\./\?([^"#]+)', html)
        url = f"/?{nxt.group(1).replace('&amp;', '&')}" if nxt else ""
    assert seen == [f"cio_{i}" for i in range(119, -1, -1)]
    page = client.get("/api/rejects", params={"reason": "invalid_email", "size": 100}).json()
    assert len(page["rows"]) == 100 and page["rows"][0]["identifiers"] == {"email": "bad119@"}
    rest = client.get("/api/rejects", params={"reason": "invalid_email", "before": page["next_before"]}).json()
    assert [r["record_id"] for r in rest["rows"]] == [f"cio_{i}" for i in range(19, -1, -1)]
    assert rest["next_before"] is None


def test_csv_download(store):
    resp = _client(store).get("/rejects.csv", params={"reason": "brevo_rejected"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [r["record_id"] for r in rows] == ["cio_x0", "cio_x1", "cio_x2"]
    assert {r["message"] for r in rows} == {"duplicate SMS"}
    everything = list(csv.DictReader(io.StringIO(_client(store).get("/rejects.csv").text)))
    assert len(everything) == 124


def test_viewer_sees_only_their_dags(store):
    client = _client(store, dag_ids={"customerio_segments_to_brevo_lists"})
    status = client.get("/api/status").json()
    assert status["rejects_by_reason"] == {"list_full": 1}
    assert status["runs"]["people"] == [] and status["runs"]["segments"][0]["run_id"] == "run_b"
    html = client.get("/?reason=invalid_email").text
    assert "cio_" not in html and "bad1" not in html
    assert "cio_" not in client.get("/rejects.csv").text
    assert _client(store, dag_ids={"another_dag"}).get("/api/status").status_code == 403


def test_no_data_without_a_session(store):
    client = _client(store, authenticated=False)
    for path in ("/", "/api/status", "/rejects.csv", "/api/rejects?reason=invalid_email"):
        resp = client.get(path, headers={"accept": "text/html"})
        assert resp.status_code == 401
        assert "cio_" not in resp.text and "bad1" not in resp.text and "1,200" not in resp.text


def test_bad_date_range_names_the_parameter(store):
    resp = _client(store).get("/api/status", params={"from": "2026-13-01"})
    assert resp.status_code == 400 and "from" in resp.json()["detail"]


def test_webhook_health_of_an_empty_inbox(tmp_path):
    health = StatusQueries(SyncStore.at(tmp_path / "empty.db").engine).webhook_health()
    assert health.statuses == {} and health.oldest_unforwarded_at is None and health.received == 0


def test_receiver_counters_reach_the_store(tmp_path):
    """The receiver's counters (refusals by reason, duplicates) outlive its process: they are in the store."""
    import json as _json

    from airflow_provider_customerio.webhooks.receiver import ReceiverSettings
    from airflow_provider_customerio.webhooks.receiver import create_app as receiver_app
    from airflow_provider_customerio.webhooks.signature import sign_headers

    st = SyncStore.at(tmp_path / "state.db")
    app = receiver_app(
        ReceiverSettings(
            keys=lambda: ["k1"],
            store_factory=lambda: EventStore(st.engine),
            counts_sink=lambda deltas: st.add_counts("webhook_receiver", deltas),
            counts_interval=3600,  # flushed by hand below
        )
    )
    client = TestClient(app)
    body = _json.dumps({"event_id": "01HX", "metric": "opened", "timestamp": 1, "data": {}}).encode()
    for _ in range(2):
        assert client.post("/webhooks", content=body, headers=sign_headers("k1", body)).status_code == 200
    bad = client.post("/webhooks", content=body, headers={**sign_headers("k1", body), "X-CIO-Signature": "00"})
    assert bad.status_code == 401
    app.state.counts_flusher.flush()
    assert st.counts("webhook_receiver") == {
        "stored": 1,
        "duplicate": 1,
        "unauthorized": 1,
        "unauthorized.bad_signature": 1,
    }
    app.state.writer.close()
    health = StatusQueries(st.engine).webhook_health()
    assert health.received == 3 and health.statuses == {"pending": 1}


def test_segment_mirror_figures_are_shown_under_the_common_names(tmp_path):
    st = SyncStore.at(tmp_path / "state.db")
    st.record_summary("segments", "d", "r", "t", {"segment_size": 30, "added": 5, "removed": 2, "unchanged": 23})
    html = _client(st).get("/").text
    seg = re.search(r'<table data-capability="segments">.*?</table>', html, re.S).group(0)
    assert [_figures(seg, n) for n in ("read", "created", "deleted", "unchanged")] == [["30"], ["5"], ["2"], ["23"]]


def test_every_run_figure_is_a_number_or_marked_missing(tmp_path):
    """The campaign metrics' and the segment mirror's summaries fill every figure they have (days read, rows
    inserted, lifecycle attributes updated); a figure a summary lacks is shown as "–", never as an empty cell."""
    st = SyncStore.at(tmp_path / "state.db")
    st.record_summary(
        "campaign_metrics",
        "customerio_campaign_metrics",
        "r",
        "load_metrics.0",
        {"days_read": 7, "inserted": 5, "updated": 2, "unchanged": 0, "rejected": 0},
    )
    st.record_summary(
        "segments",
        "customerio_segments_to_brevo_lists",
        "r",
        "mirror_segment.0",
        {"segment_size": 30, "added": 5, "lifecycle_updated": 4, "removed": 2, "unchanged": 23, "rejected": 1},
    )
    html = _client(st).get("/").text
    figures = ("read", "created", "updated", "unchanged", "deleted", "rejected")
    metrics = re.search(r'<table data-capability="campaign_metrics">.*?</table>', html, re.S).group(0)
    assert [_figures(metrics, n) for n in figures] == [["7"], ["5"], ["2"], ["0"], ["–"], ["0"]]
    seg = re.search(r'<table data-capability="segments">.*?</table>', html, re.S).group(0)
    assert [_figures(seg, n) for n in figures] == [["30"], ["5"], ["4"], ["23"], ["2"], ["1"]]
    assert _figures(seg, "retries") == _figures(seg, "rate_limited") == ["–"]


def test_a_full_runs_open_window_is_named_by_its_mode(tmp_path):
    st = SyncStore.at(tmp_path / "state.db")
    summary = {"mode": "full", "window": {"start": None, "end": None}, "read": 3, "created": 3}
    st.record_summary("people", "customerio_people_to_brevo", "r", "load_brevo_contacts", summary)
    html = _client(st).get("/").text
    people = re.search(r'<table data-capability="people">.*?</table>', html, re.S).group(0)
    assert "null" not in people and '<td class="l">full</td>' in people


def test_the_store_is_named_without_a_path(tmp_path, airflow_conn):
    """The page names the store by its kind and connection, never by a file path or host of the machine."""
    from airflow_provider_customerio.store.engine import dispose_all

    st = SyncStore.at(tmp_path / "state.db")
    html = _client(st).get("/").text
    assert "store: SQLite file (embedded: no connection customerio_sync_store)" in html
    assert str(tmp_path) not in html and "state.db" not in html
    db = tmp_path / "shared.db"
    airflow_conn("customerio_sync_store", conn_type="sqlite", host=str(db))
    dispose_all()
    try:
        shared = SyncStore.open()
        html = _client(shared).get("/").text
        assert "store: SQLite (connection customerio_sync_store)" in html and str(tmp_path) not in html
    finally:
        dispose_all()
