"""The Brevo emulation as mounted by the sandbox core (the session ``sandbox`` fixture): one world, one port."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


def test_mounted_brevo_serves_seeded_account_with_ratelimit_headers(sandbox) -> None:  # type: ignore[no-untyped-def]
    resp = requests.get(f"{sandbox.brevo_url}/contacts/lists", headers=sandbox.brevo_headers, timeout=30)
    assert resp.status_code == 200
    assert {lst["id"]: lst["name"] for lst in resp.json()["lists"]} == {
        14: "Churned",
        13: "Active subscribers",
        12: "All contacts",
    }
    assert resp.headers["x-sib-ratelimit-limit"].isdigit()
    assert int(resp.headers["x-sib-ratelimit-remaining"]) < int(resp.headers["x-sib-ratelimit-limit"])
    missing = requests.get(f"{sandbox.brevo_url}/no/such/path", headers=sandbox.brevo_headers, timeout=30)
    assert missing.status_code == 404 and missing.json()["code"] == "document_not_found"
    unauthorised = requests.get(f"{sandbox.brevo_url}/contacts", timeout=30)
    assert unauthorised.json() == {"code": "unauthorized", "message": "authentication not found in headers"}


def test_mounted_import_round_trip_and_control_plane(sandbox) -> None:  # type: ignore[no-untyped-def]
    headers = sandbox.brevo_headers
    sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": None})  # poll-driven: ends on poll 2
    rows = [{"email": f"m{i}@example.com", "attributes": {"PLAN_NAME": "pro"}} for i in range(3)] + [{"email": "nope"}]
    resp = requests.post(
        f"{sandbox.brevo_url}/contacts/import", json={"jsonBody": rows, "listIds": [12]}, headers=headers, timeout=30
    )
    assert resp.status_code == 202
    pid = resp.json()["processId"]
    statuses = [
        requests.get(f"{sandbox.brevo_url}/processes/{pid}", headers=headers, timeout=30).json()["status"]
        for _ in range(2)
    ]
    assert statuses == ["processing", "completed"]
    control = sandbox.control_url + "/brevo"
    contacts = requests.get(f"{control}/contacts", timeout=30).json()
    assert sorted(c["email"] for c in contacts["contacts"]) == ["m0@example.com", "m1@example.com", "m2@example.com"]
    detail = requests.get(f"{control}/processes/{pid}", timeout=30).json()
    assert [r["index"] for r in detail["sandbox"]["rejected"]] == [3]


def test_get_events_lists_custom_events_newest_first(sandbox):
    import requests

    headers = sandbox.brevo_headers
    base = sandbox.brevo_url
    for i, name in enumerate(["ORDER_PLACED", "FEATURE_USED", "ORDER_PLACED"]):
        resp = requests.post(
            f"{base}/events",
            headers=headers,
            json={
                "event_name": name,
                "identifiers": {"email_id": f"p{i}@example.com"},
                "event_date": f"2026-03-0{i + 1}T10:00:00Z",
                "event_properties": {"n": i},
            },
            timeout=10,
        )
        assert resp.status_code == 204, resp.text
    body = requests.get(f"{base}/events", headers=headers, params={"event_name": "ORDER_PLACED"}, timeout=10).json()
    assert body["count"] == 2
    assert [e["event_properties"]["n"] for e in body["events"]] == [2, 0]
    window = requests.get(
        f"{base}/events", headers=headers, params={"startDate": "2026-03-02", "endDate": "2026-03-02"}, timeout=10
    ).json()
    assert [e["event_name"] for e in window["events"]] == ["FEATURE_USED"]
    bad = requests.get(f"{base}/events", headers=headers, params={"startDate": "2026-03-02"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameter"
