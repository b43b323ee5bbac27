"""Fidelity: the sandbox's Brevo responses validated against Brevo's OpenAPI document with openapi-core.

Real HTTP against the Brevo router (uvicorn on 127.0.0.1:0). Each response's URL is rewritten from
``http://127.0.0.1:PORT/brevo/v3`` to the spec's server ``https://api.brevo.com/v3`` and validated with
``OpenAPI.validate_response``; the requests the tests send (the shapes the hooks send) are validated too with
``validate_request`` where they are meant to be valid.

Deliberate deviations (each is checked another way below, never skipped silently):

1. ``POST /events/batch`` is not in the Feb-2026 spec copy (added 2026-03-03, per Brevo's changelog). Its 202 and
   207 bodies are validated against schemas written here from the changelog/SDK5 (``BATCH_202``/``BATCH_207``).
2. 401 bodies: most operations do not declare 401 although auth applies everywhere; 401 bodies are
   validated against the spec's ``errorModel`` component schema directly.
3. Unknown paths have no operation: their 404 body is validated against ``errorModel`` directly.
4. The custom-object upsert declares 400/404 without content; the sandbox still sends Brevo's JSON error body
   (``{"code","message"}``), so only the status is checked against the spec and the body against ``errorModel``.
6. ``POST /contacts/lists/{id}/contacts/add|remove`` request bodies cannot pass the spec's ``oneOf`` (three
   alternatives with no ``required`` keys, so every body matches all three); their responses are validated.
7. The add/remove 201 body ``postContactInfo`` declares ``success``/``failure`` as ``oneOf`` [int array, email
   array]: an empty array matches both (oneOf fails) and extIds answers (strings) match neither. The sandbox
   answers ``"failure": []`` and echoes extIds as strings; validated against the schema with ``anyOf`` + strings.
5. ``running_status=in_process`` (control-plane option, SDK5/old spec) is outside the 2026 enum; the default
   ``processing`` is what is validated here.

Spec repairs (meaning-preserving, in ``_normalise``): empty ``content: {}`` maps are dropped (openapi-core otherwise
demands a body for 204/201-without-body), and the custom-object ``associations`` ``oneOf`` of two identical
alternatives (unsatisfiable as written) is collapsed to that alternative.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from tests.integration.sandbox.conftest import BREVO_TEST_KEY

pytestmark = [pytest.mark.integration, pytest.mark.fidelity]

SPEC_PATH = Path(__file__).resolve().parents[2] / "specs" / "brevo-openapi.yaml"  # see tests/specs/README.md
SPEC_SERVER = "https://api.brevo.com/v3"
API_KEY = BREVO_TEST_KEY  # the key of the `server` fixture (conftest)

BATCH_202 = {
    "type": "object",
    "required": ["message", "count"],
    "properties": {"message": {"type": "string"}, "count": {"type": "integer"}},
}
BATCH_207 = {
    "type": "object",
    "required": ["status", "total_events", "successful_events", "failed_events", "errors"],
    "properties": {
        "status": {"type": "string"},
        "total_events": {"type": "integer"},
        "successful_events": {"type": "integer"},
        "failed_events": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["eventIndex", "message"],
                "properties": {
                    "eventIndex": {"type": "array", "items": {"type": "integer"}},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def _shape(node: Any) -> Any:
    """A schema without its prose (description/example), to compare alternatives."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items() if k not in ("description", "example", "examples")}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def _normalise(node: Any) -> Any:
    """Two meaning-preserving repairs of the spec, so that openapi-core can judge it (see module docstring).

    * ``content: {}`` on a response means "no body"; openapi-core instead demands body data (MissingData), so empty
      content maps are dropped.
    * a ``oneOf`` whose alternatives are all identical (ignoring prose) can never be satisfied (every value matches
      all of them); the custom-object ``associations`` schema has this defect, so such a ``oneOf`` becomes its
      single alternative.
    """
    if isinstance(node, dict):
        out = {k: _normalise(v) for k, v in node.items() if not (k == "content" and v == {})}
        alternatives = out.get("oneOf")
        if (
            isinstance(alternatives, list)
            and len(alternatives) > 1
            and all(_shape(a) == _shape(alternatives[0]) for a in alternatives)
        ):
            del out["oneOf"]
            out.update(alternatives[0])
        return out
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return node


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.fail(f"Brevo OpenAPI document missing at {SPEC_PATH}")
    return _normalise(yaml.load(SPEC_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


@pytest.fixture(scope="module")
def api(spec: dict[str, Any]) -> OpenAPI:
    return OpenAPI.from_dict(spec)


class Checker:
    """Sends requests to the sandbox and validates request + response against the spec."""

    def __init__(self, base: str, api: OpenAPI, spec: dict[str, Any]) -> None:
        self.prefix = base + "/brevo/v3"
        self.api = api
        self.error_model = spec["components"]["schemas"]["errorModel"]
        self.http = requests.Session()
        self.http.headers["api-key"] = API_KEY
        self.checked: list[str] = []

    def call(
        self, method: str, path: str, *, status: int, json: Any = None, params: Any = None, valid_request: bool = True
    ) -> requests.Response:
        resp = self.http.request(method, self.prefix + path, json=json, params=params, timeout=60)
        assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text[:300]}"
        prepared = resp.request.copy()
        prepared.url = prepared.url.replace(self.prefix, SPEC_SERVER, 1)
        openapi_request = RequestsOpenAPIRequest(prepared)
        if valid_request:
            self.api.validate_request(openapi_request)
        self.api.validate_response(openapi_request, RequestsOpenAPIResponse(resp))
        if status == 204:
            assert resp.content == b""
        self.checked.append(f"{method} {path.split('?')[0]} {status}")
        return resp

    def list_result(self, spec: dict[str, Any], path: str, operation: str, resp: requests.Response) -> None:
        """Deviation 7: validate an add/remove result against ``postContactInfo`` with its oneOf repaired."""
        assert str(resp.status_code) in spec["paths"][path]["post"]["responses"], operation
        schema = copy.deepcopy(spec["components"]["schemas"]["postContactInfo"])
        for key in ("success", "failure"):
            prop = schema["properties"]["contacts"]["properties"][key]
            prop["anyOf"] = [*prop.pop("oneOf"), {"type": "array", "items": {"type": "string"}}]
        jsonschema.validate(resp.json(), schema, format_checker=jsonschema.FormatChecker())
        self.checked.append(f"POST {operation} {resp.status_code}")

    def error_body(self, resp: requests.Response) -> None:
        jsonschema.validate(resp.json(), self.error_model)


@pytest.fixture()
def check(server: tuple[str, BrevoState], api: OpenAPI, spec: dict[str, Any]) -> Checker:
    base, state = server
    state.reset()
    state.seed(random.Random(0))
    state.set_process_settings({"rate_per_s": None})  # poll-driven: a process ends on its second poll
    return Checker(base, api, spec)


def test_contacts_operations_match_spec(check: Checker) -> None:
    c = check.call
    created = c(
        "POST",
        "/contacts",
        status=201,
        json={
            "email": "ada@example.com",
            "ext_id": "cio-1",
            "attributes": {"FIRSTNAME": "Ada", "SIGNUP_DATE": "2024-01-02"},
            "listIds": [12],
        },
    )
    cid = created.json()["id"]
    c(
        "POST",
        "/contacts",
        status=204,
        json={"email": "ada@example.com", "updateEnabled": True, "attributes": {"LASTNAME": "L"}},
    )
    c("POST", "/contacts", status=400, json={"email": "ada@example.com"})
    c("POST", "/contacts", status=400, json={"attributes": {"FIRSTNAME": "x"}})
    c("POST", "/contacts", status=201, json={"attributes": {"SMS": "+33600000001"}})
    c(
        "GET",
        "/contacts",
        status=200,
        params={"limit": 10, "offset": 0, "sort": "asc", "modifiedSince": "2020-01-01T00:00:00.000Z"},
    )
    c("GET", "/contacts", status=200, params={"listIds": 12})
    c("GET", "/contacts", status=400, params={"limit": 1001}, valid_request=False)
    c("GET", "/contacts", status=400, params={"modifiedSince": "nope"})
    c("GET", "/contacts/ada@example.com", status=200)
    c("GET", f"/contacts/{cid}", status=200, params={"identifierType": "contact_id"})
    c("GET", "/contacts/cio-1", status=200, params={"identifierType": "ext_id"})
    c("GET", "/contacts/nobody@example.com", status=404)
    c("GET", "/contacts/cio-1", status=400)
    c(
        "PUT",
        "/contacts/ada@example.com",
        status=204,
        json={"attributes": {"FIRSTNAME": "A"}, "listIds": [13], "unlinkListIds": [12]},
    )
    c("PUT", "/contacts/cio-1", status=204, params={"identifierType": "ext_id"}, json={"emailBlacklisted": True})
    c("PUT", "/contacts/ghost@example.com", status=404, json={"attributes": {}})
    c("PUT", "/contacts/ada@example.com", status=400, json={"listIds": [999]})
    c("DELETE", "/contacts/ada@example.com", status=204)
    c("DELETE", "/contacts/ada@example.com", status=404)


def test_attributes_lists_folders_match_spec(check: Checker, spec: dict[str, Any]) -> None:
    c = check.call
    c("GET", "/contacts/attributes", status=200)
    c("POST", "/contacts/attributes/normal/IS_VIP", status=201, json={"type": "boolean"})
    c("POST", "/contacts/attributes/normal/IS_VIP", status=400, json={"type": "boolean"})
    c(
        "POST",
        "/contacts/attributes/category/TIER",
        status=201,
        json={"enumeration": [{"value": 1, "label": "gold"}, {"value": 2, "label": "silver"}]},
    )
    c("GET", "/contacts/attributes", status=200)
    c("GET", "/contacts/folders", status=200, params={"limit": 50})
    fid = c("POST", "/contacts/folders", status=201, json={"name": "Sync"}).json()["id"]
    c("GET", "/contacts/folders", status=400, params={"limit": 51}, valid_request=False)
    lid = c("POST", "/contacts/lists", status=201, json={"name": "VIP", "folderId": fid}).json()["id"]
    c("POST", "/contacts/lists", status=400, json={"name": "VIP", "folderId": 999})
    c("GET", "/contacts/lists", status=200, params={"limit": 50, "offset": 0})
    c("GET", "/contacts/lists", status=400, params={"limit": 51}, valid_request=False)
    c("GET", f"/contacts/lists/{lid}", status=200)
    c("GET", "/contacts/lists/9999", status=404)
    c("POST", "/contacts", status=201, json={"email": "m@example.com", "ext_id": "m-1"})
    # deviation 6: the add/remove request schema is a oneOf of three objects without "required", so every body
    # matches all three and request validation cannot pass; only responses are validated for these calls.
    add_path = "/contacts/lists/{listId}/contacts/add"
    resp = check.http.post(
        check.prefix + f"/contacts/lists/{lid}/contacts/add", json={"emails": ["m@example.com", "x@example.com"]}
    )
    assert resp.status_code == 201
    check.list_result(spec, add_path, "add", resp)
    c("POST", "/contacts", status=201, json={"ext_id": "m-2"})
    resp = check.http.post(check.prefix + f"/contacts/lists/{lid}/contacts/add", json={"extIds": ["m-2"]})
    assert resp.status_code == 201 and resp.json()["contacts"] == {"success": ["m-2"], "failure": []}
    check.list_result(spec, add_path, "add", resp)
    c("POST", f"/contacts/lists/{lid}/contacts/add", status=400, json={"extIds": ["m-1"]}, valid_request=False)
    c("POST", "/contacts/lists/9999/contacts/add", status=404, json={"ids": [1]}, valid_request=False)
    c(
        "GET",
        f"/contacts/lists/{lid}/contacts",
        status=200,
        params={"limit": 500, "modifiedSince": "2020-01-01T00:00:00Z"},
    )
    c("GET", f"/contacts/lists/{lid}/contacts", status=400, params={"limit": 501}, valid_request=False)
    c("GET", "/contacts/lists/9999/contacts", status=404)
    resp = check.http.post(check.prefix + f"/contacts/lists/{lid}/contacts/remove", json={"ids": [1]})
    assert resp.status_code == 201 and resp.json()["contacts"]["success"] == [1]
    check.list_result(spec, "/contacts/lists/{listId}/contacts/remove", "remove", resp)


def test_import_and_processes_match_spec(check: Checker) -> None:
    c = check.call
    pid = c(
        "POST",
        "/contacts/import",
        status=202,
        json={
            "jsonBody": [
                {"email": "a@example.com", "attributes": {"FIRSTNAME": "A", "SMS": "+33600000002"}},
                {"email": "broken", "attributes": {}},
            ],
            "listIds": [12],
            "updateExistingContacts": True,
            "emptyContactsAttributes": False,
        },
    ).json()["processId"]
    c(
        "POST",
        "/contacts/import",
        status=202,
        json={"fileBody": "EMAIL;FIRSTNAME\nb@example.com;B\n", "newList": {"listName": "Imported", "folderId": 1}},
    )
    c("POST", "/contacts/import", status=400, json={"jsonBody": [{"email": "a@example.com"}]})
    c("GET", "/processes", status=200, params={"limit": 50, "sort": "asc"})
    running = c("GET", f"/processes/{pid}", status=200).json()
    done = c("GET", f"/processes/{pid}", status=200).json()
    assert (running["status"], done["status"]) == ("processing", "completed")
    assert all(isinstance(v, int) for v in done["info"]["import"].values())
    c("GET", "/processes/4242", status=404)
    c("GET", "/processes", status=400, params={"limit": 51}, valid_request=False)


def test_events_match_spec(check: Checker) -> None:
    c = check.call
    c(
        "POST",
        "/events",
        status=204,
        json={
            "event_name": "order_completed",
            "identifiers": {"email_id": "e@example.com"},
            "event_date": "2026-01-24T17:39:57+01:00",
            "contact_properties": {"FIRSTNAME": "Eve"},
            "event_properties": {"amount": 42, "lines": [{"sku": "a"}]},
        },
    )
    c("POST", "/events", status=400, json={"event_name": "bad name", "identifiers": {"ext_id": "1"}})
    c("POST", "/events", status=400, json={"event_name": "ok", "identifiers": {}}, valid_request=False)
    # deviation 1: /events/batch is not in the spec copy; validated against the changelog/SDK5 shapes
    ok = check.http.post(
        check.prefix + "/events/batch",
        json={"events": [{"event_name": "viewed", "identifiers": {"ext_id": "u1"}}]},
        timeout=30,
    )
    assert ok.status_code == 202
    jsonschema.validate(ok.json(), BATCH_202)
    partial = check.http.post(
        check.prefix + "/events/batch",
        json=[{"event_name": "viewed", "identifiers": {"ext_id": "u1"}}, {"event_name": "viewed"}],
        timeout=30,
    )
    assert partial.status_code == 207
    jsonschema.validate(partial.json(), BATCH_207)
    too_many = check.http.post(check.prefix + "/events/batch", json={"events": [{}] * 201}, timeout=30)
    assert too_many.status_code == 400
    check.error_body(too_many)


def test_objects_and_account_match_spec(check: Checker) -> None:
    c = check.call
    c("POST", "/contacts", status=201, json={"email": "o@example.com", "ext_id": "p-1"})
    up = c(
        "POST",
        "/objects/companies/batch/upsert",
        status=202,
        json={
            "records": [
                {
                    "identifiers": {"ext_id": "acme"},
                    "attributes": {"name": "Acme", "employees": 12},
                    "associations": [{"object_type": "contact", "records": [{"identifiers": {"ext_id": "p-1"}}]}],
                },
            ]
        },
    )
    c("GET", f"/processes/{up.json()['processId']}", status=200)
    c("GET", f"/processes/{up.json()['processId']}", status=200)
    c("GET", "/objects/companies/records", status=200, params={"limit": 10, "page_num": 1, "association": "true"})
    c("GET", "/objects/companies/records", status=400, params={"limit": 10}, valid_request=False)
    c("GET", "/objects/nope/records", status=400, params={"limit": 10, "page_num": 1})
    # deviation 4: declared without content; the body is Brevo's error model
    for body, status in (({"records": []}, 400), ({"records": [{"attributes": {"a": 1}}]}, 404)):
        path = "/objects/companies/batch/upsert" if status == 400 else "/objects/nope/batch/upsert"
        resp = c("POST", path, status=status, json=body, valid_request=False)
        check.error_body(resp)
    # batch delete: 202 with a processId; the record is gone once the process completed
    gone = c("POST", "/objects/companies/batch/delete", status=202, json={"identifiers": {"ext_ids": ["acme"]}})
    assert isinstance(gone.json()["processId"], int)
    c("GET", f"/processes/{gone.json()['processId']}", status=200)
    c("GET", f"/processes/{gone.json()['processId']}", status=200)
    listed = c("GET", "/objects/companies/records", status=200, params={"limit": 10, "page_num": 1})
    assert "acme" not in [r["identifiers"].get("ext_id") for r in listed.json()["records"]]
    c("POST", "/objects/companies/batch/delete", status=202, json={"identifiers": {"ids": [999999]}})  # idempotent
    # declared without content: the body is Brevo's error model
    for path, body, status in (
        ("/objects/companies/batch/delete", {"identifiers": {}}, 400),
        ("/objects/nope/batch/delete", {"identifiers": {"ext_ids": ["x"]}}, 404),
    ):
        check.error_body(c("POST", path, status=status, json=body, valid_request=status != 400))
    c("GET", "/account", status=200)


def test_auth_and_unknown_paths_use_brevo_error_model(check: Checker) -> None:
    # deviation 2 and 3: validated against the errorModel component directly
    for headers in ({}, {"api-key": "wrong"}):
        resp = requests.get(check.prefix + "/contacts", headers=headers, timeout=10)
        assert resp.status_code == 401
        check.error_body(resp)
    # POST /events declares 401: validate through openapi-core as well
    resp = requests.post(check.prefix + "/events", json={"event_name": "x", "identifiers": {"ext_id": "1"}}, timeout=10)
    assert resp.status_code == 401
    prepared = resp.request.copy()
    prepared.url = prepared.url.replace(check.prefix, SPEC_SERVER, 1)
    check.api.validate_response(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(resp))
    missing = check.http.get(check.prefix + "/no/such/path", timeout=10)
    assert missing.status_code == 404
    check.error_body(missing)
