"""What a vendor's answer means: the typed error of a failed call (:func:`api_error`, read from any of the
vendors' error envelopes) and the outcome of a batch call that can partially fail (:class:`BatchResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from airflow_provider_customerio.exceptions import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from airflow_provider_customerio.hooks.redaction import redact_url, request_id
from airflow_provider_customerio.hooks.retry import parse_retry_after


@dataclass
class BatchResult:
    """Outcome of a vendor batch call that can partially fail (Track v2 207, Brevo events 207).

    :param status: HTTP status (200/202 all accepted, 207 partial).
    :param errors: one dict per rejected item with at least ``index`` and ``message``.
    """

    status: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    body: Any = None

    @property
    def ok(self) -> bool:
        """True when every item was accepted."""
        return not self.errors

    @property
    def failed_indexes(self) -> set[int]:
        """0-based positions of the rejected items."""
        return {int(e["index"]) for e in self.errors}


def vendor_message(body: Any) -> str:
    """Extract the human message of any of the vendors' error envelopes."""
    if not isinstance(body, dict):
        return ""
    if isinstance(body.get("message"), str):  # Brevo {"code","message"}
        code = body.get("code")
        return f"{body['message']} ({code})" if code else body["message"]
    meta = body.get("meta")
    if isinstance(meta, dict):  # Track v1 {"meta":{"errors":[..]}} / {"meta":{"error":".."}}
        if isinstance(meta.get("error"), str):
            return str(meta["error"])
        if isinstance(meta.get("errors"), list):
            return "; ".join(str(e) for e in meta["errors"])
    errors = body.get("errors")
    if isinstance(errors, list):  # App {"errors":[{"detail"}]} / Track v2 {"errors":[{"reason","field","message"}]}
        parts = []
        for e in errors[:5]:
            if isinstance(e, dict):
                text = e.get("detail") or e.get("message") or e.get("reason") or ""
                if e.get("field"):
                    text = f"{e['field']}: {text}"
                parts.append(str(text))
            else:
                parts.append(str(e))
        return "; ".join(parts)
    return ""


def vendor_errors(body: Any) -> list[dict[str, Any]]:
    """The rejected items of any of the vendors' error envelopes, one dict each (``message`` at least)."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [e if isinstance(e, dict) else {"message": str(e)} for e in body["errors"]]
    if isinstance(body, dict) and isinstance(body.get("meta"), dict):
        errs = body["meta"].get("errors") or ([body["meta"]["error"]] if body["meta"].get("error") else [])
        return [{"message": str(e)} for e in errs]
    if isinstance(body, dict) and "message" in body:
        return [{"code": body.get("code"), "message": body.get("message"), "metadata": body.get("metadata")}]
    return []


def error_class(status: int) -> type[ApiError]:
    """The typed error of an HTTP status that is neither 2xx nor a redirect."""
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return ValidationError


def error_details(api_name: str, method: str, resp: requests.Response) -> tuple[Any, dict[str, Any]]:
    """The decoded body of an error response (``None`` if not JSON) and the keyword arguments of its
    :class:`ApiError`: status, API, method, redacted URL, body excerpt, request id and the vendor's errors."""
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    kwargs: dict[str, Any] = {
        "status": resp.status_code,
        "api": api_name,
        "method": method,
        "url": redact_url(resp.url),
        "body_excerpt": (resp.text or "")[:500],
        "request_id": request_id(resp),
        "errors": vendor_errors(body),
    }
    return body, kwargs


def error_message(api_name: str, status: int, body: Any, hint: str) -> str:
    """``<API> rejected the request with HTTP <status>: <vendor message>. <hint>``."""
    vendor_msg = vendor_message(body)
    base = f"{api_name} rejected the request with HTTP {status}"
    if vendor_msg:
        base += f": {vendor_msg}"
    return f"{base}. {hint}".strip() if hint else base


def api_error(message: str, kwargs: dict[str, Any], resp: requests.Response) -> ApiError:
    """The typed error of a non-2xx, non-redirect response, with the server's retry hint."""
    err = error_class(resp.status_code)(message, **kwargs)
    err.retry_after = parse_retry_after(resp.headers)
    return err
