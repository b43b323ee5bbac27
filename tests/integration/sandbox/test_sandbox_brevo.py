"""Behaviour of the sandbox's Brevo v3 emulation, over real HTTP (uvicorn on 127.0.0.1:0, requests).

The Brevo router is served alone (``build_standalone_app``) so these tests do not depend on the sandbox core.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest
import requests

from airflow_provider_customerio.sandbox.brevo.errors import ratelimit_headers, render_error
from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from tests.integration.sandbox.conftest import BREVO_TEST_KEY

pytestmark = pytest.mark.integration

API_KEY = BREVO_TEST_KEY  # the key of the `server` fixture (conftest)
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Brevo:
    """Tiny test client: vendor routes under /brevo/v3 and control routes under /_sandbox/brevo."""

    def __init__(self, base: str, state: BrevoState) -> None:
        self.base = base + "/brevo/v3"
        self.control = base + "/_sandbox/brevo"
        self.state = state
        self.http = requests.Session()
        self.http.headers["api-key"] = API_KEY

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.base + path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.http.post(self.base + path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.http.put(self.base + path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.http.delete(self.base + path, **kw)

    def ctl(self, method: str, path: str, json: Any = None) -> requests.Response:
        return requests.request(method, self.control + path, json=json, timeout=30)

    def poll_until_done(self, pid: int, max_polls: int = 10) -> tuple[dict[str, Any], list[str]]:
        statuses = []
        for _ in range(max_polls):
            body = self.get(f"/processes/{pid}").json()
            statuses.append(body["status"])
            if body["status"] in ("completed", "failed", "cancelled"):
                return body, statuses
        return body, statuses


@pytest.fixture()
def brevo(server: tuple[str, BrevoState]) -> Brevo:
    base, state = server
    state.reset()
    state.seed(random.Random(0))
    # These tests pin the poll-driven mode (a process ends on its polls); the default, processes on the sandbox
    # clock one import after the other, is tested in test_sandbox_unkind.py.
    state.set_process_settings({"rate_per_s": None, "queue_s": 0.0})
    return Brevo(base, state)


def _error(resp: requests.Response, status: int, code: str | None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body.get("code") == code
    assert isinstance(body["message"], str) and body["message"]
    return body


# ------------------------------------------------------------------------------------------------ auth, 404, helpers


def test_missing_and_wrong_api_key_get_brevo_401_bodies(brevo: Brevo) -> None:
    missing = requests.get(brevo.base + "/contacts", timeout=10)
    assert missing.status_code == 401
    assert missing.json() == {"code": "unauthorized", "message": "authentication not found in headers"}
    wrong = requests.get(brevo.base + "/contacts", headers={"api-key": "xkeysib-nope"}, timeout=10)
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "unauthorized", "message": "Key not found"}


def test_unknown_path_is_brevo_404_and_wrong_method_is_405(brevo: Brevo) -> None:
    _error(brevo.get("/does/not/exist"), 404, "document_not_found")
    body = _error(brevo.http.patch(brevo.base + "/contacts"), 405, "method_not_allowed")
    assert "PATCH" in body["message"]


def test_render_error_and_ratelimit_headers_helpers() -> None:
    resp = render_error(429, "Too many requests")
    assert resp.status_code == 429 and resp.body == b'{"message":"Too many requests"}'
    resp = render_error(500, "boom", "internal_error")
    assert resp.body == b'{"code":"internal_error","message":"boom"}'
    assert ratelimit_headers(10, -1, 0.2) == {
        "x-sib-ratelimit-limit": "10",
        "x-sib-ratelimit-remaining": "0",
        "x-sib-ratelimit-reset": "1",
    }


def test_account(brevo: Brevo) -> None:
    resp = brevo.get("/account")
    assert resp.status_code == 200
    body = resp.json()
    assert body["email"] and body["companyName"] and body["plan"][0]["type"] == "subscription"


# ------------------------------------------------------------------------------------------------ contacts


def test_create_contact_shape_types_and_silent_drops(brevo: Brevo) -> None:
    resp = brevo.post(
        "/contacts",
        {
            "email": "Ada@Example.com",
            "ext_id": "cio-1",
            "attributes": {
                "firstname": "Ada",  # lower-case key: matched case-insensitively, stored upper-case
                "SIGNUP_DATE": "2024-03-05T10:11:12Z",
                "LAST_ACTIVE": "05/03/2024",  # not a recognised date format: ignored
                "MONTHLY_REVENUE": 12,
                "PLAN_NAME": 7,  # number into a text attribute: ignored
                "NOT_AN_ATTRIBUTE": "x",  # unknown: ignored
            },
            "listIds": [12],
        },
    )
    assert resp.status_code == 201
    cid = resp.json()["id"]
    contact = brevo.get("/contacts/ada@example.com").json()
    assert contact["id"] == cid
    assert contact["email"] == "Ada@Example.com"
    assert ISO_MS_Z.match(contact["createdAt"]) and ISO_MS_Z.match(contact["modifiedAt"])
    assert contact["listIds"] == [12]
    assert contact["emailBlacklisted"] is False and contact["smsBlacklisted"] is False
    assert contact["attributes"] == {
        "FIRSTNAME": "Ada",
        "SIGNUP_DATE": "2024-03-05",
        "MONTHLY_REVENUE": 12,
        "EXT_ID": "cio-1",
    }


def test_duplicate_email_is_case_insensitive_and_update_enabled_gives_204(brevo: Brevo) -> None:
    assert brevo.post("/contacts", {"email": "grace@example.com"}).status_code == 201
    body = _error(brevo.post("/contacts", {"email": "GRACE@example.com"}), 400, "duplicate_parameter")
    assert body["metadata"] == {"duplicate_identifiers": ["email"]}
    resp = brevo.post(
        "/contacts", {"email": "GRACE@example.com", "updateEnabled": True, "attributes": {"LASTNAME": "Hopper"}}
    )
    assert resp.status_code == 204 and resp.content == b""
    assert brevo.get("/contacts/grace@example.com").json()["attributes"]["LASTNAME"] == "Hopper"
    assert brevo.ctl("GET", "/contacts").json()["count"] == 1


def test_update_enabled_overwrites_list_ids_as_observed_in_the_field(brevo: Brevo) -> None:
    brevo.post("/contacts", {"email": "l@example.com", "listIds": [12, 13]})
    assert (
        brevo.post("/contacts", {"email": "l@example.com", "updateEnabled": True, "listIds": [14]}).status_code == 204
    )
    assert brevo.get("/contacts/l@example.com").json()["listIds"] == [14]


def test_sms_and_ext_id_are_unique_identifiers(brevo: Brevo) -> None:
    assert brevo.post("/contacts", {"attributes": {"SMS": "+33612345678"}}).status_code == 201
    body = _error(brevo.post("/contacts", {"attributes": {"SMS": "0033612345678"}}), 400, "duplicate_parameter")
    assert body["metadata"]["duplicate_identifiers"] == ["sms"]
    assert brevo.post("/contacts", {"ext_id": "x-1"}).status_code == 201
    body = _error(brevo.post("/contacts", {"email": "new@example.com", "ext_id": "x-1"}), 400, "duplicate_parameter")
    assert body["metadata"]["duplicate_identifiers"] == ["ext_id"]
    # identifiers of two different contacts cannot be merged even with updateEnabled
    _error(
        brevo.post("/contacts", {"ext_id": "x-1", "attributes": {"SMS": "+33612345678"}, "updateEnabled": True}),
        400,
        "duplicate_parameter",
    )


def test_create_without_identifier_or_with_bad_email(brevo: Brevo) -> None:
    body = _error(brevo.post("/contacts", {"attributes": {"FIRSTNAME": "Nobody"}}), 400, "missing_parameter")
    assert "email" in body["message"]
    _error(brevo.post("/contacts", {"email": "not-an-email"}), 400, "invalid_parameter")
    _error(brevo.http.post(brevo.base + "/contacts", data="{not json"), 400, "invalid_parameter")


def test_identifier_resolution_rules(brevo: Brevo) -> None:
    cid = brevo.post("/contacts", {"ext_id": "ext-9", "attributes": {"SMS": "+33699999999"}}).json()["id"]
    assert brevo.get(f"/contacts/{cid}").json()["id"] == cid  # digits → contact id
    assert brevo.get("/contacts/ext-9", params={"identifierType": "ext_id"}).json()["id"] == cid
    assert brevo.get("/contacts/+33699999999").json()["id"] == cid  # GET also auto-detects SMS
    assert brevo.get("/contacts/33699999999", params={"identifierType": "phone_id"}).json()["id"] == cid
    body = _error(brevo.get("/contacts/ext-9"), 400, "invalid_parameter")
    assert "identifierType" in body["message"]
    _error(brevo.get("/contacts/x", params={"identifierType": "nope"}), 400, "invalid_parameter")
    _error(brevo.get("/contacts/404@example.com"), 404, "document_not_found")
    # PUT/DELETE do not auto-detect phone numbers
    _error(brevo.put("/contacts/+33699999999", {"attributes": {}}), 400, "invalid_parameter")


def test_put_updates_email_lists_and_refuses_conflicts(brevo: Brevo) -> None:
    brevo.post("/contacts", {"email": "a@example.com", "listIds": [12]})
    brevo.post("/contacts", {"email": "b@example.com"})
    resp = brevo.put(
        "/contacts/a@example.com",
        {"attributes": {"EMAIL": "a2@example.com", "FIRSTNAME": "A"}, "listIds": [13], "unlinkListIds": [12]},
    )
    assert resp.status_code == 204 and resp.content == b""
    contact = brevo.get("/contacts/a2@example.com").json()
    assert contact["listIds"] == [13] and contact["attributes"]["FIRSTNAME"] == "A"
    _error(brevo.get("/contacts/a@example.com"), 404, "document_not_found")
    body = _error(
        brevo.put("/contacts/a2@example.com", {"attributes": {"EMAIL": "B@example.com"}}), 400, "duplicate_parameter"
    )
    assert body["metadata"]["duplicate_identifiers"] == ["email"]
    _error(brevo.put("/contacts/zzz@example.com", {"attributes": {}}), 404, "document_not_found")
    _error(brevo.put("/contacts/a2@example.com", {"listIds": [999]}), 400, "invalid_parameter")
    # an empty value clears an attribute
    assert brevo.put("/contacts/a2@example.com", {"attributes": {"FIRSTNAME": ""}}).status_code == 204
    assert "FIRSTNAME" not in brevo.get("/contacts/a2@example.com").json()["attributes"]


def test_account_owner_contact_cannot_be_deleted(brevo: Brevo) -> None:
    owner = brevo.get("/account").json()["email"]
    brevo.post("/contacts", {"email": owner})
    _error(brevo.delete(f"/contacts/{owner}"), 405, "method_not_allowed")
    assert brevo.get(f"/contacts/{owner}").status_code == 200


def test_delete_contact_frees_its_identifiers(brevo: Brevo) -> None:
    brevo.post("/contacts", {"email": "d@example.com", "ext_id": "d-1", "listIds": [12]})
    resp = brevo.delete("/contacts/d-1", params={"identifierType": "ext_id"})
    assert resp.status_code == 204 and resp.content == b""
    _error(brevo.delete("/contacts/d@example.com"), 404, "document_not_found")
    assert brevo.get("/contacts/lists/12").json()["uniqueSubscribers"] == 0
    assert brevo.post("/contacts", {"email": "d@example.com", "ext_id": "d-1"}).status_code == 201


def test_list_contacts_pagination_sort_limits_and_since_filters(brevo: Brevo) -> None:
    ticks = iter(range(2_000_000_000_000, 2_100_000_000_000, 1000))  # after any real time
    brevo.state._clock = lambda: next(ticks)  # deterministic clock: one second per write
    try:
        ids = [brevo.post("/contacts", {"email": f"p{i}@example.com"}).json()["id"] for i in range(7)]
        page = brevo.get("/contacts", params={"limit": 3, "offset": 0}).json()
        assert page["count"] == 7
        assert [c["id"] for c in page["contacts"]] == ids[::-1][:3]  # default sort: desc by creation
        page = brevo.get("/contacts", params={"limit": 3, "offset": 6, "sort": "asc"}).json()
        assert [c["id"] for c in page["contacts"]] == ids[6:]
        assert len(brevo.get("/contacts").json()["contacts"]) == 7  # default limit 50
        _error(brevo.get("/contacts", params={"limit": 1001}), 400, "out_of_range")
        _error(brevo.get("/contacts", params={"sort": "up"}), 400, "invalid_parameter")
        _error(brevo.get("/contacts", params={"listIds": "12,999"}), 400, "invalid_parameter")
        assert brevo.get("/contacts", params={"listIds": "12"}).json()["count"] == 0
        # touch p1 later; modifiedSince is "modified after" (strict)
        third = brevo.get(f"/contacts/{ids[2]}").json()["modifiedAt"]
        brevo.put(f"/contacts/{ids[0]}", {"attributes": {"FIRSTNAME": "x"}})
        since = brevo.get("/contacts", params={"modifiedSince": third, "sort": "asc"}).json()
        assert [c["id"] for c in since["contacts"]] == [ids[0], *ids[3:]]
        assert since["count"] == 5
        created = brevo.get("/contacts", params={"createdSince": third}).json()
        assert created["count"] == 4
        body = _error(brevo.get("/contacts", params={"modifiedSince": "yesterday"}), 400, "invalid_parameter")
        assert "modifiedSince" in body["message"]
        only = brevo.get("/contacts", params={"filter": 'equals(EMAIL,"P3@example.com")'}).json()
        assert [c["id"] for c in only["contacts"]] == [ids[3]]
    finally:
        brevo.state._clock = lambda: time.time_ns() // 1_000_000


# ------------------------------------------------------------------------------------------------ attributes


def test_attributes_list_and_create(brevo: Brevo) -> None:
    names = {a["name"]: a for a in brevo.get("/contacts/attributes").json()["attributes"]}
    assert {"EMAIL", "SMS", "EXT_ID", "FIRSTNAME", "LASTNAME", "WHATSAPP", "LANDLINE_NUMBER"} <= set(names)
    assert names["SIGNUP_DATE"]["type"] == "date" and names["MONTHLY_REVENUE"]["type"] == "float"
    assert names["CIO_ID"] == {"name": "CIO_ID", "category": "normal", "type": "text"}
    resp = brevo.post("/contacts/attributes/normal/IS_VIP", {"type": "boolean"})
    assert resp.status_code == 201 and resp.content == b""
    _error(brevo.post("/contacts/attributes/normal/IS_VIP", {"type": "boolean"}), 400, "invalid_parameter")
    _error(brevo.post("/contacts/attributes/normal/X", {"type": "nope"}), 400, "invalid_parameter")
    _error(brevo.http.post(brevo.base + "/contacts/attributes/normal/Y", data="{oops"), 400, "invalid_parameter")
    _error(brevo.post("/contacts/attributes/bogus/Z", {"type": "text"}), 400, "invalid_parameter")
    brevo.post("/contacts", {"email": "v@example.com", "attributes": {"IS_VIP": True}})
    assert brevo.get("/contacts/v@example.com").json()["attributes"]["IS_VIP"] is True


# ------------------------------------------------------------------------------------------------ lists and folders


def test_folders_and_lists(brevo: Brevo) -> None:
    fid = brevo.post("/contacts/folders", {"name": "Sync"}).json()["id"]
    assert fid == 2
    resp = brevo.post("/contacts/lists", {"name": "VIP", "folderId": fid})
    assert resp.status_code == 201
    lid = resp.json()["id"]
    lists = brevo.get("/contacts/lists", params={"limit": 50}).json()
    assert lists["count"] == 4 and {"id": lid, "name": "VIP", "folderId": fid}.items() <= lists["lists"][0].items()
    assert brevo.get("/contacts/lists").json()["lists"][0]["id"] == lid  # desc by default
    _error(brevo.get("/contacts/lists", params={"limit": 51}), 400, "out_of_range")
    _error(brevo.get("/contacts/folders", params={"limit": 51}), 400, "out_of_range")
    _error(brevo.post("/contacts/lists", {"name": "No folder"}), 400, "missing_parameter")
    _error(brevo.post("/contacts/lists", {"name": "Bad", "folderId": 77}), 400, "invalid_parameter")
    detail = brevo.get(f"/contacts/lists/{lid}").json()
    assert detail["folderId"] == fid and ISO_MS_Z.match(detail["createdAt"])
    _error(brevo.get("/contacts/lists/9999"), 404, "document_not_found")
    folders = brevo.get("/contacts/folders").json()
    assert folders["count"] == 2 and folders["folders"][0]["name"] == "Sync"


def test_list_membership_add_remove_rules_and_modified_at_bump(brevo: Brevo) -> None:
    ticks = iter(range(2_000_000_000_000, 2_100_000_000_000, 1000))  # after any real time
    brevo.state._clock = lambda: next(ticks)
    try:
        brevo.post("/contacts", {"email": "m1@example.com", "ext_id": "m-1"})
        before = brevo.get("/contacts/m1@example.com").json()["modifiedAt"]
        resp = brevo.post("/contacts/lists/13/contacts/add", {"emails": ["M1@example.com", "ghost@example.com"]})
        assert resp.status_code == 201
        assert resp.json() == {"contacts": {"success": ["M1@example.com"], "failure": ["ghost@example.com"]}}
        after = brevo.get("/contacts/m1@example.com").json()
        assert after["listIds"] == [13] and after["modifiedAt"] > before  # docs/vendor-behaviour.md
        body = _error(brevo.post("/contacts/lists/13/contacts/add", {"extIds": ["m-1"]}), 400, "invalid_parameter")
        assert body["message"] == "Contact already in list and/or does not exist"
        list_page = brevo.get("/contacts/lists/13/contacts").json()
        assert list_page["count"] == 1 and list_page["contacts"][0]["email"] == "m1@example.com"
        _error(brevo.get("/contacts/lists/13/contacts", params={"limit": 501}), 400, "out_of_range")
        _error(brevo.get("/contacts/lists/999/contacts"), 404, "document_not_found")
        _error(
            brevo.post(
                "/contacts/lists/13/contacts/add",
                {
                    "emails": [],
                },
            ),
            400,
            "out_of_range",
        )
        _error(
            brevo.post("/contacts/lists/13/contacts/add", {"emails": [f"{i}@e.com" for i in range(151)]}),
            400,
            "out_of_range",
        )
        _error(
            brevo.post("/contacts/lists/13/contacts/add", {"emails": ["a@e.com"], "ids": [1]}), 400, "invalid_parameter"
        )
        _error(brevo.post("/contacts/lists/999/contacts/add", {"ids": [1]}), 404, "document_not_found")
        cid = after["id"]
        resp = brevo.post("/contacts/lists/13/contacts/remove", {"ids": [cid]})
        assert resp.status_code == 201 and resp.json()["contacts"]["success"] == [cid]
        assert brevo.get("/contacts/m1@example.com").json()["listIds"] == []
    finally:
        brevo.state._clock = lambda: time.time_ns() // 1_000_000


# ------------------------------------------------------------------------------------------------ import + processes


def test_json_import_counts_rejects_and_applies_on_completion(brevo: Brevo) -> None:
    brevo.post("/contacts", {"email": "old@example.com", "attributes": {"FIRSTNAME": "Old", "LASTNAME": "Keep"}})
    rows = [
        {"email": "new1@example.com", "attributes": {"FIRSTNAME": "N1", "MONTHLY_REVENUE": 9.5, "UNKNOWN": "x"}},
        {"email": "OLD@example.com", "attributes": {"FIRSTNAME": "Updated", "LASTNAME": ""}},
        {"attributes": {"EXT_ID": "ext-only", "SIGNUP_DATE": "2024-02-29"}},
        {"attributes": {"SMS": "+33611111111"}},
        {"email": "bad-email", "attributes": {"FIRSTNAME": "Bad"}},
        {"attributes": {"FIRSTNAME": "No identifier"}},
        {"email": "NEW1@example.com", "attributes": {"FIRSTNAME": "Dup"}},
    ]
    resp = brevo.post("/contacts/import", {"jsonBody": rows, "listIds": [12]})
    assert resp.status_code == 202
    pid = resp.json()["processId"]
    assert brevo.ctl("GET", "/contacts").json()["count"] == 1  # nothing applied before the process completes
    body, statuses = brevo.poll_until_done(pid)
    assert statuses == ["processing", "completed"]  # default: 2 polls
    assert body["name"] == "IMPORTUSER" and ISO_MS_Z.match(body["completed_at"])
    counts = body["info"]["import"]
    assert counts["invalid_emails"] == 1 and counts["duplicate_email_id"] == 1 and counts["duplicate_ext_id"] == 0
    contacts = {
        c["email"] if "email" in c else c["attributes"].get("EXT_ID", c["attributes"].get("SMS")): c
        for c in brevo.ctl("GET", "/contacts").json()["contacts"]
    }
    assert set(contacts) == {"old@example.com", "new1@example.com", "ext-only", "+33611111111"}
    assert contacts["new1@example.com"]["attributes"] == {"FIRSTNAME": "N1", "MONTHLY_REVENUE": 9.5}
    assert contacts["old@example.com"]["attributes"] == {"FIRSTNAME": "Updated", "LASTNAME": "Keep"}  # blank ignored
    assert contacts["ext-only"]["attributes"]["SIGNUP_DATE"] == "2024-02-29"
    assert all(c["listIds"] == [12] for k, c in contacts.items() if k != "old@example.com")
    detail = brevo.ctl("GET", f"/processes/{pid}").json()
    rejected = {r["index"]: r["reason"] for r in detail["sandbox"]["rejected"]}
    assert set(rejected) == {4, 5, 6}
    assert "invalid email" in rejected[4] and "no identifier" in rejected[5] and "duplicate email" in rejected[6]
    assert detail["sandbox"]["applied"] == 4


def test_csv_import_update_flags_and_new_list(brevo: Brevo) -> None:
    brevo.post("/contacts", {"email": "keep@example.com", "attributes": {"FIRSTNAME": "Keep", "LASTNAME": "Me"}})
    csv_text = (
        "EMAIL;FIRSTNAME;LASTNAME;MONTHLY_REVENUE;SIGNUP_DATE\n"
        "keep@example.com;Changed;;1;2024-01-01\n"
        '"csv@example.com";"Csv";"Row";"12.50";2023-12-31\n'
    )
    pid = brevo.post(
        "/contacts/import",
        {"fileBody": csv_text, "newList": {"listName": "Imported", "folderId": 1}, "updateExistingContacts": False},
    ).json()["processId"]
    body, _ = brevo.poll_until_done(pid)
    assert body["status"] == "completed"
    kept = brevo.get("/contacts/keep@example.com").json()
    assert kept["attributes"] == {"FIRSTNAME": "Keep", "LASTNAME": "Me"} and kept["listIds"] == []
    row = brevo.get("/contacts/csv@example.com").json()
    assert row["attributes"]["MONTHLY_REVENUE"] == 12.5 and row["attributes"]["SIGNUP_DATE"] == "2023-12-31"
    new_list = [lst for lst in brevo.get("/contacts/lists").json()["lists"] if lst["name"] == "Imported"][0]
    assert row["listIds"] == [new_list["id"]]
    # emptyContactsAttributes erases stored values with blank cells
    pid = brevo.post(
        "/contacts/import",
        {"fileBody": "EMAIL;LASTNAME\nkeep@example.com;\n", "listIds": [12], "emptyContactsAttributes": True},
    ).json()["processId"]
    brevo.poll_until_done(pid)
    assert brevo.get("/contacts/keep@example.com").json()["attributes"] == {"FIRSTNAME": "Keep"}


def test_import_blacklist_flags_and_bare_rows(brevo: Brevo) -> None:
    pid = brevo.post(
        "/contacts/import",
        {
            "jsonBody": [{"email": "bl@example.com", "attributes": {"SMS": "+33622222222"}}, "not-a-row"],
            "listIds": [14],
            "emailBlacklist": True,
            "smsBlacklist": True,
        },
    ).json()["processId"]
    assert brevo.poll_until_done(pid)[0]["status"] == "completed"
    contact = brevo.get("/contacts/bl@example.com").json()
    assert contact["emailBlacklisted"] is True and contact["smsBlacklisted"] is True and contact["listIds"] == [14]
    assert brevo.get("/contacts/lists/14").json()["totalBlacklisted"] == 1
    rejected = brevo.ctl("GET", f"/processes/{pid}").json()["sandbox"]["rejected"]
    assert [(r["index"], r["row"]) for r in rejected] == [(1, "not-a-row")]


def test_import_validation_errors(brevo: Brevo) -> None:
    _error(brevo.post("/contacts/import", {"jsonBody": [{"email": "a@e.com"}]}), 400, "missing_parameter")
    _error(brevo.post("/contacts/import", {"listIds": [12]}), 400, "missing_parameter")
    _error(
        brevo.post("/contacts/import", {"jsonBody": [], "fileBody": "EMAIL\n", "listIds": [12]}),
        400,
        "invalid_parameter",
    )
    _error(
        brevo.post("/contacts/import", {"jsonBody": [{"email": "a@e.com"}], "listIds": [999]}), 400, "invalid_parameter"
    )
    _error(brevo.post("/contacts/import", {"fileBody": "FIRSTNAME\nx\n", "listIds": [12]}), 400, "invalid_parameter")
    big = [{"email": f"user{i}@example.com", "attributes": {"FIRSTNAME": "x" * 100}} for i in range(75_000)]
    body = _error(brevo.post("/contacts/import", {"jsonBody": big, "listIds": [12]}), 400, "out_of_range")
    assert "10MB" in body["message"]


def test_import_failure_fault_applies_nothing(brevo: Brevo) -> None:
    assert brevo.ctl("POST", "/faults", {"kind": "import_failure", "count": 1}).status_code == 201
    pid = brevo.post("/contacts/import", {"jsonBody": [{"email": "f@example.com"}], "listIds": [12]}).json()[
        "processId"
    ]
    body, _ = brevo.poll_until_done(pid)
    assert body["status"] == "failed" and body["error"]
    assert brevo.ctl("GET", "/contacts").json()["count"] == 0
    pid = brevo.post("/contacts/import", {"jsonBody": [{"email": "f@example.com"}], "listIds": [12]}).json()[
        "processId"
    ]
    assert brevo.poll_until_done(pid)[0]["status"] == "completed"  # count was 1
    assert brevo.ctl("GET", "/contacts").json()["count"] == 1


def test_stuck_process_settings_and_forced_completion(brevo: Brevo) -> None:
    settings = brevo.ctl("POST", "/processes/settings", {"polls_to_complete": 3, "running_status": "in_process"})
    assert settings.json() == {
        "polls_to_complete": 3,
        "running_status": "in_process",
        "rate_per_s": None,
        "queue_s": 0.0,
        "serial": True,
    }
    pid = brevo.post("/contacts/import", {"jsonBody": [{"email": "s@example.com"}], "listIds": [12]}).json()[
        "processId"
    ]
    assert brevo.poll_until_done(pid)[1] == ["queued", "in_process", "completed"]
    brevo.ctl("POST", "/faults", {"kind": "process_stuck", "count": 1})
    pid = brevo.post("/contacts/import", {"jsonBody": [{"email": "t@example.com"}], "listIds": [12]}).json()[
        "processId"
    ]
    body, statuses = brevo.poll_until_done(pid, max_polls=6)
    assert statuses == ["in_process"] * 6
    assert brevo.ctl("POST", "/processes/complete").json() == {"completed": [pid]}
    assert brevo.get(f"/processes/{pid}").json()["status"] == "completed"
    assert brevo.get("/contacts/t@example.com").status_code == 200


def test_processes_listing_and_errors(brevo: Brevo) -> None:
    for i in range(3):
        brevo.post("/contacts/import", {"jsonBody": [{"email": f"x{i}@example.com"}], "listIds": [12]})
    page = brevo.get("/processes", params={"limit": 2}).json()
    assert page["count"] == 3 and [p["id"] for p in page["processes"]] == [3, 2]
    assert all(p["status"] == "queued" for p in page["processes"])
    _error(brevo.get("/processes", params={"limit": 51}), 400, "out_of_range")
    body = _error(brevo.get("/processes/999"), 404, "invalid_parameter")
    assert body["message"] == "processId is invalid"


# ------------------------------------------------------------------------------------------------ events


def test_single_event_validation_storage_and_contact_properties(brevo: Brevo) -> None:
    brevo.post("/contacts", {"email": "e@example.com"})
    resp = brevo.post(
        "/events",
        {
            "event_name": "order_completed",
            "identifiers": {"email_id": "e@example.com"},
            "event_date": "2026-01-24T17:39:57+01:00",
            "contact_properties": {"FIRSTNAME": "Eve"},
            "event_properties": {"amount": 42, "items": [{"sku": "a"}]},
        },
    )
    assert resp.status_code == 204 and resp.content == b""
    events = brevo.ctl("GET", "/events").json()
    assert events["count"] == 1 and events["events"][0]["event_properties"]["amount"] == 42
    assert events["events"][0]["contact_id"] == brevo.get("/contacts/e@example.com").json()["id"]
    assert brevo.get("/contacts/e@example.com").json()["attributes"]["FIRSTNAME"] == "Eve"
    body = _error(
        brevo.post("/events", {"event_name": "bad name!", "identifiers": {"ext_id": "1"}}), 400, "invalid_parameter"
    )
    assert "event_name" in body["message"]
    body = _error(brevo.post("/events", {"event_name": "ok"}), 400, "invalid_parameter")
    assert "identifiers" in body["message"]
    body = _error(
        brevo.post(
            "/events", {"event_name": "ok", "identifiers": {"ext_id": "1"}, "event_properties": {"b": "x" * 52000}}
        ),
        400,
        "invalid_parameter",
    )
    assert "50 KB" in body["message"]
    _error(brevo.post("/events", {"event_name": "x" * 256, "identifiers": {"ext_id": "1"}}), 400, "invalid_parameter")
    assert brevo.ctl("GET", "/events").json()["count"] == 1


def test_batch_events_202_207_and_limits(brevo: Brevo) -> None:
    good = [{"event_name": "viewed", "identifiers": {"ext_id": f"u{i}"}} for i in range(3)]
    resp = brevo.post("/events/batch", {"events": good})
    assert resp.status_code == 202
    assert resp.json() == {
        "message": "Batch accepted. Valid events have been added to the processing queue.",
        "count": 3,
    }
    assert brevo.post("/events/batch", good[:2]).status_code == 202  # SDK 4.x bare array
    mixed = [good[0], {"event_name": "no ids"}, good[1], {"event_name": "bad name", "identifiers": {"ext_id": "1"}}]
    resp = brevo.post("/events/batch", {"events": mixed})
    assert resp.status_code == 207
    body = resp.json()
    assert body["total_events"] == 4 and body["successful_events"] == 2 and body["failed_events"] == 2
    assert sorted(i for e in body["errors"] for i in e["eventIndex"]) == [1, 3]
    assert brevo.ctl("GET", "/events").json()["count"] == 7
    _error(brevo.post("/events/batch", {"events": good * 67}), 400, "out_of_range")
    _error(brevo.post("/events/batch", {"events": []}), 400, "out_of_range")
    big = [{"event_name": "big", "identifiers": {"ext_id": "1"}, "event_properties": {"p": "x" * 40000}}] * 14
    _error(brevo.post("/events/batch", {"events": big}), 400, "out_of_range")


def test_events_partial_207_fault(brevo: Brevo) -> None:
    brevo.ctl("POST", "/faults", {"kind": "events_partial_207", "count": 1})
    events = [{"event_name": "e", "identifiers": {"ext_id": str(i)}} for i in range(4)]
    resp = brevo.post("/events/batch", {"events": events})
    assert resp.status_code == 207
    assert sorted(i for e in resp.json()["errors"] for i in e["eventIndex"]) == [0, 2]
    stored = [e["identifiers"]["ext_id"] for e in brevo.ctl("GET", "/events").json()["events"]]
    assert stored == ["1", "3"]
    assert brevo.post("/events/batch", {"events": events}).status_code == 202  # fault consumed
    faults = brevo.ctl("GET", "/faults").json()["faults"]
    assert [(f["kind"], f["vendor"], f["count"], f["remaining"], f["fired"]) for f in faults] == [
        ("events_partial_207", "brevo", 1, 0, 1)
    ]
    _error(brevo.ctl("POST", "/faults", {"kind": "nope", "count": 1}), 400, "invalid_parameter")


# ------------------------------------------------------------------------------------------------ custom objects


def test_object_upsert_records_and_associations(brevo: Brevo) -> None:
    cid = brevo.post("/contacts", {"email": "o@example.com", "ext_id": "person-1"}).json()["id"]
    records = [
        {
            "identifiers": {"ext_id": "acme"},
            "attributes": {"name": "Acme", "domain": "acme.test", "unknown_key": "dropped"},
            "associations": [{"object_type": "contact", "records": [{"identifiers": {"ext_id": "person-1"}}]}],
        },
        {"attributes": {"name": "No id Inc"}},
        {"identifiers": {"id": 999}, "attributes": {"name": "ghost"}},
    ]
    resp = brevo.post("/objects/companies/batch/upsert", {"records": records})
    assert resp.status_code == 202
    assert resp.json()["message"] == "Batch object records are being processed"
    pid = resp.json()["processId"]
    assert brevo.get("/objects/companies/records", params={"limit": 10, "page_num": 1}).json()["count"] == 0
    assert brevo.poll_until_done(pid)[0]["status"] == "completed"
    page = brevo.get(
        "/objects/companies/records", params={"limit": 1, "page_num": 2, "sort": "asc", "association": "true"}
    )
    assert page.status_code == 200 and page.json()["count"] == 2
    first = brevo.get(
        "/objects/companies/records", params={"limit": 1, "page_num": 1, "sort": "asc", "association": "true"}
    )
    record = first.json()["records"][0]
    assert record["identifiers"] == {"id": 1, "ext_id": "acme"}
    assert record["attributes"] == {"name": "Acme", "domain": "acme.test"}
    assert record["associations"] == [{"object_type": "contact", "records": [{"identifiers": {"id": cid}}]}]
    rejected = brevo.ctl("GET", f"/processes/{pid}").json()["sandbox"]["rejected"]
    assert [r["index"] for r in rejected] == [2]
    # update by ext_id, then unlink
    pid = brevo.post(
        "/objects/companies/batch/upsert",
        {
            "records": [
                {
                    "identifiers": {"ext_id": "acme"},
                    "attributes": {"plan": "pro"},
                    "associations": [
                        {"object_type": "contact", "action": "unlink", "records": [{"identifiers": {"id": cid}}]}
                    ],
                }
            ]
        },
    ).json()["processId"]
    brevo.poll_until_done(pid)
    acme = [
        r
        for r in brevo.ctl("GET", "/objects/companies/records").json()["records"]
        if r["identifiers"].get("ext_id") == "acme"
    ][0]
    assert acme["attributes"] == {"name": "Acme", "domain": "acme.test", "plan": "pro"} and acme["associations"] == {
        "contact": []
    }


def test_object_errors_and_control_created_types(brevo: Brevo) -> None:
    _error(
        brevo.post("/objects/deals/batch/upsert", {"records": [{"attributes": {"a": 1}}]}), 404, "document_not_found"
    )
    _error(brevo.post("/objects/companies/batch/upsert", {"records": []}), 400, "out_of_range")
    _error(
        brevo.post("/objects/companies/batch/upsert", {"records": [{"attributes": {"name": "x"}}] * 1001}),
        400,
        "out_of_range",
    )
    _error(
        brevo.post("/objects/companies/batch/upsert", {"records": [{"identifiers": {"ext_id": "x"}}]}),
        400,
        "missing_parameter",
    )
    _error(brevo.get("/objects/companies/records", params={"limit": 10}), 400, "invalid_parameter")
    _error(brevo.get("/objects/companies/records", params={"limit": 1001, "page_num": 1}), 400, "out_of_range")
    assert brevo.ctl("POST", "/objects/types", {"name": "deals", "attributes": ["amount"]}).status_code == 201
    pid = brevo.post(
        "/objects/deals/batch/upsert", {"records": [{"identifiers": {"ext_id": "d1"}, "attributes": {"amount": 5}}]}
    ).json()["processId"]
    brevo.poll_until_done(pid)
    assert brevo.ctl("GET", "/objects/deals/records").json()["records"][0]["attributes"] == {"amount": 5}


# ------------------------------------------------------------------------------------------------ seed and control


def test_seed_contacts_is_deterministic_and_reset_restores_fixture(brevo: Brevo) -> None:
    resp = brevo.ctl("POST", "/seed", {"seed": 7, "contacts": 50})
    assert resp.status_code == 201 and resp.json()["count"] == 50
    first = brevo.ctl("GET", "/contacts").json()["contacts"]
    assert any("email" not in c for c in first) and any("EXT_ID" in c["attributes"] for c in first)
    assert all(12 in c["listIds"] for c in first)
    assert brevo.get("/contacts/lists/12").json()["uniqueSubscribers"] == 50
    assert brevo.ctl("POST", "/reset").status_code == 204
    assert brevo.ctl("GET", "/contacts").json()["count"] == 0
    brevo.ctl("POST", "/seed", {"seed": 7, "contacts": 50})
    again = brevo.ctl("GET", "/contacts").json()["contacts"]
    strip = lambda cs: [(c.get("email"), c["attributes"], c["listIds"]) for c in cs]
    assert strip(again) == strip(first)
