"""CustomerIOTrackHook with requests-mock: connection test, events, batches."""

from __future__ import annotations

import json


# ---------------------------------------------------------------------------------------------- Track
def test_track_connection_reports_region_mismatch(track, requests_mock):
    requests_mock.get(
        "https://track.customer.io/api/v1/accounts/region",
        json={"url": "https://track-eu.customer.io", "region": "eu", "environment_id": 7},
    )
    ok, message = track.test_connection()
    assert ok
    assert "region 'eu'" in message and "set the extra field region='eu'" in message


def test_track_event_payload(track, requests_mock):
    requests_mock.post("https://track.customer.io/api/v1/customers/7/events", json={})
    track.track_event("7", "purchase_completed", {"total": 3}, event_id="01HX", timestamp=1700000000)
    assert requests_mock.last_request.json() == {
        "name": "purchase_completed",
        "data": {"total": 3},
        "id": "01HX",
        "timestamp": 1700000000,
    }


def test_track_batch_207_surfaced(track, requests_mock):
    requests_mock.post(
        "https://track.customer.io/api/v2/batch",
        status_code=207,
        json={"errors": [{"batch_index": 1, "reason": "invalid", "field": "identifiers", "message": "missing"}]},
    )
    ops = [
        {"type": "person", "action": "identify", "identifiers": {"id": "1"}, "attributes": {}},
        {"type": "person", "action": "identify", "identifiers": {}, "attributes": {}},
    ]
    result = track.batch(ops)
    assert result.status == 207
    assert not result.ok
    assert result.failed_indexes == {1}
    assert result.errors[0]["field"] == "identifiers"
    assert requests_mock.last_request.json() == {"batch": ops}


def test_track_batch_all_ok(track, requests_mock):
    requests_mock.post("https://track.customer.io/api/v2/batch", json={})
    assert track.batch([{"type": "person", "action": "delete", "identifiers": {"id": "1"}}]).ok


def test_track_batch_body_is_compact_utf8_json_with_its_content_type(track, requests_mock):
    requests_mock.post("https://track.customer.io/api/v2/batch", json={})
    attrs = {"name": "Zoë", "n": 1.5}
    ops = [{"type": "person", "action": "identify", "identifiers": {"id": "1"}, "attributes": attrs}]
    track.batch(ops)
    sent = requests_mock.last_request
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == json.dumps({"batch": ops}, separators=(",", ":"), ensure_ascii=False).encode()
    track.batch([{**ops[0], "attributes": {"score": float("nan")}}])  # json.dumps would send invalid JSON (NaN)
    assert requests_mock.last_request.json()["batch"][0]["attributes"] == {"score": None}
