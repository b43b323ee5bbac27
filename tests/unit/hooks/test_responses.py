"""What a vendor's answer means (hooks/responses.py): typed errors from each vendor's error envelope, and
partial batch results."""

from __future__ import annotations

import pytest
import requests
import requests_mock as rm

from airflow_provider_customerio.exceptions import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from airflow_provider_customerio.hooks.responses import (
    BatchResult,
    api_error,
    error_class,
    error_details,
    error_message,
    vendor_errors,
    vendor_message,
)

URL = "https://api.example.com/v1/thing?api_key=SECRET"


def _response(status: int, **kwargs) -> requests.Response:
    with rm.Mocker() as m:
        m.get(URL, status_code=status, **kwargs)
        return requests.get(URL, timeout=1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"code": "invalid_parameter", "message": "email is not valid"}, "email is not valid (invalid_parameter)"),
        ({"meta": {"error": "site id missing"}}, "site id missing"),
        ({"meta": {"errors": ["a", "b"]}}, "a; b"),
        ({"errors": [{"detail": "bad limit"}, {"field": "email", "reason": "required"}]}, "bad limit; email: required"),
        ("not a dict", ""),
    ],
    ids=["brevo", "track-v1-error", "track-v1-errors", "app-and-track-v2", "no-envelope"],
)
def test_vendor_message_reads_every_envelope(body, message):
    assert vendor_message(body) == message


def test_vendor_errors_are_one_dict_each():
    assert vendor_errors({"errors": ["x", {"index": 2, "message": "bad"}]}) == [
        {"message": "x"},
        {"index": 2, "message": "bad"},
    ]
    assert vendor_errors({"meta": {"error": "boom"}}) == [{"message": "boom"}]
    assert vendor_errors({"code": "c", "message": "m"}) == [{"code": "c", "message": "m", "metadata": None}]
    assert vendor_errors(None) == []


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_error_class_by_status(status, cls):
    assert error_class(status) is cls


def test_error_message_carries_the_vendor_message_and_the_hint():
    assert error_message("Brevo", 400, {"message": "bad"}, "Check the email.") == (
        "Brevo rejected the request with HTTP 400: bad. Check the email."
    )
    assert error_message("Brevo", 500, None, "") == "Brevo rejected the request with HTTP 500"


def test_api_error_is_typed_redacted_and_keeps_the_retry_hint():
    resp = _response(429, json={"message": "slow down"}, headers={"Retry-After": "4", "x-request-id": "r-1"})
    body, kwargs = error_details("Brevo", "GET", resp)
    err = api_error(error_message("Brevo", 429, body, ""), kwargs, resp)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 4.0
    assert err.request_id == "r-1"
    assert "SECRET" not in err.url and "api_key=***" in err.url
    assert "slow down" in str(err)


def test_api_error_of_a_body_that_is_not_json():
    resp = _response(502, text="<html>bad gateway</html>")
    body, kwargs = error_details("Customer.io App API", "GET", resp)
    assert body is None
    assert kwargs["body_excerpt"] == "<html>bad gateway</html>"
    assert isinstance(api_error("x", kwargs, resp), ServerError)
    assert issubclass(ServerError, ApiError)


def test_batch_result_names_the_rejected_positions():
    result = BatchResult(207, errors=[{"index": 1, "message": "bad"}, {"index": "3", "message": "worse"}])
    assert not result.ok
    assert result.failed_indexes == {1, 3}
    assert BatchResult(200).ok
