"""Typed errors of the provider.

Every API error carries the HTTP status, the API it came from, an excerpt of the response body and the
vendor's request id, so a task log is enough to open a support ticket. Messages say what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException


class CustomerIOProviderError(AirflowException):
    """Base class of every error raised by this provider."""


class ConfigError(CustomerIOProviderError, ValueError):
    """A connection, hook argument or the provider's configuration file is invalid. The message names the field
    and the fix.

    :param message: the explanation; built from ``problems`` when not given.
    :param problems: for the configuration file, one ``(yaml_path, message_with_fix)`` pair per problem.
    :param source: the file (or description) the configuration came from.
    """

    def __init__(
        self, message: str | None = None, *, problems: Sequence[tuple[str, str]] = (), source: str = "<config>"
    ) -> None:
        self.problems = list(problems)
        self.source = source
        if message is None:
            lines = [f"{path or '<root>'}: {msg}" for path, msg in self.problems]
            noun = "problem" if len(self.problems) == 1 else "problems"
            message = f"Invalid configuration {source} ({len(self.problems)} {noun}):\n  - " + "\n  - ".join(lines)
        super().__init__(message)


class InsecureBaseUrlError(ConfigError):
    """A non-HTTPS base URL was configured for a host that is not loopback."""


class ApiError(CustomerIOProviderError):
    """An API answered with an error status.

    :param message: human readable explanation, including the fix when one is known.
    :param status: HTTP status code (0 when no response was received).
    :param api: which API answered: ``customerio_track``, ``customerio_app`` or ``brevo``.
    :param method: HTTP method of the request.
    :param url: request URL with secrets redacted.
    :param body_excerpt: first bytes of the response body.
    :param request_id: the vendor's request id header, when present.
    :param errors: per-field or per-item errors reported by the vendor.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        api: str = "",
        method: str = "",
        url: str = "",
        body_excerpt: str = "",
        request_id: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        #: seconds the API asked to wait (``Retry-After``); set by the hooks when present
        self.retry_after: float | None = None
        #: whether the vendor may have applied the request although it answered with this error: no usable answer
        #: (status 0) or a 5xx may hide a request the vendor accepted; a 4xx is a refusal. The hooks set it over
        #: every attempt of a retried request (an earlier attempt that timed out may have been applied).
        self.maybe_applied: bool = status == 0 or status >= 500
        self.status = status
        self.api = api
        self.method = method
        self.url = url
        self.body_excerpt = body_excerpt
        self.request_id = request_id
        self.errors = errors or []
        detail = f"{message} [{api} {method} {url} -> {status}"
        if request_id:
            detail += f", request id {request_id}"
        detail += "]"
        if body_excerpt:
            detail += f" body: {body_excerpt}"
        super().__init__(detail)
        self.message = message


class AuthError(ApiError):
    """401 or 403: wrong credentials, wrong key type, missing scope or wrong region."""


class WrongRegionError(AuthError):
    """The workspace lives in the other Customer.io data centre."""


class NotFoundError(ApiError):
    """404: the object does not exist."""


class RateLimitError(ApiError):
    """429 that persisted through every retry."""


class ValidationError(ApiError):
    """400/413/422: the vendor rejected the request; ``errors`` carries its per-field errors."""


class ServerError(ApiError):
    """5xx or a transport failure that persisted through every retry."""


class ProcessFailedError(CustomerIOProviderError):
    """A Brevo background process (import, object upsert) or a Customer.io export ended in failure."""


class ProcessTimeoutError(CustomerIOProviderError):
    """A background process did not finish within the allowed time."""


class ConnectionCheckFailed(CustomerIOProviderError):
    """At least one connection check failed; the message lists every line and hint."""
