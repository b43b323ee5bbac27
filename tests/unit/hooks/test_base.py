"""Unit tests of the shared transport: retries, rate limiting, redaction, base URLs, pagination."""

from __future__ import annotations

import logging

import pytest
import requests

from airflow_provider_customerio.exceptions import (
    AuthError,
    ConfigError,
    InsecureBaseUrlError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from airflow_provider_customerio.hooks._base import (
    RetryPolicy,
    TokenBucket,
    WindowLimiter,
    check_base_url,
    redact_headers,
    redact_url,
    should_retry,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook

APP = "https://api.customer.io"
BREVO = "https://api.brevo.com/v3"


@pytest.fixture
def app_hook(airflow_conn):
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="app-secret-123")
    hook = CustomerIOAppHook(rate_limit=0)
    hook.sleeps = []
    hook._sleep = hook.sleeps.append
    return hook


@pytest.fixture
def brevo_hook(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-secret-456", extra={"log_api_calls": True})
    hook = BrevoHook(rate_limit=0)
    hook.sleeps = []
    hook._sleep = hook.sleeps.append
    return hook


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_calls_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(25):
        bucket.acquire()
        stamps.append(clock.now)
    # no one-second window [t, t+1) holds more than 10 calls
    for t in stamps:
        assert sum(1 for s in stamps if t <= s < t + 1 - 1e-6) <= 10
    assert stamps[-1] == pytest.approx(2.4)


def test_hourly_budget_lets_the_whole_budget_through_at_once():
    clock = FakeClock()
    window = WindowLimiter(100, 3600.0, clock=clock, sleep=clock.sleep)
    for _ in range(43):  # e.g. one import read per notice
        assert window.acquire() == 0.0
    assert clock.slept == []
    assert window.rate == pytest.approx(100 / 3600)


def test_hourly_budget_never_holds_more_than_its_limit_in_any_window():
    clock = FakeClock()
    window = WindowLimiter(10, 60.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for i in range(35):
        window.acquire()
        stamps.append(clock.now)
        clock.now += 1.0 if i % 7 == 0 else 0.0  # bursts with a little time between some calls
    for t in stamps:  # every window of 60 s starting at a call (the worst placed) holds at most 10 calls
        assert sum(1 for s in stamps if t <= s < t + 60 - 1e-9) <= 10
    # the 11th call waited for the first to leave the window, not for a token rate
    assert stamps[10] == pytest.approx(stamps[0] + 60)


def test_hourly_budget_disabled_never_sleeps():
    clock = FakeClock()
    window = WindowLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(500):
        assert window.acquire() == 0.0
    assert clock.slept == [] and window.rate is None


def test_token_bucket_disabled_never_sleeps():
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        assert bucket.acquire() == 0.0
    assert clock.slept == []


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


def test_redaction_helpers():
    assert (
        redact_url("https://u:p@x.io/a?api_key=K1&limit=5&token=T")
        == "https://***@x.io/a?api_key=***&limit=5&token=***"
    )
    assert redact_headers({"Authorization": "Bearer X", "api-key": "Y", "Accept": "a"}) == {
        "Authorization": "***",
        "api-key": "***",
        "Accept": "a",
    }


def _log_text(caplog, capsys) -> str:
    # Airflow 3 routes hook loggers through structlog to stdout; older setups use stdlib logging.
    return caplog.text + capsys.readouterr().out


def test_api_call_log_has_no_secret(brevo_hook, requests_mock, caplog, capsys):
    requests_mock.get(f"{BREVO}/account", json={"email": "o@x.io"}, headers={"x-sib-request-id": "rid-1"})
    with caplog.at_level(logging.INFO):
        brevo_hook.get_account()
        brevo_hook.request("GET", "/account", params={"api_key": "brevo-secret-456"})
    text = _log_text(caplog, capsys)
    assert "GET https://api.brevo.com/v3/account -> 200" in text
    assert "rid-1" in text
    assert "brevo-secret-456" not in text
    assert "api_key=***" in text
    # the secret did travel, in the header only
    assert requests_mock.request_history[0].headers["api-key"] == "brevo-secret-456"


def test_api_call_logging_off_by_default(app_hook, requests_mock, caplog, capsys):
    requests_mock.get(f"{APP}/v1/segments", json={"segments": []})
    with caplog.at_level(logging.INFO):
        app_hook.list_segments()
        app_hook.log.info("marker line")
    text = _log_text(caplog, capsys)
    assert "marker line" in text  # the capture works, so the absence below means something
    assert "API GET" not in text


@pytest.mark.parametrize(
    "url",
    ["http://api.example.com", "http://10.0.0.5:8080/v3", "http://sandbox.internal/track"],
)
def test_plain_http_refused_for_non_loopback(url):
    with pytest.raises(InsecureBaseUrlError, match="plain HTTP"):
        check_base_url(url, conn_id="c")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/track", "http://localhost:1/x", "http://[::1]:9/", "https://a.io"]
)
def test_https_or_loopback_accepted(url):
    assert check_base_url(url + "/", conn_id="c") == url.rstrip("/")


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
