"""Secrets masked in URLs, headers and the API-call log (hooks/redaction.py)."""

from __future__ import annotations

import logging
import time

import requests

from airflow_provider_customerio.hooks.redaction import (
    log_api_call,
    redact_headers,
    redact_url,
    request_id,
    with_params,
)

APP = "https://api.customer.io"
BREVO = "https://api.brevo.com/v3"


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


def test_log_line_of_a_call_that_got_no_response_shows_the_redacted_query():
    lines: list[str] = []

    class Log:
        def info(self, fmt, *args):
            lines.append(fmt % args)

    log_api_call(Log(), "GET", "https://x.io/a", {"token": "T-1", "limit": 5}, None, time.monotonic(), "ReadTimeout")
    assert len(lines) == 1
    assert lines[0].startswith("API GET https://x.io/a?token=***&limit=5 -> ReadTimeout after ")
    assert "T-1" not in lines[0]


def test_request_id_is_the_first_vendor_header_present():
    resp = requests.Response()
    resp.headers.update({"x-sib-request-id": "sib-1", "request-id": "other"})
    assert request_id(resp) == "sib-1"
    assert request_id(requests.Response()) is None
    assert with_params("https://x.io/a", None) == "https://x.io/a"
