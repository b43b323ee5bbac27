"""The vendor hooks with requests-mock: base URLs, regions, auth and error hints (all three hooks)."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_customerio.exceptions import (
    AuthError,
    ConfigError,
    WrongRegionError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from tests.unit.hooks.conftest import _quiet


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
