"""BaseApiHook (hooks/_base.py): connection settings, the request path and pagination, through real hooks."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.exceptions import ConfigError, InsecureBaseUrlError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook

APP = "https://api.customer.io"
BREVO = "https://api.brevo.com/v3"


def test_hook_refuses_plain_http_host(airflow_conn):
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="k", host="http://proxy.corp:8080")
    with pytest.raises(InsecureBaseUrlError, match="customerio_app_default"):
        CustomerIOAppHook().list_segments()


def test_missing_secret_names_connection_and_field(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo")
    with pytest.raises(ConfigError, match="brevo_default.*'password'"):
        BrevoHook().get_account()


def test_secret_kwarg_refused():
    with pytest.raises(TypeError, match="connection only"):
        BrevoHook(api_key="x")


def test_rate_limit_from_connection_extra_and_task_override(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"rate_limit": 4})
    assert BrevoHook().rate_limiter.rate == 4
    assert BrevoHook(rate_limit=2.5).rate_limiter.rate == 2.5
    airflow_conn("brevo_default", conn_type="brevo", password="k")
    assert BrevoHook().rate_limiter.rate == 10


def test_bad_extra_number_is_a_clear_error(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"rate_limit": "fast"})
    with pytest.raises(ConfigError, match="'rate_limit' must be a number"):
        BrevoHook().rate_limiter


def test_user_agent_and_timeout(app_hook, requests_mock):
    requests_mock.get(f"{APP}/v1/segments", json={"segments": []})
    app_hook.list_segments()
    assert requests_mock.last_request.headers["User-Agent"].startswith("airflow-provider-customerio/")
    assert requests_mock.last_request.timeout == 30.0


def test_cursor_pagination_follows_tokens_and_empty_pages(app_hook, requests_mock):
    requests_mock.get(
        f"{APP}/v1/segments/5/membership",
        [
            {"json": {"identifiers": [{"cio_id": "a"}, {"cio_id": "b"}], "next": "MDox"}},
            {"json": {"identifiers": [], "next": "MDoy=="}},
            {"json": {"identifiers": [{"cio_id": "c"}], "next": ""}},
        ],
    )
    assert [m["cio_id"] for m in app_hook.iter_segment_membership(5)] == ["a", "b", "c"]
    history = requests_mock.request_history
    assert "start" not in history[0].qs
    assert history[1].qs["start"] == ["mdox"] or history[1].url.endswith("start=MDox")
    assert "start=MDoy%3D%3D" in history[2].url


def test_cursor_pagination_null_arrays(app_hook, requests_mock):
    requests_mock.get(f"{APP}/v1/segments/9/membership", json={"identifiers": None, "ids": None, "next": ""})
    assert list(app_hook.iter_segment_membership(9)) == []


def test_offset_pagination(brevo_hook, requests_mock):
    requests_mock.get(
        f"{BREVO}/contacts",
        [
            {"json": {"contacts": [{"id": i} for i in range(3)], "count": 5}},
            {"json": {"contacts": [{"id": 3}, {"id": 4}], "count": 5}},
        ],
    )
    assert [c["id"] for c in brevo_hook.iter_contacts(limit=3, modified_since="2026-01-01T00:00:00.000Z")] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert requests_mock.request_history[1].qs["offset"] == ["3"]
    assert requests_mock.request_history[0].qs["modifiedsince"] == ["2026-01-01t00:00:00.000z"]


def test_every_attempt_is_counted_and_the_body_is_sent_once_encoded(app_hook, requests_mock):
    requests_mock.post(
        f"{APP}/v1/customers/x/suppress",
        [{"status_code": 429, "json": {}}, {"status_code": 200, "json": {}}],
    )
    app_hook.request("POST", "/v1/customers/x/suppress", json_body={"a": "é"})
    assert app_hook.api_calls == 2
    assert [r.body for r in requests_mock.request_history] == ['{"a":"é"}'.encode()] * 2


def test_region_must_be_us_or_eu(airflow_conn):
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="k", extra={"region": "EU"})
    assert CustomerIOAppHook().region == "eu"
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="k", extra={"region": "asia"})
    with pytest.raises(ConfigError, match="'region' must be 'us' or 'eu'"):
        CustomerIOAppHook().region
