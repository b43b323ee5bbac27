"""Unit tests of the three vendor hooks with requests-mock: auth, regions, endpoints, errors, connection tests."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_provider_customerio.exceptions import (
    AuthError,
    ConfigError,
    ProcessFailedError,
    ProcessTimeoutError,
    WrongRegionError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook


def _quiet(hook):
    hook.sleeps = []
    hook._sleep = hook.sleeps.append
    return hook


@pytest.fixture
def track(airflow_conn):
    airflow_conn("customerio_track_default", conn_type="customerio_track", login="site-1", password="track-key")
    return _quiet(CustomerIOTrackHook(rate_limit=0))


@pytest.fixture
def app(airflow_conn):
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="app-key")
    return _quiet(CustomerIOAppHook(rate_limit=0))


@pytest.fixture
def brevo(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-key")
    return _quiet(BrevoHook(rate_limit=0))


# ------------------------------------------------------------------------------------ base URLs / regions
@pytest.mark.parametrize(
    ("hook_cls", "conn_type", "region", "expected"),
    [
        (CustomerIOTrackHook, "customerio_track", None, "https://track.customer.io"),
        (CustomerIOTrackHook, "customerio_track", "eu", "https://track-eu.customer.io"),
        (CustomerIOAppHook, "customerio_app", "us", "https://api.customer.io"),
        (CustomerIOAppHook, "customerio_app", "EU", "https://api-eu.customer.io"),
        (BrevoHook, "brevo", None, "https://api.brevo.com/v3"),
    ],
    ids=["track-us", "track-eu", "app-us", "app-eu", "brevo"],
)
def test_default_base_url_per_region(airflow_conn, hook_cls, conn_type, region, expected):
    extra = {"region": region} if region else {}
    airflow_conn(hook_cls.default_conn_name, conn_type=conn_type, login="s", password="k", extra=extra)
    assert hook_cls().base_url == expected


def test_host_override_keeps_path_prefix(airflow_conn, requests_mock):
    airflow_conn("cio", conn_type="customerio_app", password="k", host="http://127.0.0.1:5555/app")
    hook = _quiet(CustomerIOAppHook("cio", rate_limit=0))
    requests_mock.get("http://127.0.0.1:5555/app/v1/campaigns", json={"campaigns": [{"id": 3}]})
    assert hook.list_campaigns() == [{"id": 3}]


def test_host_without_scheme_gets_https(airflow_conn):
    airflow_conn("b", conn_type="brevo", password="k", host="brevo-proxy.corp/v3")
    assert BrevoHook("b").base_url == "https://brevo-proxy.corp/v3"


def test_bad_region_is_a_clear_error(airflow_conn):
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="k", extra={"region": "asia"})
    with pytest.raises(ConfigError, match="'region' must be 'us' or 'eu'"):
        CustomerIOAppHook().base_url


# ------------------------------------------------------------------------------------------------ auth
def test_track_basic_auth(track, requests_mock):
    requests_mock.put("https://track.customer.io/api/v1/customers/42", json={})
    track.identify("42", {"email": "a@b.co"})
    header = requests_mock.last_request.headers["Authorization"]
    assert header == "Basic " + base64.b64encode(b"site-1:track-key").decode()
    assert requests_mock.last_request.json() == {"email": "a@b.co"}


def test_app_bearer_auth(app, requests_mock):
    requests_mock.get("https://api.customer.io/v1/campaigns", json={"campaigns": []})
    app.list_campaigns()
    assert requests_mock.last_request.headers["Authorization"] == "Bearer app-key"


def test_brevo_api_key_header(brevo, requests_mock):
    requests_mock.get("https://api.brevo.com/v3/account", json={"companyName": "Acme"})
    assert brevo.test_connection() == (True, "Connected to Brevo (Acme)")
    assert requests_mock.last_request.headers["api-key"] == "brevo-key"
    assert "Authorization" not in requests_mock.last_request.headers


def test_track_missing_site_id(airflow_conn):
    airflow_conn("customerio_track_default", conn_type="customerio_track", password="k")
    with pytest.raises(ConfigError, match="Site ID"):
        CustomerIOTrackHook().identify("1", {})


def test_track_401_hint(track, requests_mock):
    requests_mock.put("https://track.customer.io/api/v1/customers/1", status_code=401, text="")
    with pytest.raises(AuthError, match="App API key does not work on the Track API"):
        track.identify("1", {})


def test_app_401_hint_mentions_region(app, requests_mock):
    requests_mock.get(
        "https://api.customer.io/v1/segments",
        status_code=401,
        json={"errors": [{"detail": "Unauthorized", "status": "401"}]},
    )
    ok, message = app.test_connection()
    assert ok is False
    assert "region='eu'" in message


def test_track_wrong_datacenter_redirect(track, requests_mock):
    requests_mock.put(
        "https://track.customer.io/api/v1/customers/1",
        status_code=301,
        headers={"Location": "https://track-eu.customer.io/api/v1/customers/1"},
        json={"meta": {"error": "wrong datacenter"}},
    )
    with pytest.raises(WrongRegionError, match="region='eu'"):
        track.identify("1", {"a": 1})
    assert requests_mock.call_count == 1  # never follows a redirect with the credentials


def test_identifier_is_fully_escaped(track, requests_mock):
    requests_mock.put("https://track.customer.io/api/v1/customers/a%2Bb%40c.io", json={})
    track.identify("a+b@c.io", {})
    assert requests_mock.called


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


# ------------------------------------------------------------------------------------------------ App
def test_people_attributes_unwraps_and_bounds(app, requests_mock):
    requests_mock.post(
        "https://api.customer.io/v1/customers/attributes",
        json={"customers": [{"customer": {"id": "1", "attributes": {"a": "1"}}}, {"id": "2", "attributes": {}}]},
    )
    people = app.get_people_attributes(["c1", "c2"])
    assert [p["id"] for p in people] == ["1", "2"]
    assert requests_mock.last_request.qs["id_type"] == ["cio_id"]
    assert requests_mock.last_request.json() == {"ids": ["c1", "c2"]}
    with pytest.raises(ValueError, match="at most 100"):
        app.get_people_attributes([str(i) for i in range(101)])


def test_search_people_default_filter_and_limit(app, requests_mock):
    requests_mock.post("https://api.customer.io/v1/customers", json={"identifiers": [{"cio_id": "x"}], "next": ""})
    assert list(app.search_people()) == [{"cio_id": "x"}]
    assert requests_mock.last_request.json()["filter"]["and"][0]["attribute"]["field"] == "cio_id"
    assert requests_mock.last_request.qs["limit"] == ["1000"]
    with pytest.raises(ConfigError, match="between 1 and 1000"):
        list(app.search_people(limit=5000))


def test_campaign_metrics_v1_and_v2(app, requests_mock):
    requests_mock.get("https://api.customer.io/v1/campaigns/4/metrics", json={"metric": {"series": {"sent": [1, 2]}}})
    assert app.get_campaign_metrics(4, period="days", steps=2) == {"sent": [1, 2]}
    assert requests_mock.last_request.qs == {"period": ["days"], "steps": ["2"]}
    app.get_campaign_metrics(4, version=2, res="days", start=10, end=20)
    assert requests_mock.last_request.qs == {"version": ["2"], "res": ["days"], "start": ["10"], "end": ["20"]}


def test_activities_params(app, requests_mock):
    requests_mock.get("https://api.customer.io/v1/activities", json={"activities": [{"id": "a"}], "next": None})
    assert list(app.iter_activities(type="attribute_change")) == [{"id": "a"}]
    assert requests_mock.last_request.qs == {"limit": ["100"], "type": ["attribute_change"], "deleted": ["true"]}


def test_export_lifecycle_and_streaming(app, requests_mock):
    requests_mock.post("https://api.customer.io/v1/exports/customers", json={"export": {"id": 8, "status": "pending"}})
    requests_mock.get(
        "https://api.customer.io/v1/exports/8",
        [
            {"json": {"export": {"id": 8, "status": "pending"}}},
            {"json": {"export": {"id": 8, "status": "done", "total": 2}}},
        ],
    )
    requests_mock.get(
        "https://api.customer.io/v1/exports/8/download", json={"url": "https://files.example/x.csv?sig=abc"}
    )
    requests_mock.get("https://files.example/x.csv?sig=abc", text="id,email\n1,a@b.co\n2,\n")
    export = app.create_customer_export(attributes=["plan"])
    assert export["id"] == 8
    assert app.wait_for_export(8, check_interval=2)["total"] == 2
    assert app.sleeps == [2]
    assert list(app.iter_export_rows(8)) == [{"id": "1", "email": "a@b.co"}, {"id": "2", "email": ""}]
    assert "Authorization" not in requests_mock.last_request.headers


def test_export_failure(app, requests_mock):
    requests_mock.get("https://api.customer.io/v1/exports/9", json={"export": {"id": 9, "status": "failed"}})
    with pytest.raises(ProcessFailedError):
        app.wait_for_export(9)


def test_objects_search_filter(app, requests_mock):
    requests_mock.post("https://api.customer.io/v1/objects", json={"identifiers": [{"object_id": "acme"}], "next": ""})
    assert list(app.iter_objects(1)) == [{"object_id": "acme"}]
    body = requests_mock.last_request.json()
    assert body["object_type_id"] == "1"
    assert body["filter"]["and"][0]["object_attribute"]["type_id"] == "1"


# ---------------------------------------------------------------------------------------------- Brevo
def test_import_contacts_body(brevo, requests_mock):
    requests_mock.post("https://api.brevo.com/v3/contacts/import", status_code=202, json={"processId": 78})
    pid = brevo.import_contacts(json_body=[{"email": "a@b.co", "attributes": {"FIRSTNAME": "A"}}], list_ids=[12])
    assert pid == 78
    body = requests_mock.last_request.json()
    assert body["jsonBody"][0]["email"] == "a@b.co"
    assert body["listIds"] == [12]
    assert body["updateExistingContacts"] is True


def test_wait_for_process_grows_interval(brevo, requests_mock):
    requests_mock.get(
        "https://api.brevo.com/v3/processes/5",
        [
            {"json": {"id": 5, "status": "queued"}},
            {"json": {"id": 5, "status": "in_process"}},
            {"json": {"id": 5, "status": "completed", "info": {"import": {"invalid_emails": 1}}}},
        ],
    )
    assert brevo.wait_for_process(5, check_interval=2)["status"] == "completed"
    assert brevo.sleeps == [2, 3]


def test_wait_for_process_failed_and_timeout(brevo, requests_mock):
    requests_mock.get(
        "https://api.brevo.com/v3/processes/6",
        json={"id": 6, "name": "IMPORTUSER", "status": "failed", "error": "bad file"},
    )
    with pytest.raises(ProcessFailedError, match="bad file"):
        brevo.wait_for_process(6)
    requests_mock.get("https://api.brevo.com/v3/processes/7", json={"id": 7, "status": "queued"})
    with pytest.raises(ProcessTimeoutError):
        brevo.wait_for_process(7, timeout=0)


def test_list_members_bounds_and_already_member(brevo, requests_mock):
    with pytest.raises(ValueError, match="at most 150"):
        brevo.add_contacts_to_list(12, emails=[f"{i}@x.io" for i in range(151)])
    with pytest.raises(ValueError, match="exactly one"):
        brevo.add_contacts_to_list(12, emails=["a@x.io"], ids=[1])
    requests_mock.post(
        "https://api.brevo.com/v3/contacts/lists/12/contacts/add",
        status_code=400,
        json={"code": "invalid_parameter", "message": "Contact already in list and/or does not exist"},
    )
    assert brevo.add_contacts_to_list(12, ext_ids=["1"]) == {"success": [], "failure": ["1"]}
    assert requests_mock.last_request.json() == {"extIds": ["1"]}


def test_events_batch_207(brevo, requests_mock):
    requests_mock.post(
        "https://api.brevo.com/v3/events/batch",
        status_code=207,
        json={"status": "partial", "errors": [{"eventIndex": [0, 2], "message": "invalid identifiers"}]},
    )
    result = brevo.create_events_batch([{"event_name": "a"}] * 3)
    assert result.failed_indexes == {0, 2}
    assert requests_mock.last_request.json() == {"events": [{"event_name": "a"}] * 3}


def test_delete_contact_twice_is_not_an_error(brevo, requests_mock):
    requests_mock.delete(
        "https://api.brevo.com/v3/contacts/77?identifierType=ext_id",
        [
            {"status_code": 204},
            {"status_code": 404, "json": {"code": "document_not_found", "message": "Contact does not exist"}},
        ],
    )
    assert brevo.delete_contact("77", identifier_type="ext_id") is True
    assert brevo.delete_contact("77", identifier_type="ext_id") is False
    with pytest.raises(ConfigError, match="identifier_type"):
        brevo.delete_contact("77", identifier_type="extid")


def test_brevo_duplicate_error_carries_metadata(brevo, requests_mock):
    requests_mock.post(
        "https://api.brevo.com/v3/contacts",
        status_code=400,
        json={
            "code": "duplicate_parameter",
            "message": "Unable to create contact",
            "metadata": {"duplicate_identifiers": ["email"]},
        },
    )
    from airflow_provider_customerio.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        brevo.create_contact(email="a@b.co")
    assert info.value.errors[0]["metadata"] == {"duplicate_identifiers": ["email"]}
    assert "duplicate_parameter" in str(info.value)


def test_brevo_other_endpoints_have_hourly_budget(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"other_requests_per_hour": 360})
    hook = BrevoHook()
    assert hook._limiter_for("/processes/1").rate == pytest.approx(0.1)
    assert hook._limiter_for("/contacts/import") is hook.rate_limiter
    assert hook._limiter_for("/events/batch") is hook.events_limiter


def test_upsert_object_records(brevo, requests_mock):
    requests_mock.post(
        "https://api.brevo.com/v3/objects/companies/batch/upsert",
        status_code=202,
        json={"processId": 21, "message": "ok"},
    )
    assert (
        brevo.upsert_object_records("companies", [{"identifiers": {"ext_id": "acme"}, "attributes": {"name": "Acme"}}])
        == 21
    )
    assert json.loads(requests_mock.last_request.body)["records"][0]["identifiers"] == {"ext_id": "acme"}


def test_object_records_paging(brevo, requests_mock):
    requests_mock.get(
        "https://api.brevo.com/v3/objects/companies/records",
        [
            {"json": {"count": 3, "records": [{"identifiers": {"ext_id": "a"}}, {"identifiers": {"ext_id": "b"}}]}},
            {"json": {"count": 3, "records": [{"identifiers": {"ext_id": "c"}}]}},
        ],
    )
    ids = [r["identifiers"]["ext_id"] for r in brevo.iter_object_records("companies", limit=2, association=True)]
    assert ids == ["a", "b", "c"]
    assert requests_mock.request_history[1].qs == {
        "limit": ["2"],
        "page_num": ["2"],
        "sort": ["asc"],
        "association": ["true"],
    }


def test_iter_events_query(brevo, requests_mock):
    requests_mock.get("https://api.brevo.com/v3/events", json={"events": [{"event_name": "A"}], "count": 1})
    assert list(brevo.iter_events(event_names=["A", "B"], start_date="2026-01-01", end_date="2026-01-02")) == [
        {"event_name": "A"}
    ]
    assert requests_mock.last_request.qs["event_name"] == ["a", "b"]
    with pytest.raises(ValueError, match="both"):
        brevo.iter_events(start_date="2026-01-01")
