"""The one retry decision and its loop (hooks/retry.py), through real hooks over requests-mock."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
import requests

from airflow_provider_customerio.exceptions import (
    AuthError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from airflow_provider_customerio.hooks.retry import (
    RetryPolicy,
    describe,
    never_reached_server,
    parse_retry_after,
    should_retry,
)

APP = "https://api.customer.io"
BREVO = "https://api.brevo.com/v3"


def test_retry_after_is_honoured(app_hook, requests_mock):
    requests_mock.get(
        f"{APP}/v1/segments",
        [
            {"status_code": 429, "headers": {"Retry-After": "7"}, "json": {"errors": [{"detail": "slow down"}]}},
            {"status_code": 200, "json": {"segments": [{"id": 1}]}},
        ],
    )
    assert app_hook.list_segments() == [{"id": 1}]
    assert requests_mock.call_count == 2
    assert 7 <= app_hook.sleeps[0] < 7.5


def test_brevo_ratelimit_reset_header_is_honoured(brevo_hook, requests_mock):
    requests_mock.get(
        f"{BREVO}/contacts/attributes",
        [
            {"status_code": 429, "headers": {"x-sib-ratelimit-reset": "3"}, "json": {"message": "Too many"}},
            {"status_code": 200, "json": {"attributes": []}},
        ],
    )
    assert brevo_hook.list_attributes() == []
    assert 3 <= brevo_hook.sleeps[0] < 3.5


def test_no_retry_on_400(app_hook, requests_mock):
    requests_mock.get(
        f"{APP}/v1/segments", status_code=400, json={"errors": [{"detail": "bad limit", "status": "400"}]}
    )
    with pytest.raises(ValidationError) as info:
        app_hook.list_segments()
    assert requests_mock.call_count == 1
    assert "bad limit" in str(info.value)
    assert info.value.status == 400
    assert app_hook.sleeps == []


def test_5xx_retried_then_typed_error_after_exhaustion(app_hook, requests_mock):
    app_hook.retry_policy = RetryPolicy(max_attempts=3, backoff_base=1, backoff_cap=4)
    requests_mock.get(f"{APP}/v1/segments", status_code=503, text="unavailable", headers={"X-Request-Id": "req-9"})
    with pytest.raises(ServerError) as info:
        app_hook.list_segments()
    assert requests_mock.call_count == 3
    assert info.value.request_id == "req-9"
    assert len(app_hook.sleeps) == 2
    assert all(0 < s <= 4 for s in app_hook.sleeps)


def test_429_exhausted_raises_rate_limit_error(app_hook, requests_mock):
    app_hook.retry_policy = RetryPolicy(max_attempts=2)
    requests_mock.get(f"{APP}/v1/segments", status_code=429, json={"errors": [{"detail": "limited"}]})
    with pytest.raises(RateLimitError) as info:
        app_hook.list_segments()
    assert "10 req/s" in str(info.value)


def test_connection_error_retried_for_idempotent_call(app_hook, requests_mock):
    requests_mock.get(
        f"{APP}/v1/segments",
        [{"exc": requests.exceptions.ReadTimeout}, {"status_code": 200, "json": {"segments": []}}],
    )
    assert app_hook.list_segments() == []
    assert requests_mock.call_count == 2


def test_non_idempotent_post_not_retried_after_it_may_have_landed(brevo_hook, requests_mock):
    requests_mock.post(f"{BREVO}/events", [{"exc": requests.exceptions.ReadTimeout}, {"status_code": 204}])
    with pytest.raises(ServerError):
        brevo_hook.create_event({"event_name": "x", "identifiers": {"email_id": "a@b.co"}})
    assert requests_mock.call_count == 1


def test_non_idempotent_post_retried_on_429(brevo_hook, requests_mock):
    requests_mock.post(
        f"{BREVO}/events",
        [
            {"status_code": 429, "headers": {"x-sib-ratelimit-reset": "1"}, "json": {"message": "x"}},
            {"status_code": 204},
        ],
    )
    brevo_hook.create_event({"event_name": "x", "identifiers": {"email_id": "a@b.co"}})
    assert requests_mock.call_count == 2


@pytest.mark.parametrize(
    ("exc", "idempotent", "expected"),
    [
        (ServerError("x", status=500), True, True),
        (ServerError("x", status=500), False, False),
        (RateLimitError("x", status=429), False, True),
        (ValidationError("x", status=400), True, False),
        (AuthError("x", status=401), True, False),
        (NotFoundError("x", status=404), True, False),
        (requests.exceptions.ConnectTimeout(), False, True),
        (requests.exceptions.ReadTimeout(), True, True),
        (requests.exceptions.ReadTimeout(), False, False),
    ],
    ids=[
        "500",
        "500-post",
        "429-post",
        "400",
        "401",
        "404",
        "connect-timeout-post",
        "read-timeout",
        "read-timeout-post",
    ],
)
def test_one_retry_decision(exc, idempotent, expected):
    assert should_retry(exc, idempotent=idempotent) is expected


LIMITED = {"status_code": 429, "json": {"message": "x"}, "headers": {"x-sib-ratelimit-reset": "0"}}


@pytest.mark.parametrize(
    ("responses", "error", "maybe_applied"),
    [
        ([{"status_code": 400, "json": {"message": "bad"}}], ValidationError, False),
        ([{"exc": requests.exceptions.ConnectTimeout}], ServerError, False),
        ([{"exc": requests.exceptions.ConnectionError("Connection refused")}], ServerError, False),
        ([LIMITED], RateLimitError, False),
        ([{"exc": requests.exceptions.ReadTimeout}], ServerError, True),
        ([{"status_code": 502, "text": "bad gateway"}], ServerError, True),
        (
            [
                {"exc": requests.exceptions.ReadTimeout},
                LIMITED,
            ],
            RateLimitError,
            True,
        ),
        (
            [{"exc": requests.exceptions.ReadTimeout}, {"exc": requests.exceptions.ConnectTimeout}],
            ServerError,
            True,
        ),
    ],
    ids=["400", "connect-timeout", "refused", "429", "read-timeout", "502", "timeout-then-429", "timeout-then-refused"],
)
def test_an_error_says_whether_any_attempt_may_have_been_applied(
    brevo_hook, requests_mock, responses, error, maybe_applied
):
    """An import whose answer was lost may be running at Brevo (the import slots keep its slot held): a refusal or
    a connection never made started nothing, a timeout or a 5xx at any attempt may have."""
    brevo_hook.retry_policy = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.01)
    requests_mock.post(f"{BREVO}/contacts/import", responses)
    with pytest.raises(error) as info:
        brevo_hook.import_contacts(json_body=[{"email": "a@b.co"}], list_ids=[3])
    assert info.value.maybe_applied is maybe_applied


def test_retry_after_as_an_http_date_and_brevo_reset():
    soon = formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after({"Retry-After": soon}) <= 30
    assert parse_retry_after({"x-sib-ratelimit-reset": "12"}) == 12.0
    assert parse_retry_after({"Retry-After": "soon-ish"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_bounded_and_a_server_hint_is_capped():
    policy = RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_cap=8.0)
    for attempt in range(1, 7):
        ceiling = min(8.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= policy.wait_seconds(attempt, None) <= ceiling
    hinted = RateLimitError("x", status=429)
    hinted.retry_after = 600
    assert 8.0 <= policy.wait_seconds(1, hinted) <= 8.25


def test_retry_log_describes_the_failure():
    assert describe(ServerError("x", status=503)) == "HTTP 503"
    assert describe(requests.exceptions.ReadTimeout()) == "ReadTimeout"
    assert describe(None) == "unknown"


def test_refused_connection_never_reached_the_server_a_reset_may_have():
    assert never_reached_server(requests.exceptions.ConnectionError("Connection refused"))
    assert never_reached_server(requests.exceptions.ConnectTimeout())
    assert not never_reached_server(requests.exceptions.ConnectionError("Connection reset by peer"))
    assert not never_reached_server(requests.exceptions.ReadTimeout())
