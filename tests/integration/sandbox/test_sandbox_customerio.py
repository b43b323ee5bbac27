"""Behaviour of the sandbox's Customer.io emulation (Track v1/v2 + App API), over real HTTP."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

MATCH_ALL = {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}


class CIO:
    """Tiny client for the tests: Track with Basic auth, App with Bearer."""

    def __init__(self, sandbox: Any) -> None:
        self.sb = sandbox
        self.track = requests.Session()
        self.track.auth = sandbox.track_auth
        self.app = requests.Session()
        self.app.headers.update(sandbox.app_headers)

    def identify(self, ident: str, **attrs: Any) -> requests.Response:
        return self.track.put(f"{self.sb.track_url}/api/v1/customers/{ident}", json=attrs, timeout=30)

    def event(self, ident: str, body: dict[str, Any]) -> requests.Response:
        return self.track.post(f"{self.sb.track_url}/api/v1/customers/{ident}/events", json=body, timeout=30)

    def v2(self, path: str, body: Any) -> requests.Response:
        return self.track.post(f"{self.sb.track_url}/api/v2/{path}", json=body, timeout=30)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.app.get(f"{self.sb.app_url}{path}", params=params, timeout=60)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.app.post(f"{self.sb.app_url}{path}", json=body, params=params, timeout=60)

    def attrs(self, ident: str, id_type: str = "id") -> dict[str, Any] | None:
        resp = self.get(f"/v1/customers/{ident}/attributes", id_type=id_type)
        return resp.json()["customer"] if resp.status_code == 200 else None

    def activities(self, **params: Any) -> list[dict[str, Any]]:
        return self.get("/v1/activities", limit=100, **params).json()["activities"]


@pytest.fixture
def cio(sandbox: Any) -> CIO:
    sandbox.ratelimits(enabled=False)
    return CIO(sandbox)


# ------------------------------------------------------------------------------------------ Track v1


def test_identify_creates_then_updates_and_app_returns_strings(cio: CIO, sandbox: Any) -> None:
    r = cio.identify("42", email="Ann@Example.com", plan="pro", seats=3, vip=True, created_at=1700000000)
    assert (r.status_code, r.json()) == (200, {})
    cio.identify("42", seats=4)
    customer = cio.attrs("42")
    assert customer["attributes"]["seats"] == "4"
    assert customer["attributes"]["vip"] == "true"
    assert customer["attributes"]["plan"] == "pro"
    assert customer["identifiers"]["email"] == "Ann@Example.com"
    typed = sandbox.person("42")
    assert typed["attributes"]["seats"] == 4  # the typed state keeps JSON types
    types = [a["type"] for a in cio.activities()]
    assert types.count("profile_create") == 1 and "attribute_change" in types
    change = next(a for a in cio.activities(type="attribute_change") if a.get("name") == "seats")
    assert change["data"] == {"seats": {"from": "3", "to": "4"}}


def test_update_only_never_creates_and_email_lookup_is_case_insensitive(cio: CIO, sandbox: Any) -> None:
    assert cio.identify("ghost", _update=True, plan="x").status_code == 200
    assert sandbox.person("ghost") is None
    assert sandbox.summary()["failed_attribute_changes"] == 1
    cio.identify("7", email="bob@example.com")
    cio.identify("BOB@example.com", plan="team")  # email path, other case: same person
    assert sandbox.person("7")["attributes"]["plan"] == "team"
    assert sandbox.summary()["people"] == 1


def test_unknown_path_id_with_known_body_email_updates_that_person(cio: CIO, sandbox: Any) -> None:
    cio.identify("old-id", email="carol@example.com")
    cio.identify("new-id", email="carol@example.com", role="admin")  # rule 8: gets the new id
    person = sandbox.person("new-id")
    assert person is not None and person["email"] == "carol@example.com" and person["attributes"]["role"] == "admin"
    assert sandbox.person("old-id") is None and sandbox.summary()["people"] == 1


def test_changing_email_needs_the_cio_path(cio: CIO, sandbox: Any) -> None:
    cio.identify("9", email="d1@example.com")
    cio.identify("9", email="d2@example.com")  # refused: recorded as a failed attribute change, still 200
    assert sandbox.person("9")["email"] == "d1@example.com"
    cio_id = sandbox.person("9")["cio_id"]
    cio.identify(f"cio_{cio_id}", email="d2@example.com")
    assert sandbox.person("9")["email"] == "d2@example.com"
    assert cio.identify("cio_ffffffff", plan="x").status_code == 200  # unknown cio_: dropped
    assert sandbox.summary()["people"] == 1


def test_identifiers_are_split_on_the_raw_path(cio: CIO, sandbox: Any) -> None:
    assert cio.identify("a%2Fb", plan="slash").status_code == 200
    assert cio.identify("x+y@example.com", plan="plus").status_code == 200
    assert sandbox.person("a/b", id_type="id")["attributes"]["plan"] == "slash"
    assert sandbox.person("x+y@example.com", id_type="email")["attributes"]["plan"] == "plus"


def test_events_are_deduplicated_by_id_and_limits_give_400(cio: CIO, sandbox: Any) -> None:
    cio.identify("e1")
    body = {"name": " purchase_completed ", "id": "01J0000000000000000000000A", "data": {"amount": 10}}
    assert cio.event("e1", body).status_code == 200
    assert cio.event("e1", body).status_code == 200
    events = requests.get(f"{sandbox.control_url}/state/customerio/events", timeout=30).json()
    assert events["count"] == 1 and events["events"][0]["name"] == "purchase_completed"
    bad = cio.event("e1", {"data": {}})
    assert bad.status_code == 400 and "name" in bad.json()["meta"]["errors"][0]
    big = cio.identify("e1", bio="x" * 1001)
    assert big.status_code == 400 and "bio" in big.json()["meta"]["errors"][0]


def test_suppress_blocks_the_identifier_until_unsuppressed(cio: CIO, sandbox: Any) -> None:
    cio.identify("s1", email="s1@example.com")
    assert cio.track.post(f"{sandbox.track_url}/api/v1/customers/s1/suppress", timeout=30).status_code == 200
    cio.identify("s1", plan="back")
    assert sandbox.person("s1") is None
    cio.track.post(f"{sandbox.track_url}/api/v1/customers/s1/unsuppress", timeout=30)
    cio.identify("s1", plan="fresh")
    assert sandbox.person("s1")["attributes"] == {"plan": "fresh"}  # a fresh profile, no history


def test_merge_keeps_primary_and_deletes_secondary(cio: CIO, sandbox: Any) -> None:
    cio.identify("p1", plan="pro")
    cio.identify("p2", email="p2@example.com", role="owner", plan="free")
    r = cio.track.post(
        f"{sandbox.track_url}/api/v1/merge_customers",
        json={"primary": {"id": "p1"}, "secondary": {"id": "p2"}},
        timeout=30,
    )
    assert r.status_code == 200
    merged = sandbox.person("p1")
    assert merged["attributes"] == {"plan": "pro", "role": "owner"} and merged["email"] == "p2@example.com"
    assert sandbox.person("p2") is None
    assert "profile_merge" in [a["type"] for a in cio.activities(deleted="true")]
    bad = cio.track.post(
        f"{sandbox.track_url}/api/v1/merge_customers",
        json={"primary": {"id": "p1", "email": "x"}, "secondary": {"id": "p2"}},
        timeout=30,
    )
    assert bad.status_code == 400 and "primary" in bad.json()["meta"]["error"]


def test_delete_produces_profile_delete_visible_only_with_deleted_true(cio: CIO, sandbox: Any) -> None:
    cio.identify("gone", plan="x")
    assert cio.track.delete(f"{sandbox.track_url}/api/v1/customers/gone", json={}, timeout=30).status_code == 200
    assert cio.attrs("gone") is None
    assert "profile_delete" in [a["type"] for a in cio.activities(deleted="true")]
    assert "profile_delete" not in [a["type"] for a in cio.activities()]


# ------------------------------------------------------------------------------------------ Track v2


def test_v2_batch_207_reports_bad_ops_and_applies_good_ones(cio: CIO, sandbox: Any) -> None:
    ops = [
        {"type": "person", "identifiers": {"id": "b1"}, "action": "identify", "attributes": {"plan": "pro"}},
        {"type": "person", "identifiers": {"id": "b2", "email": "b2@example.com"}, "action": "identify"},
        {"type": "person", "identifiers": {"email": "b3@example.com"}, "action": "event", "name": "feature_activated"},
        {"type": "person", "identifiers": {"id": "b4"}, "action": "identify", "attributes": {"blob": "x" * 33_000}},
        {"type": "person", "identifiers": {"id": "b5"}, "action": "fly"},
    ]
    r = cio.v2("batch", {"batch": ops})
    assert r.status_code == 207
    errors = r.json()["errors"]
    assert [e["batch_index"] for e in errors] == [1, 3, 4]
    assert {"reason", "field", "message"} <= set(errors[0])
    assert sandbox.person("b1")["attributes"]["plan"] == "pro"
    assert sandbox.person("b3@example.com", id_type="email") is not None
    assert sandbox.person("b2") is None and sandbox.person("b4") is None


def test_v2_request_limits_and_entity_errors(cio: CIO) -> None:
    op = {"type": "person", "identifiers": {"id": "big"}, "action": "identify", "attributes": {"a": "x" * 900}}
    r = cio.v2("batch", {"batch": [op] * 600})  # > 500 KB
    assert r.status_code == 400 and r.json()["errors"][0]["reason"] == "too_large"
    r = cio.v2("entity", {"type": "person", "identifiers": {}, "action": "identify"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "identifiers"
    assert cio.v2("entity", {"type": "person", "identifiers": {"cio_id": "nope"}, "action": "delete"}).json() == {}


def test_v2_objects_and_relationships_are_visible_in_app_api(cio: CIO) -> None:
    cio.identify("rel-1", email="rel1@example.com")
    ops = [
        {
            "type": "object",
            "identifiers": {"object_type_id": "1", "object_id": "newco"},
            "action": "identify",
            "attributes": {"name": "NewCo", "employees": 12},
            "cio_relationships": [{"identifiers": {"id": "rel-1"}, "relationship_attributes": {"role": "admin"}}],
        },
    ]
    assert cio.v2("batch", {"batch": ops}).status_code == 200
    obj = cio.get("/v1/objects/1/newco/attributes").json()["object"]
    assert obj["attributes"]["employees"] == "12" and obj["identifiers"]["object_id"] == "newco"
    rels = cio.get("/v1/objects/1/newco/relationships").json()
    assert [r["identifiers"]["id"] for r in rels["cio_relationships"]] == ["rel-1"]
    found = cio.post(
        "/v1/objects",
        {
            "object_type_id": "1",
            "filter": {"object_attribute": {"type_id": "1", "field": "name", "operator": "eq", "value": "NewCo"}},
        },
    ).json()
    assert found["ids"] == ["newco"]


# --------------------------------------------------------------------------------------- region / auth


def test_region_endpoint_and_wrong_region_behaviour(cio: CIO, sandbox: Any) -> None:
    r = cio.track.get(f"{sandbox.track_url}/api/v1/accounts/region", timeout=30)
    assert r.json()["region"] == "us" and r.json()["url"] == "https://track.customer.io"
    eu_app = sandbox.app_url.replace("/app", "/app-eu")
    eu_track = sandbox.track_url.replace("/track", "/track-eu")
    assert cio.app.get(f"{eu_app}/v1/campaigns", timeout=30).status_code == 401
    assert cio.track.put(f"{eu_track}/api/v1/customers/1", json={}, timeout=30).status_code == 401
    sandbox.settings(region="eu")
    assert cio.app.get(f"{sandbox.app_url}/v1/campaigns", timeout=30).status_code == 401
    assert cio.app.get(f"{eu_app}/v1/campaigns", timeout=30).status_code == 200
    r = cio.track.put(f"{sandbox.track_url}/api/v1/customers/1", json={}, allow_redirects=False, timeout=30)
    assert r.status_code == 301 and r.headers["Location"] == "/track-eu/api/v1/customers/1"
    assert "wrong datacenter" in r.json()["meta"]["errors"][0]
    assert cio.track.get(f"{eu_track}/api/v1/accounts/region", timeout=30).json()["region"] == "eu"


def test_bad_auth_and_unknown_paths_use_vendor_bodies(sandbox: Any) -> None:
    r = requests.put(f"{sandbox.track_url}/api/v1/customers/1", json={}, auth=("sandbox-site", "wrong"), timeout=30)
    assert r.status_code == 401 and "errors" in r.json()["meta"]
    r = requests.get(f"{sandbox.app_url}/v1/campaigns", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert r.status_code == 401 and r.json()["errors"][0]["status"] == "401"
    r = requests.get(f"{sandbox.app_url}/v1/nothing-here", headers=sandbox.app_headers, timeout=30)
    assert r.status_code == 404 and r.json()["errors"][0]["detail"]
    r = requests.post(f"{sandbox.track_url}/api/v1/nothing", json={}, auth=sandbox.track_auth, timeout=30)
    assert r.status_code == 404 and r.json()["meta"]["errors"]


# ------------------------------------------------------------------------------------------ App API


@pytest.fixture
def seeded(cio: CIO, sandbox: Any) -> dict[str, Any]:
    return sandbox.seed(people=2000, segments=[700, 50], campaigns=3, days=5, objects=7, seed=5, now=1_790_000_000)


def test_seed_is_deterministic_and_realistic(cio: CIO, sandbox: Any) -> None:
    first = sandbox.seed(people=500, seed=9, now=1_790_000_000)
    ids = [f"a3{i:06x}" for i in range(1, 501, 7)]
    a = cio.post("/v1/customers/attributes", {"ids": ids}, id_type="cio_id").json()["customers"]
    again = sandbox.seed(people=500, seed=9, now=1_790_000_000)
    b = cio.post("/v1/customers/attributes", {"ids": ids}, id_type="cio_id").json()["customers"]
    assert first == again and a == b and len(a) > 60
    sandbox.seed(people=500, seed=10, now=1_790_000_000)
    c = cio.post("/v1/customers/attributes", {"ids": ids}, id_type="cio_id").json()["customers"]
    assert [x["attributes"].get("first_name") for x in c] != [x["attributes"].get("first_name") for x in a]
    sandbox.seed(people=3000, seed=9, now=1_790_000_000)
    people = []
    for start in range(0, 3000, 100):
        chunk = [f"a3{i:06x}" for i in range(start + 1, start + 101)]
        people += cio.post("/v1/customers/attributes", {"ids": chunk}, id_type="cio_id").json()["customers"]
    attrs = [p["attributes"] for p in people]
    required = {
        "first_name",
        "last_name",
        "created_at",
        "last_activity",
        "plan",
        "company",
        "role",
        "mrr",
        "lifecycle_stage",
    }
    assert all(required <= set(x) for x in attrs)
    assert any("email" not in x for x in attrs)  # some without email
    assert any("email" in x and x["email"].count("@") != 1 or "..com" in x.get("email", "") for x in attrs)
    assert any(len(x.get("notes", "")) > 900 for x in attrs)  # oversized attribute
    phones = [x["phone"] for x in attrs if "phone" in x]
    assert any(p.startswith("+1") and p[1:].isdigit() for p in phones) and any(not p.startswith("+") for p in phones)
    assert any(p["id"] == "" for p in people)  # email-only people


def test_campaign_metrics_v1_and_v2(cio: CIO, seeded: dict[str, Any]) -> None:
    assert [c["id"] for c in cio.get("/v1/campaigns").json()["campaigns"]] == [1, 2, 3]
    series = cio.get("/v1/campaigns/1/metrics", period="days", steps=5).json()["metric"]["series"]
    assert len(series["sent"]) == 5 and sum(series["sent"]) > 0
    assert all(d <= s for d, s in zip(series["delivered"], series["sent"]))
    assert len(cio.get("/v1/campaigns/1/metrics", period="days", steps=1).json()["metric"]["series"]["sent"]) == 2
    assert len(cio.get("/v1/campaigns/1/metrics", period="hours").json()["metric"]["series"]["sent"]) == 24
    v2 = cio.get("/v1/campaigns/1/metrics", version=2, res="hours", start=1_789_900_000, end=1_789_999_999)
    # hourly buckets from the hour containing start through the one containing end
    assert len(v2.json()["metric"]["series"]["opened"]) == len(range(1_789_898_400, 1_789_999_999 + 1, 3600)) == 29
    assert cio.get("/v1/campaigns/1/metrics", version=2, start=1, end=2).status_code == 400
    assert cio.get("/v1/campaigns/99").status_code == 404


def test_segments_states_and_membership_paging(cio: CIO, seeded: dict[str, Any]) -> None:
    segments = {s["id"]: s for s in cio.get("/v1/segments").json()["segments"]}
    assert {s["state"] for s in segments.values()} == {"finished", "build"}
    empty = next(s["id"] for s in segments.values() if s["name"].startswith("Nobody"))
    r = cio.get(f"/v1/segments/{empty}/membership").json()
    assert r["identifiers"] is None and r["ids"] is None and r["next"] == ""
    count = cio.get("/v1/segments/1/customer_count").json()["count"]
    seen, start, pages = [], None, 0
    while True:
        params = {"limit": 300, **({"start": start} if start else {})}
        body = cio.get("/v1/segments/1/membership", **params).json()
        seen += [x["cio_id"] for x in body["identifiers"] or []]
        pages += 1
        start = body["next"]
        if not start:
            break
    assert len(seen) == len(set(seen)) == count and 650 <= count <= 700 and pages == -(-count // 300)
    assert cio.get("/v1/segments/1/membership", limit=30001).status_code == 400
    assert cio.get("/v1/segments/1/membership", start="not-a-token").status_code == 400


def test_people_search_filter_grammar(cio: CIO, seeded: dict[str, Any]) -> None:
    def ids(flt: dict[str, Any], limit: int = 1000) -> set[str]:
        out, start = set(), None
        while True:
            params = {"limit": limit, **({"start": start} if start else {})}
            body = cio.post("/v1/customers", {"filter": flt}, **params).json()
            out |= {x["cio_id"] for x in body["identifiers"] or []}
            start = body["next"]
            if not start:
                return out

    everyone = ids(MATCH_ALL, limit=700)
    pro = ids({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})
    free = ids({"attribute": {"field": "plan", "operator": "eq", "value": "free"}})
    seg = ids({"segment": {"id": 2}})
    assert len(everyone) > 1900 and pro and free and not pro & free
    assert (
        ids(
            {
                "or": [
                    {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
                    {"attribute": {"field": "plan", "operator": "eq", "value": "free"}},
                ]
            }
        )
        == pro | free
    )
    assert (
        ids(
            {
                "and": [
                    {"segment": {"id": 2}},
                    {"not": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}},
                ]
            }
        )
        == seg - pro
    )
    no_email = ids({"not": {"attribute": {"field": "email", "operator": "exists"}}})
    assert 0 < len(no_email) < 200
    r = cio.post("/v1/customers", {"filter": {"attribute": {"field": "plan", "operator": "gt", "value": "1"}}})
    assert r.status_code == 400 and "operator" in r.json()["errors"][0]["detail"]
    assert cio.post("/v1/customers", {"filter": MATCH_ALL}, limit=1001).status_code == 400
    none = cio.post("/v1/customers", {"filter": {"attribute": {"field": "plan", "operator": "eq", "value": "zz"}}})
    assert none.json() == {"identifiers": None, "ids": None, "next": ""}


def test_sparse_search_answers_short_pages_that_still_carry_next(
    cio: CIO, seeded: dict[str, Any], sandbox: Any
) -> None:
    sandbox.settings(search_scan_budget=500)
    flt = {"attribute": {"field": "plan", "operator": "eq", "value": "enterprise"}}
    pages, found, start = [], [], None
    while True:
        body = cio.post("/v1/customers", {"filter": flt}, limit=1000, **({"start": start} if start else {})).json()
        pages.append(len(body["ids"] or []))
        found += body["ids"] or []
        start = body["next"]
        if not start:
            break
    assert len(pages) == 4 and all(n < 500 for n in pages)  # 2000 people / 500 scanned per request
    sandbox.settings(search_scan_budget=100_000)
    whole = cio.post("/v1/customers", {"filter": flt}, limit=1000).json()
    assert whole["ids"] == found and whole["next"] == ""


def test_batch_and_single_attributes(cio: CIO, seeded: dict[str, Any], sandbox: Any) -> None:
    body = cio.post("/v1/customers/attributes", {"ids": ["a3000003", "nope", "a3000002"]}, id_type="cio_id").json()
    assert [c["identifiers"]["cio_id"] for c in body["customers"]] == ["a3000003", "a3000002"]
    assert all(isinstance(v, str) for c in body["customers"] for v in c["attributes"].values())
    assert cio.post("/v1/customers/attributes", {"ids": [str(i) for i in range(101)]}).status_code == 400
    assert cio.post("/v1/customers/attributes", {"ids": []}).status_code == 400
    single = cio.get("/v1/customers/a3000003/attributes", id_type="cio_id").json()["customer"]
    assert single["attributes"] == body["customers"][0]["attributes"]
    assert cio.get("/v1/customers/does-not-exist/attributes").status_code == 404
    sandbox.settings(wrap_customer_items=True)
    wrapped = cio.post("/v1/customers/attributes", {"ids": ["a3000003"]}, id_type="cio_id").json()
    assert wrapped["customers"][0]["customer"]["identifiers"]["cio_id"] == "a3000003"


def test_activities_newest_first_with_filters_and_paging(cio: CIO, seeded: dict[str, Any]) -> None:
    now = seeded["now"]
    page1 = cio.get("/v1/activities", limit=100).json()
    page2 = cio.get("/v1/activities", limit=100, start=page1["next"]).json()
    stamps = [a["timestamp"] for a in page1["activities"] + page2["activities"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {a["id"] for a in page1["activities"]}.isdisjoint(a["id"] for a in page2["activities"])
    assert cio.get("/v1/activities", limit=101).status_code == 400
    events = cio.get("/v1/activities", limit=100, type="event").json()["activities"]
    assert events and {a["type"] for a in events} == {"event"}
    assert {a["name"] for a in events} <= {
        "purchase_completed",
        "subscription_started",
        "feature_activated",
        "support_ticket_opened",
    }
    # an hourly data interval contains activities (newest-first reader stops at the window's start)
    window = []
    start = None
    while True:
        body = cio.get("/v1/activities", limit=100, deleted="true", **({"start": start} if start else {})).json()
        older = [a for a in body["activities"] if a["timestamp"] < now - 7200]
        window += [a for a in body["activities"] if now - 7200 <= a["timestamp"] < now - 3600]
        start = body["next"]
        if older or not start:
            break
    assert len(window) >= 3
    all_types = {a["type"] for a in cio.get("/v1/activities", limit=100, deleted="true").json()["activities"]}
    deleted_types = {
        a["type"]
        for a in cio.get("/v1/activities", limit=100, type="profile_delete", deleted="true").json()["activities"]
    }
    assert deleted_types == {"profile_delete"} and "attribute_change" in all_types


def test_messages_window_is_inclusive_and_newest_first(cio: CIO, seeded: dict[str, Any]) -> None:
    allm = cio.get("/v1/messages", limit=1000).json()["messages"]
    created = [m["created"] for m in allm]
    assert created == sorted(created, reverse=True)
    pivot = created[10]
    exact = cio.get("/v1/messages", start_ts=pivot, end_ts=pivot, limit=1000).json()["messages"]
    assert exact and {m["created"] for m in exact} == {pivot}
    lo, hi = created[50], created[20]
    window = cio.get("/v1/messages", start_ts=lo, end_ts=hi, limit=1000).json()["messages"]
    assert {m["id"] for m in window} == {m["id"] for m in allm if lo <= m["created"] <= hi}


def test_export_lifecycle_pending_done_download_csv(cio: CIO, seeded: dict[str, Any], sandbox: Any) -> None:
    sandbox.settings(export_rate_per_s=None)  # poll-driven (the clock-driven default: test_sandbox_unkind.py)
    flt = {"attribute": {"field": "plan", "operator": "eq", "value": "enterprise"}}
    export = cio.post("/v1/exports/customers", {"filters": flt, "attributes": ["plan", "mrr"]}).json()["export"]
    assert (export["status"], export["total"]) == ("pending", 0)
    assert cio.get(f"/v1/exports/{export['id']}/download").status_code == 400
    statuses = [cio.get(f"/v1/exports/{export['id']}").json()["export"] for _ in range(3)]
    assert [s["status"] for s in statuses] == ["pending", "done", "done"]
    url = cio.get(f"/v1/exports/{export['id']}/download").json()["url"]
    rows = list(csv.DictReader(io.StringIO(requests.get(url, timeout=60).text)))
    assert len(rows) == statuses[-1]["total"] > 0 and {r["plan"] for r in rows} == {"enterprise"}
    assert requests.get(url.split("?")[0] + "?sig=forged", timeout=30).status_code == 403
    sandbox.settings(fail_exports=True)
    failed = cio.post("/v1/exports/customers", {"filters": flt}).json()["export"]
    for _ in range(2):
        last = cio.get(f"/v1/exports/{failed['id']}").json()["export"]
    assert last["status"] == "failed" and last["failed"] is True


def test_object_types_objects_and_relationships(cio: CIO, seeded: dict[str, Any]) -> None:
    types = cio.get("/v1/object_types").json()["types"]
    assert types[0]["id"] == "1" and types[0]["name"] == "Companies"
    objs = cio.post(
        "/v1/objects",
        {
            "object_type_id": "1",
            "filter": {"object_attribute": {"type_id": "1", "field": "name", "operator": "exists"}},
        },
        limit=5,
    ).json()
    assert len(objs["ids"]) == 5 and objs["next"]
    first = objs["ids"][0]
    attrs = cio.get(f"/v1/objects/1/{first}/attributes").json()["object"]
    related, start = [], None
    while True:
        body = cio.get(f"/v1/objects/1/{first}/relationships", limit=100, **({"start": start} if start else {}))
        related += body.json()["cio_relationships"]
        start = body.json()["next"]
        if not start:
            break
    assert 250 <= len(related) <= 2000 // 7 + 1
    person = cio.get(f"/v1/customers/{related[0]['identifiers']['cio_id']}/attributes", id_type="cio_id").json()
    assert person["customer"]["attributes"]["company"] == attrs["attributes"]["name"]


def test_one_world_track_write_shows_in_search_and_segment_add(cio: CIO, seeded: dict[str, Any]) -> None:
    manual = next(s["id"] for s in cio.get("/v1/segments").json()["segments"] if s["type"] == "manual")
    cio.identify("1000001", plan="platinum")
    r = cio.track.post(
        f"{cio.sb.track_url}/api/v1/segments/{manual}/add_customers", json={"ids": ["1000001"]}, timeout=30
    )
    assert r.status_code == 200
    found = cio.post(
        "/v1/customers",
        {
            "filter": {
                "and": [
                    {"segment": {"id": manual}},
                    {"attribute": {"field": "plan", "operator": "eq", "value": "platinum"}},
                ]
            }
        },
    )
    assert found.json()["ids"] == ["1000001"]
    r = cio.track.post(f"{cio.sb.track_url}/api/v1/segments/1/add_customers", json={"ids": ["1000001"]}, timeout=30)
    assert r.status_code == 400  # data-driven segments take no manual additions
    assert json.loads(r.text)["meta"]["errors"]
