"""Customer.io Track API (v1 and v2): writes people, events and objects into a workspace.

Auth is HTTP Basic with the workspace's **Site ID** (connection login) and **Track API key** (connection
password). Success is ``200 {}``. A v2 batch that is partly invalid answers ``207`` with per-operation errors;
:meth:`CustomerIOTrackHook.batch` returns them to the caller and never swallows them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import requests

from airflow_provider_customerio.exceptions import ApiError, WrongRegionError
from airflow_provider_customerio.hooks._base import BaseApiHook
from airflow_provider_customerio.hooks.responses import BatchResult
from airflow_provider_customerio.hooks.transport import quote_path

TRACK_BASE_URLS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
MAX_BATCH_BYTES = 500 * 1024
_ENCODER = msgspec.json.Encoder()
_JSON_HEADERS = {"Content-Type": "application/json"}


class CustomerIOTrackHook(BaseApiHook):
    """Hook for the Customer.io Track API (connection type ``customerio_track``).

    :param customerio_track_conn_id: connection with Site ID (login), Track API key (password), and the
        extras ``region`` (``us``/``eu``), ``rate_limit``, ``timeout``, ``log_api_calls``.
    """

    conn_name_attr: ClassVar[str] = "customerio_track_conn_id"
    default_conn_name: ClassVar[str] = "customerio_track_default"
    conn_type: ClassVar[str] = "customerio_track"
    hook_name: ClassVar[str] = "Customer.io Track API"
    api_name: ClassVar[str] = "Customer.io Track API"
    # The Track API is "fair use" (1000 req/s in 2026 docs, 100 req/s in older ones): stay at the lower one.
    default_rate_limit: ClassVar[float] = 100.0

    def __init__(self, customerio_track_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(customerio_track_conn_id, **kwargs)

    def _default_base_url(self) -> str:
        return TRACK_BASE_URLS[self.region]

    def _build_auth(self) -> requests.auth.AuthBase:
        site_id = self.connection.login
        if not site_id:
            from airflow_provider_customerio.exceptions import ConfigError

            raise ConfigError(
                f"Connection '{self.conn_id}' has no Site ID: put the workspace's Site ID in the 'login' "
                "field (Customer.io > Settings > API credentials > Track API keys)."
            )
        return requests.auth.HTTPBasicAuth(str(site_id), self._secret("password", "Track API key"))

    def _error_hint(self, status: int, body: Any) -> str:
        if status == 401:
            return (
                f"Check the Site ID (login) and Track API key (password) of connection '{self.conn_id}'. "
                "An App API key does not work on the Track API."
            )
        if status in (301, 302, 307, 308):
            return self._wrong_region_hint()
        return ""

    def _wrong_region_hint(self) -> str:
        other = "eu" if self.region == "us" else "us"
        return (
            f"Wrong datacenter: this workspace is not in region '{self.region}'. "
            f"Set the extra field region='{other}' on connection '{self.conn_id}'."
        )

    def _redirect_error(self, message: str, kwargs: dict[str, Any], resp: requests.Response) -> ApiError:
        return WrongRegionError(message, **kwargs)

    # --------------------------------------------------------------------------------------- v1
    def identify(self, identifier: str, attributes: dict[str, Any]) -> None:
        """Create or update a person (``PUT /api/v1/customers/{identifier}``).

        :param identifier: an id, an email, or ``cio_<cio_id>``.
        :param attributes: flat attributes; reserved keys such as ``_update`` and ``email`` are passed through.
        """
        self.request("PUT", f"/api/v1/customers/{quote_path(identifier)}", json_body=attributes)

    def delete_person(self, identifier: str) -> None:
        """Delete a person and all of their data."""
        self.request("DELETE", f"/api/v1/customers/{quote_path(identifier)}", json_body={})

    def track_event(
        self,
        identifier: str,
        name: str,
        data: dict[str, Any] | None = None,
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
        event_type: str = "event",
    ) -> None:
        """Send an event for a person. With ``event_id`` (a ULID) the call is idempotent: Customer.io
        ignores a repeated id, so it is retried like any idempotent call."""
        body: dict[str, Any] = {"name": name, "data": data or {}}
        if event_type != "event":
            body["type"] = event_type
        if event_id:
            body["id"] = event_id
        if timestamp is not None:
            body["timestamp"] = int(timestamp)
        self.request(
            "POST",
            f"/api/v1/customers/{quote_path(identifier)}/events",
            json_body=body,
            idempotent=event_id is not None,
        )

    def track_anonymous_event(
        self,
        name: str,
        *,
        anonymous_id: str | None = None,
        data: dict[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Send an anonymous event (``POST /api/v1/events``)."""
        body: dict[str, Any] = {"name": name, "data": data or {}}
        if anonymous_id:
            body["anonymous_id"] = anonymous_id
        if event_id:
            body["id"] = event_id
        if timestamp is not None:
            body["timestamp"] = int(timestamp)
        self.request("POST", "/api/v1/events", json_body=body, idempotent=event_id is not None)

    def suppress(self, identifier: str) -> None:
        """Delete the person and block their identifiers from being added again."""
        self.request("POST", f"/api/v1/customers/{quote_path(identifier)}/suppress", json_body={}, idempotent=True)

    def unsuppress(self, identifier: str) -> None:
        """Free a suppressed identifier (does not restore the profile)."""
        self.request("POST", f"/api/v1/customers/{quote_path(identifier)}/unsuppress", json_body={}, idempotent=True)

    def get_region(self) -> dict[str, Any]:
        """``GET /api/v1/accounts/region``: ``{"url", "region", "environment_id"}`` of the workspace."""
        return self.request_json("GET", "/api/v1/accounts/region") or {}

    # --------------------------------------------------------------------------------------- v2
    def entity(self, operation: dict[str, Any]) -> None:
        """Send one v2 operation (``POST /api/v2/entity``, < 32 KB)."""
        self.request("POST", "/api/v2/entity", json_body=operation, idempotent=_is_idempotent_op(operation))

    def batch(self, operations: list[dict[str, Any]]) -> BatchResult:
        """Send several v2 operations (``POST /api/v2/batch``, < 500 KB, each ≤ 32 KB).

        The body is compact UTF-8 JSON written by msgspec; a non-finite number, which ``json.dumps`` would write as
        invalid JSON (``NaN``), is written as ``null``.

        :return: the outcome; on 207 ``errors`` holds ``{"index", "reason", "field", "message"}`` per rejected
            operation (Customer.io applied the others).
        """
        idempotent = all(_is_idempotent_op(op) for op in operations)
        try:  # msgspec writes the ~500 KB body several times faster than json.dumps (compact UTF-8 either way)
            body_bytes = _ENCODER.encode({"batch": operations})
        except (TypeError, msgspec.EncodeError):  # a value msgspec cannot write: the standard encoder's error
            resp = self.request("POST", "/api/v2/batch", json_body={"batch": operations}, idempotent=idempotent)
        else:
            resp = self.request("POST", "/api/v2/batch", data=body_bytes, headers=_JSON_HEADERS, idempotent=idempotent)
        body = resp.json() if resp.content else {}
        errors = []
        if resp.status_code == 207:
            for err in (body or {}).get("errors") or []:
                errors.append({**err, "index": int(err.get("batch_index", -1))})
        return BatchResult(status=resp.status_code, errors=errors, body=body)

    # ------------------------------------------------------------------------------- connection
    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with ``GET /api/v1/accounts/region`` and report the workspace's region."""
        try:
            info = self.get_region()
        except Exception as exc:  # Airflow's Test button expects (False, message), not an exception
            return False, str(exc)
        detected = str(info.get("region") or "?")
        message = f"Connected to the Track API; workspace region '{detected}'"
        if detected in ("us", "eu") and detected != self.region:
            message += (
                f", but the connection is configured for '{self.region}': set the extra field region='{detected}'"
            )
        return True, message


def _is_idempotent_op(op: dict[str, Any]) -> bool:
    """Identify, delete, relationship and device ops are replay-safe; events are when they carry an ``id``."""
    action = op.get("action")
    if action in ("event", "page", "screen"):
        return bool(op.get("id"))
    return action != "merge"
