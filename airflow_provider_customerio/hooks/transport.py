"""Where and how a hook connects: the base URL rule (HTTPS, plain HTTP only for loopback), path escaping,
the vendors' auth objects, and the request body encoding."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec
import requests

from airflow_provider_customerio.exceptions import ConfigError, InsecureBaseUrlError
from airflow_provider_customerio.hooks.redaction import redact_url

#: Request bodies: compact UTF-8 JSON, by msgspec (a dependency of Airflow itself; an 8 MB import body in a tenth of
#: the time of ``json``).
_BODY = msgspec.json.Encoder()

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(hostname: str | None) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if not hostname:
        return False
    if hostname.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, conn_id: str, field_name: str = "host") -> str:
    """Validate a configured base URL and return it without a trailing slash.

    :raises InsecureBaseUrlError: for ``http://`` on a host that is not loopback.
    :raises ConfigError: for anything that is not an absolute http(s) URL.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Connection '{conn_id}': field '{field_name}' must be an absolute URL such as "
            f"'https://api.example.com', got {redact_url(url)!r}."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureBaseUrlError(
            f"Connection '{conn_id}': field '{field_name}' uses plain HTTP for host {parts.hostname!r}. "
            "Secrets would travel unencrypted; use an https:// URL (plain http is accepted only for "
            "loopback hosts such as 127.0.0.1, e.g. the sandbox)."
        )
    return url.strip().rstrip("/")


def quote_path(value: str | int) -> str:
    """Escape one path segment completely (``/``, ``+`` and ``@`` included), as the official clients do."""
    return quote(str(value), safe="")


class _ApiKeyHeaderAuth(requests.auth.AuthBase):
    """Sends a secret in a named header (Brevo's ``api-key``)."""

    def __init__(self, header: str, secret: str) -> None:
        self.header = header
        self.secret = secret

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[self.header] = self.secret
        return r

    def __repr__(self) -> str:  # never show the secret
        return f"{type(self).__name__}(header={self.header!r})"


class BearerAuth(_ApiKeyHeaderAuth):
    """``Authorization: Bearer <token>`` (Customer.io App API)."""

    def __init__(self, token: str) -> None:
        super().__init__("Authorization", f"Bearer {token}")


class ApiKeyAuth(_ApiKeyHeaderAuth):
    """``api-key: <key>`` (Brevo)."""

    def __init__(self, key: str) -> None:
        super().__init__("api-key", key)


def encode_body(
    json_body: Any, data: bytes | str | None, headers: Mapping[str, str] | None
) -> tuple[bytes | None, dict[str, str]]:
    """The request body as bytes (compact UTF-8 JSON, or ``data``) and the headers to send with it."""
    send_headers = dict(headers or {})
    if json_body is not None:
        send_headers.setdefault("Content-Type", "application/json")
        return _BODY.encode(json_body), send_headers
    return (data.encode("utf-8") if isinstance(data, str) else data), send_headers
