"""Brevo API errors of the sandbox: one class per Brevo error, and the renderers of Brevo's bodies and headers.

Every vendor error is a :class:`BrevoError` subclass carrying the status, Brevo ``code`` and ``message``;
:func:`render_error` turns it into Brevo's ``{"code", "message"}`` body.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse, Response


class BrevoError(Exception):
    """A Brevo API error: HTTP status plus the ``{"code", "message"}`` body (and optional ``metadata``)."""

    status: int = 400
    code: str | None = "bad_request"

    def __init__(self, message: str, *, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata


class InvalidParameter(BrevoError):
    """400 ``invalid_parameter``."""

    status = 400
    code = "invalid_parameter"


class MissingParameter(BrevoError):
    """400 ``missing_parameter``."""

    status = 400
    code = "missing_parameter"


class OutOfRange(BrevoError):
    """400 ``out_of_range`` (limits, sizes, item counts)."""

    status = 400
    code = "out_of_range"


class DuplicateParameter(BrevoError):
    """400 ``duplicate_parameter`` with ``metadata.duplicate_identifiers`` on contact writes.

    https://developers.brevo.com/reference/create-contact
    """

    status = 400
    code = "duplicate_parameter"


class DocumentNotFound(BrevoError):
    """404 ``document_not_found``."""

    status = 404
    code = "document_not_found"


class PathNotFound(BrevoError):
    """404 for a path Brevo does not serve (Brevo body, ``document_not_found``)."""

    status = 404
    code = "document_not_found"


class ProcessNotFound(BrevoError):
    """404 for an unknown process: the spec's example uses ``invalid_parameter`` here, not document_not_found."""

    status = 404
    code = "invalid_parameter"


class Unauthorized(BrevoError):
    """401 ``unauthorized``."""

    status = 401
    code = "unauthorized"


class MethodNotAllowed(BrevoError):
    """405 ``method_not_allowed``."""

    status = 405
    code = "method_not_allowed"


def render_error(
    status: int, message: str, code: str | None = None, metadata: dict[str, Any] | None = None
) -> Response:
    """Render Brevo's error body ``{"code", "message"}`` (``code`` omitted when None, ``metadata`` when given)."""
    body: dict[str, Any] = {}
    if code is not None:
        body["code"] = code
    body["message"] = message
    if metadata is not None:
        body["metadata"] = metadata
    return JSONResponse(body, status_code=status)


def ratelimit_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    """Brevo's rate-limit headers: ``reset`` is the seconds left in the window (relative, not a timestamp).

    https://developers.brevo.com/docs/limit-headers
    """
    return {
        "x-sib-ratelimit-limit": str(int(limit)),
        "x-sib-ratelimit-remaining": str(max(0, int(remaining))),
        "x-sib-ratelimit-reset": str(max(0, math.ceil(reset_s))),
    }
