"""The ``cio_people`` read lag: Track writes are accepted at once and read ``lag`` seconds (sandbox clock) later by
App API person reads, search and export files, with the old values' ``timestamps``. Off unless set."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.integration.conftest import SandboxClient

pytestmark = pytest.mark.integration


def _track(sb: SandboxClient, ident: str, attrs: dict[str, Any]) -> None:
    resp = sb.http.put(f"{sb.track_url}/api/v1/customers/{ident}", json=attrs, auth=sb.track_auth, timeout=30)
    assert resp.status_code == 200, resp.text


def _app(sb: SandboxClient, method: str, path: str, body: Any = None, **params: Any) -> Any:
    resp = sb.http.request(method, f"{sb.app_url}{path}", json=body, params=params, headers=sb.app_headers, timeout=30)
    return resp


def _attributes(sb: SandboxClient, ident: str) -> dict[str, Any] | None:
    resp = _app(sb, "GET", f"/v1/customers/{ident}/attributes")
    return None if resp.status_code == 404 else resp.json()["customer"]


def _search(sb: SandboxClient, plan: str) -> set[str]:
    flt = {"filter": {"attribute": {"field": "plan", "operator": "eq", "value": plan}}}
    return set(_app(sb, "POST", "/v1/customers", flt).json()["ids"] or [])


def _export(sb: SandboxClient) -> dict[str, dict[str, str]]:
    flt = {"attribute": {"field": "cio_id", "operator": "exists"}}
    export = _app(sb, "POST", "/v1/exports/customers", {"filters": flt, "attributes": ["plan"]}).json()["export"]
    while _app(sb, "GET", f"/v1/exports/{export['id']}").json()["export"]["status"] != "done":
        pass
    url = _app(sb, "GET", f"/v1/exports/{export['id']}/download").json()["url"]
    rows = csv.DictReader(io.StringIO(sb.http.get(url, timeout=30).text))
    return {r["id"]: r for r in rows}


@pytest.fixture
def sb(sandbox: SandboxClient) -> SandboxClient:
    sandbox.ratelimits(enabled=False)
    sandbox._call("PUT", "/clock", json={"frozen": True})
    # a frozen clock holds background work: Brevo processes and Customer.io exports end on polls instead
    sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": None})
    sandbox._call("PUT", "/customerio/settings", json={"export_rate_per_s": None})
    return sandbox


def test_cio_people_lag_is_off_by_default_and_listed(sb: SandboxClient) -> None:
    assert sb._call("GET", "/lag")["cio_people"] == 0.0
    _track(sb, "p1", {"plan": "free"})
    _track(sb, "p1", {"plan": "pro"})
    assert _attributes(sb, "p1")["attributes"]["plan"] == "pro"  # consistent at once


def test_reads_show_the_person_before_writes_younger_than_the_lag(sb: SandboxClient) -> None:
    _track(sb, "p1", {"plan": "free", "email": "p1@example.com"})
    old = _attributes(sb, "p1")
    assert sb._call("PUT", "/lag", json={"cio_people": 60})["cio_people"] == 60.0

    _track(sb, "p1", {"plan": "pro"})  # accepted (200) ...
    _track(sb, "p2", {"plan": "pro"})  # a person created within the lag

    stale = _attributes(sb, "p1")  # ... not yet read
    assert stale["attributes"]["plan"] == "free" and stale["timestamps"] == old["timestamps"]
    assert _attributes(sb, "p2") is None
    batch = _app(sb, "POST", "/v1/customers/attributes", {"ids": ["p1", "p2"]}, id_type="id").json()["customers"]
    assert [(c["id"], c["attributes"]["plan"]) for c in batch] == [("p1", "free")]
    found = _app(sb, "GET", "/v1/customers", email="p1@example.com").json()["results"]
    assert [r["id"] for r in found] == ["p1"]
    assert _search(sb, "pro") == set() and _search(sb, "free") == {"p1"}
    assert {k: r["plan"] for k, r in _export(sb).items()} == {"p1": "free"}
    assert sb.person("p1", "id")["attributes"]["plan"] == "pro"  # the control plane shows the true state

    sb._call("POST", "/clock/advance", json={"seconds": 59})
    assert _attributes(sb, "p1")["attributes"]["plan"] == "free"
    sb._call("POST", "/clock/advance", json={"seconds": 1})
    fresh = _attributes(sb, "p1")
    assert fresh["attributes"]["plan"] == "pro" and fresh["timestamps"]["plan"] >= old["timestamps"]["plan"]
    assert _attributes(sb, "p2")["attributes"]["plan"] == "pro"
    assert _search(sb, "pro") == {"p1", "p2"}
    assert {k: r["plan"] for k, r in _export(sb).items()} == {"p1": "pro", "p2": "pro"}


def test_a_later_write_keeps_its_own_lag_and_a_deleted_person_stays_readable(sb: SandboxClient) -> None:
    _track(sb, "p1", {"plan": "free"})
    _track(sb, "p3", {"plan": "free"})
    sb._call("PUT", "/lag", json={"cio_people": 30})
    _track(sb, "p1", {"plan": "pro"})
    sb._call("POST", "/clock/advance", json={"seconds": 20})
    _track(sb, "p1", {"plan": "team"})
    assert sb.http.delete(f"{sb.track_url}/api/v1/customers/p3", auth=sb.track_auth, timeout=30).status_code == 200
    assert _attributes(sb, "p3")["attributes"]["plan"] == "free"  # deleted, still read
    sb._call("POST", "/clock/advance", json={"seconds": 10})
    assert _attributes(sb, "p1")["attributes"]["plan"] == "pro"  # the first write shows, not yet the second
    sb._call("POST", "/clock/advance", json={"seconds": 20})
    assert _attributes(sb, "p1")["attributes"]["plan"] == "team"
    assert _attributes(sb, "p3") is None


def test_turning_the_lag_off_shows_every_write(sb: SandboxClient) -> None:
    _track(sb, "p1", {"plan": "free"})
    sb._call("PUT", "/lag", json={"cio_people": 30})
    _track(sb, "p1", {"plan": "pro"})
    assert _attributes(sb, "p1")["attributes"]["plan"] == "free"
    sb._call("PUT", "/lag", json={"cio_people": 0})
    assert _attributes(sb, "p1")["attributes"]["plan"] == "pro"


def test_segments_follow_the_true_state_on_their_own_lag(sb: SandboxClient) -> None:
    """The people lag is about reads of people: a dynamic segment is rebuilt from the written state (its own
    ``cio_segments`` lag, 0 here), so it does not stay stuck on the old values once the person lag passes."""
    _track(sb, "p1", {"plan": "free"})
    seg = _app(sb, "POST", "/v1/segments", {"segment": {"name": "Pro"}}).json()["segment"]["id"]
    sb._call("PUT", f"/customerio/segments/{seg}/rule", json={"attribute": "plan", "equals": "pro"})
    sb._call("PUT", "/lag", json={"cio_people": 30})
    _track(sb, "p1", {"plan": "pro"})
    ids = _app(sb, "GET", f"/v1/segments/{seg}/membership").json()["ids"]
    assert ids == ["p1"] and _search(sb, "pro") == set()  # the member is listed; the search reads the lag
    sb._call("POST", "/clock/advance", json={"seconds": 30})
    assert _search(sb, "pro") == {"p1"}
