"""What the hooks may show of a request: URLs and headers with secrets masked, and the API-call log line.

Secrets never reach a log: every URL a hook logs or puts in an error goes through :func:`redact_url`, and the
per-call log (connection extra ``log_api_calls``) is written by :func:`log_api_call` only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

#: Query parameters and headers whose values are never logged.
SECRET_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "token",
        "access_token",
        "password",
        "secret",
        "signature",
        "authorization",
        "partner-key",
        "x-cio-signature",
        "cookie",
        "x-amz-signature",
    }
)
REDACTED = "***"
REQUEST_ID_HEADERS = ("x-request-id", "sib-request-id", "x-sib-request-id", "x-cio-request-id", "request-id")


def redact_url(url: str) -> str:
    """Return ``url`` with credentials in the userinfo part and secret query parameters masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if k.lower() in SECRET_NAMES else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with every secret-bearing header masked."""
    return {k: (REDACTED if k.lower() in SECRET_NAMES else v) for k, v in headers.items()}


def request_id(resp: requests.Response) -> str | None:
    """The vendor's request id of a response (the first of :data:`REQUEST_ID_HEADERS` present), for support."""
    for name in REQUEST_ID_HEADERS:
        value = resp.headers.get(name)
        if value:
            return value
    return None


def with_params(url: str, params: Mapping[str, Any] | None) -> str:
    """``url`` with ``params`` as its query string (what a request that got no response was sent to)."""
    if not params:
        return url
    return f"{url}?{urlencode(params, doseq=True)}"


def log_api_call(
    log: Any,
    method: str,
    url: str,
    params: Mapping[str, Any] | None,
    resp: requests.Response | None,
    started: float,
    error: str | None = None,
) -> None:
    """Log one API call: method, redacted URL, status (or ``error`` when no response came), duration since the
    ``time.monotonic()`` value ``started``, and the vendor's request id."""
    elapsed_ms = (time.monotonic() - started) * 1000
    shown = redact_url(resp.url if resp is not None else with_params(url, params))
    if resp is None:
        log.info("API %s %s -> %s after %.0f ms", method, shown, error, elapsed_ms)
        return
    log.info(
        "API %s %s -> %d in %.0f ms (request id %s)",
        method,
        shown,
        resp.status_code,
        elapsed_ms,
        request_id(resp) or "-",
    )
