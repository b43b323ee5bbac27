"""Customer.io error classes of the sandbox: one class per vendor error, each rendering the vendor's body.

Track v1 errors render ``{"meta": {"errors": [...]}}`` (merge: ``{"meta": {"error": ...}}``), Track v2 errors
render ``{"errors": [{"reason", "field", "message"}]}`` and App API errors render
``{"errors": [{"detail", "status"}]}`` (https://docs.customer.io/api/track/, https://docs.customer.io/api/app/).
"""

from __future__ import annotations

import json

from starlette.responses import Response


def json_bytes(body: object) -> bytes:
    """Serialise ``body`` compactly (the sandbox's one JSON encoder)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response without FastAPI's (slow) encoder."""
    return Response(json_bytes(body), status_code=status, headers=headers, media_type="application/json")


class InvalidOperation(ValueError):
    """A write the vendor would refuse; ``field`` and ``reason`` feed the Track v1/v2 error bodies."""

    def __init__(self, message: str, field: str = "", reason: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason


class CustomerIOError(Exception):
    """Base of every Customer.io error the sandbox raises; ``render()`` gives the vendor's response."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def body(self) -> object:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}

    def render(self) -> Response:
        return json_response(self.body(), self.status, self.headers())


# ----------------------------------------------------------------------------------------------- Track


class TrackError(CustomerIOError):
    """Track v1 error: ``{"meta": {"errors": ["..."]}}``."""

    def body(self) -> object:
        return {"meta": {"errors": [self.message]}}


class TrackValidationError(TrackError):
    """Track v1 400 (bad body, limits exceeded)."""

    status = 400


class TrackMergeError(TrackError):
    """Track v1 merge 400, whose body differs: ``{"meta": {"error": "..."}}``."""

    status = 400

    def body(self) -> object:
        return {"meta": {"error": self.message}}


class TrackUnauthorized(TrackError):
    """Track 401. The vendor publishes no body schema; the sandbox answers with the v1 envelope."""

    status = 401


class TrackNotFound(TrackError):
    """Track 404 for an unknown path."""

    status = 404


class TrackWrongRegion(TrackError):
    """A request on the US Track host for an EU workspace: 301 "wrong datacenter" with a Location.

    Field-observed (customerio-node#134): EU accounts get ``301 "wrong datacenter"``. The reference also says
    the US host redirects EU traffic, so the sandbox sends a Location header to the ``/track-eu`` alias.
    """

    status = 301

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.location = location

    def headers(self) -> dict[str, str]:
        return {"Location": self.location}


class TrackRateLimited(TrackError):
    """Track 429 (fair-use limit exceeded), with ``Retry-After`` in seconds."""

    status = 429

    def __init__(self, message: str = "rate limit exceeded", retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TrackServerError(TrackError):
    """Track 5xx (injected fault)."""

    status = 500


class TrackV2Error(CustomerIOError):
    """Track v2 400: ``{"errors": [{"reason", "field", "message"}]}``."""

    status = 400

    def __init__(self, message: str, reason: str = "invalid", field: str = "", status: int | None = None) -> None:
        super().__init__(message, status)
        self.reason = reason
        self.field = field

    def item(self) -> dict[str, object]:
        return {"reason": self.reason, "field": self.field, "message": self.message}

    def body(self) -> object:
        return {"errors": [self.item()]}


# ------------------------------------------------------------------------------------------------- App


class AppError(CustomerIOError):
    """App API error: ``{"errors": [{"detail": "...", "status": "<code>"}]}``.

    ``status`` is a string: Airbyte's recorded fixtures use ``"401"``/``"429"`` (docs/vendor-behaviour.md).
    """

    def body(self) -> object:
        return {"errors": [{"detail": self.message, "status": str(self.status)}]}


class AppBadRequest(AppError):
    """App API 400 (bad parameter or body)."""

    status = 400


class AppUnauthorized(AppError):
    """App API 401: bad key, or a key used against the wrong region (the App API never redirects)."""

    status = 401


class AppNotFound(AppError):
    """App API 404 (unknown id or path)."""

    status = 404


class AppRateLimited(AppError):
    """App API 429 "over the 10-per-second limit", with ``Retry-After`` (undocumented, docs/vendor-behaviour.md)."""

    status = 429

    def __init__(self, message: str = "rate limited to 10 requests per 1s", retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class AppServerError(AppError):
    """App API 5xx (injected fault)."""

    status = 500
