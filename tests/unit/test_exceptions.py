"""The provider's typed errors (``exceptions.py``): enough in the message to open a support ticket."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_customerio.exceptions import (
    ApiError,
    AuthError,
    ConfigError,
    CustomerIOProviderError,
    InsecureBaseUrlError,
    NotFoundError,
    ServerError,
    WrongRegionError,
)


def test_an_api_error_names_the_request_its_answer_and_the_request_id() -> None:
    exc = ApiError(
        "Brevo refused the import.",
        status=400,
        api="brevo",
        method="POST",
        url="/v3/contacts/import",
        body_excerpt='{"code":"invalid_parameter"}',
        request_id="req-1",
        errors=[{"field": "email"}],
    )
    assert str(exc) == (
        "Brevo refused the import. [brevo POST /v3/contacts/import -> 400, request id req-1] "
        'body: {"code":"invalid_parameter"}'
    )
    assert exc.message == "Brevo refused the import." and exc.errors == [{"field": "email"}]
    assert exc.retry_after is None


@pytest.mark.parametrize(("status", "maybe"), [(0, True), (500, True), (503, True), (400, False), (429, False)])
def test_only_no_answer_or_a_5xx_may_hide_an_applied_request(status: int, maybe: bool) -> None:
    assert ApiError("x", status=status).maybe_applied is maybe


def test_a_config_error_lists_its_problems_with_their_paths() -> None:
    one = ConfigError(problems=[("connectors.customerio.region", "must be us or eu")], source="c.yaml")
    assert str(one) == "Invalid configuration c.yaml (1 problem):\n  - connectors.customerio.region: must be us or eu"
    two = ConfigError(problems=[("", "empty"), ("a", "b")])
    assert "<config> (2 problems)" in str(two) and "  - <root>: empty" in str(two)
    assert str(ConfigError("plain")) == "plain" and ConfigError("plain").problems == []


def test_the_errors_are_airflow_errors_and_the_usual_python_ones() -> None:
    assert issubclass(CustomerIOProviderError, AirflowException)
    assert issubclass(ConfigError, ValueError) and issubclass(InsecureBaseUrlError, ConfigError)
    assert issubclass(WrongRegionError, AuthError) and issubclass(AuthError, ApiError)
    assert issubclass(NotFoundError, ApiError) and issubclass(ServerError, CustomerIOProviderError)
