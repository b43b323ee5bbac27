"""Customer.io App API: reads campaigns, segments, people, activities, messages, exports and objects.

Auth is ``Authorization: Bearer <App API key>``. The App API allows 10 requests per second **for the whole
workspace**, so the default client-side rate is 10 req/s per hook; give N tasks that share the
``customerio_app`` pool ``10 / N`` each (see the README's pools section). Lists paginate with opaque
``start``/``next`` tokens, hidden here behind generators.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import requests

from airflow_provider_customerio.exceptions import (
    ConfigError,
    ProcessFailedError,
    ProcessTimeoutError,
)
from airflow_provider_customerio.hooks._base import BaseApiHook
from airflow_provider_customerio.hooks.transport import BearerAuth, check_base_url, quote_path

APP_BASE_URLS = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
MAX_ATTRIBUTE_IDS = 100
MAX_MEMBERSHIP_LIMIT = 30000
MAX_SEARCH_LIMIT = 1000
MAX_ACTIVITY_LIMIT = 100
MAX_MESSAGE_LIMIT = 1000
#: Match-everyone filter used by Airbyte and the Singer tap.
MATCH_ALL_FILTER: dict[str, Any] = {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}
#: People per filtered export (``ids_filter``). Customer.io publishes no bound on a filter's size; this keeps a
#: request body under about 700 kB (the sandbox refuses more conditions: docs/vendor-behaviour.md).
MAX_EXPORT_FILTER_IDS = 10_000


class CustomerIOAppHook(BaseApiHook):
    """Hook for the Customer.io App API (connection type ``customerio_app``).

    :param customerio_app_conn_id: connection with the App API key (password) and the extras ``region``
        (``us``/``eu``), ``rate_limit``, ``timeout``, ``log_api_calls``.
    """

    conn_name_attr: ClassVar[str] = "customerio_app_conn_id"
    default_conn_name: ClassVar[str] = "customerio_app_default"
    conn_type: ClassVar[str] = "customerio_app"
    hook_name: ClassVar[str] = "Customer.io App API"
    api_name: ClassVar[str] = "Customer.io App API"
    default_rate_limit: ClassVar[float] = 10.0

    def __init__(self, customerio_app_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(customerio_app_conn_id, **kwargs)

    def _default_base_url(self) -> str:
        return APP_BASE_URLS[self.region]

    def _build_auth(self) -> requests.auth.AuthBase:
        return BearerAuth(self._secret("password", "App API key"))

    def _error_hint(self, status: int, body: Any) -> str:
        if status == 401:
            other = "eu" if self.region == "us" else "us"
            return (
                f"Either the App API key of connection '{self.conn_id}' is wrong (a Track API key does not work "
                f"here), or the workspace is in the other region: the App API answers 401 for a key sent to "
                f"the wrong data centre, so try the extra field region='{other}'."
            )
        if status == 403:
            return f"The App API key of connection '{self.conn_id}' lacks the scope for this endpoint."
        if status == 429:
            return "The workspace-wide App API limit (10 req/s) was exceeded; lower the pool's slots or rate_limit."
        return ""

    # ------------------------------------------------------------------------------- campaigns
    def list_campaigns(self) -> list[dict[str, Any]]:
        """All campaigns (``GET /v1/campaigns``, unpaged)."""
        return (self.request_json("GET", "/v1/campaigns") or {}).get("campaigns") or []

    def get_campaign(self, campaign_id: int | str) -> dict[str, Any]:
        """One campaign."""
        return (self.request_json("GET", f"/v1/campaigns/{quote_path(campaign_id)}") or {}).get("campaign") or {}

    def get_campaign_metrics(
        self,
        campaign_id: int | str,
        *,
        period: str | None = "days",
        steps: int | None = None,
        version: int | None = None,
        res: str | None = None,
        start: int | None = None,
        end: int | None = None,
        type: str | None = None,
        tz: str | None = None,
    ) -> dict[str, list[int]]:
        """Metric series of a campaign, oldest period first: ``{"sent": [...], "opened": [...], ...}``.

        v1: ``period`` + ``steps`` (periods start at 00:00 Eastern). v2 (``version=2``): ``res`` +
        ``start``/``end`` (unix seconds) and an optional IANA time zone ``tz``.
        """
        params: dict[str, Any] = {}
        if version == 2:
            params.update({"version": 2, "res": res or "days"})
            if start is not None:
                params["start"] = int(start)
            if end is not None:
                params["end"] = int(end)
            if tz:
                params["tz"] = tz
        else:
            if period:
                params["period"] = period
            if steps is not None:
                params["steps"] = int(steps)
        if type:
            params["type"] = type
        body = self.request_json("GET", f"/v1/campaigns/{quote_path(campaign_id)}/metrics", params=params) or {}
        return ((body.get("metric") or {}).get("series")) or {}

    def get_newsletter_metrics(
        self, newsletter_id: int | str, *, period: str = "days", steps: int | None = None, type: str | None = None
    ) -> dict[str, list[int]]:
        """Metric series of a newsletter, oldest period first (``GET /v1/newsletters/{id}/metrics``: ``period`` +
        ``steps`` only, periods start at 00:00 Eastern;
        https://docs.customer.io/api/app/#operation/getNewsletterMetrics)."""
        return self._v1_series(f"/v1/newsletters/{quote_path(newsletter_id)}/metrics", period, steps, type)

    def list_broadcasts(self) -> list[dict[str, Any]]:
        """API-triggered broadcasts (``GET /v1/broadcasts``, unpaged)."""
        return (self.request_json("GET", "/v1/broadcasts") or {}).get("broadcasts") or []

    def get_broadcast_metrics(
        self, broadcast_id: int | str, *, period: str = "days", steps: int | None = None, type: str | None = None
    ) -> dict[str, list[int]]:
        """Metric series of an API-triggered broadcast, oldest period first (``GET /v1/broadcasts/{id}/metrics``,
        https://docs.customer.io/api/app/#operation/broadcastMetrics)."""
        return self._v1_series(f"/v1/broadcasts/{quote_path(broadcast_id)}/metrics", period, steps, type)

    def _v1_series(self, path: str, period: str, steps: int | None, type: str | None) -> dict[str, list[int]]:
        params: dict[str, Any] = {"period": period}
        if steps is not None:
            params["steps"] = int(steps)
        if type:
            params["type"] = type
        body = self.request_json("GET", path, params=params) or {}
        series = (body.get("metric") or {}).get("series") or {}
        return {str(k): list(v) for k, v in series.items() if isinstance(v, list)}

    def list_newsletters(self) -> Iterator[dict[str, Any]]:
        """All newsletters (paged)."""
        return self.iter_cursor("GET", "/v1/newsletters", "newsletters", params={"limit": 100})

    # -------------------------------------------------------------------------------- segments
    def list_segments(self) -> list[dict[str, Any]]:
        """All segments with their ``state`` (``finished`` once built)."""
        return (self.request_json("GET", "/v1/segments") or {}).get("segments") or []

    def get_segment(self, segment_id: int | str) -> dict[str, Any]:
        """One segment."""
        return (self.request_json("GET", f"/v1/segments/{quote_path(segment_id)}") or {}).get("segment") or {}

    def iter_segment_membership(
        self, segment_id: int | str, *, limit: int = MAX_MEMBERSHIP_LIMIT
    ) -> Iterator[dict[str, Any]]:
        """Yield the identifiers (``{"id", "email", "cio_id"}``) of every member of a segment."""
        return self.iter_cursor(
            "GET",
            f"/v1/segments/{quote_path(segment_id)}/membership",
            "identifiers",
            params={"limit": _bounded(limit, MAX_MEMBERSHIP_LIMIT, "limit")},
        )

    # ---------------------------------------------------------------------------------- people
    def search_people(
        self, filter: dict[str, Any] | None = None, *, limit: int = MAX_SEARCH_LIMIT
    ) -> Iterator[dict[str, Any]]:
        """Yield identifiers of the people matching an audience filter (default: everyone)."""
        return self.iter_cursor(
            "POST",
            "/v1/customers",
            "identifiers",
            params={"limit": _bounded(limit, MAX_SEARCH_LIMIT, "limit")},
            json_body={"filter": filter or MATCH_ALL_FILTER},
        )

    def get_people_attributes(self, ids: Iterable[str], *, id_type: str = "cio_id") -> list[dict[str, Any]]:
        """Attributes of up to 100 people (``POST /v1/customers/attributes``).

        Unknown ids are silently left out by Customer.io. Items are returned flat
        (``{"id", "identifiers", "attributes", "timestamps", "unsubscribed", "devices"}``), unwrapping the
        ``{"customer": {...}}`` form the spec documents.
        """
        id_list = [str(i) for i in ids]
        if not id_list:
            return []
        if len(id_list) > MAX_ATTRIBUTE_IDS:
            raise ValueError(f"get_people_attributes takes at most {MAX_ATTRIBUTE_IDS} ids, got {len(id_list)}")
        body = (
            self.request_json(
                "POST",
                "/v1/customers/attributes",
                params={"id_type": id_type},
                json_body={"ids": id_list},
                idempotent=True,
            )
            or {}
        )
        return [c.get("customer", c) if isinstance(c, dict) else c for c in body.get("customers") or []]

    def get_customer_attributes(self, customer_id: str, *, id_type: str = "id") -> dict[str, Any]:
        """One person's profile (``GET /v1/customers/{id}/attributes``)."""
        body = (
            self.request_json("GET", f"/v1/customers/{quote_path(customer_id)}/attributes", params={"id_type": id_type})
            or {}
        )
        return body.get("customer") or {}

    def iter_activities(
        self,
        *,
        type: str | None = None,
        name: str | None = None,
        deleted: bool = True,
        limit: int = MAX_ACTIVITY_LIMIT,
    ) -> Iterator[dict[str, Any]]:
        """Yield workspace activities, **newest first** (only 30 days are guaranteed). Callers stop reading
        once items are older than their window."""
        params: dict[str, Any] = {"limit": _bounded(limit, MAX_ACTIVITY_LIMIT, "limit")}
        if type:
            params["type"] = type
        if name:
            params["name"] = name
        if deleted:
            params["deleted"] = "true"
        return self.iter_cursor("GET", "/v1/activities", "activities", params=params)

    def iter_messages(
        self,
        *,
        start_ts: int | None = None,
        end_ts: int | None = None,
        limit: int = MAX_MESSAGE_LIMIT,
        **filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """Yield deliveries, newest first; ``start_ts``/``end_ts`` are both inclusive."""
        params: dict[str, Any] = {"limit": _bounded(limit, MAX_MESSAGE_LIMIT, "limit")}
        if start_ts is not None:
            params["start_ts"] = int(start_ts)
        if end_ts is not None:
            params["end_ts"] = int(end_ts)
        params.update({k: v for k, v in filters.items() if v is not None})
        return self.iter_cursor("GET", "/v1/messages", "messages", params=params)

    # --------------------------------------------------------------------------------- exports
    def create_customer_export(
        self, filters: dict[str, Any] | None = None, attributes: list[str] | None = None
    ) -> dict[str, Any]:
        """Start a people export (``POST /v1/exports/customers``); returns the export object."""
        body: dict[str, Any] = {"filters": filters or MATCH_ALL_FILTER}
        if attributes:
            body["attributes"] = list(attributes)
        return (self.request_json("POST", "/v1/exports/customers", json_body=body) or {}).get("export") or {}

    @staticmethod
    def ids_filter(ids: Iterable[str], *, field: str = "cio_id") -> dict[str, Any]:
        """An AudienceFilter matching exactly these people: ``or`` of ``eq`` conditions on ``field``.

        The filter grammar has only ``eq`` and ``exists`` (no time or range operator,
        https://docs.customer.io/api/app/#operation/exportPeopleData), so a set of people is named one by one.
        At most :data:`MAX_EXPORT_FILTER_IDS` ids.
        """
        values = [str(i) for i in ids]
        if not values:
            raise ValueError("ids_filter needs at least one id (an empty `or` is not a valid filter)")
        if len(values) > MAX_EXPORT_FILTER_IDS:
            raise ValueError(f"ids_filter takes at most {MAX_EXPORT_FILTER_IDS} ids, got {len(values)}")
        return {"or": [{"attribute": {"field": field, "operator": "eq", "value": v}} for v in values]}

    def get_export(self, export_id: int | str) -> dict[str, Any]:
        """An export's state: ``status`` is ``pending``, ``done`` or ``failed``."""
        return (self.request_json("GET", f"/v1/exports/{quote_path(export_id)}") or {}).get("export") or {}

    def wait_for_export(
        self, export_id: int | str, *, timeout: float = 3600.0, check_interval: float = 5.0
    ) -> dict[str, Any]:
        """Poll an export until it is ``done``: first after ``check_interval`` seconds, then each wait half as long
        again, up to four times ``check_interval`` (Customer.io publishes no export duration; a large workspace's
        export takes minutes, and every poll is an App API call).

        :raises ProcessFailedError: the export failed.
        :raises ProcessTimeoutError: it was not done within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        interval = check_interval
        while True:
            export = self.get_export(export_id)
            status = export.get("status")
            if status == "done":
                return export
            if status == "failed" or export.get("failed"):
                raise ProcessFailedError(f"Customer.io export {export_id} failed: {export}")
            if time.monotonic() >= deadline:
                raise ProcessTimeoutError(
                    f"Customer.io export {export_id} was still '{status}' after {timeout:.0f} s; raise the timeout."
                )
            self._sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, check_interval * 4)

    def get_export_download_url(self, export_id: int | str) -> str:
        """The signed download link of a finished export (valid 15 minutes)."""
        body = self.request_json("GET", f"/v1/exports/{quote_path(export_id)}/download") or {}
        url = body.get("url") or body.get("link")  # spec says url; an SDK comment says link
        if not url:
            raise ProcessFailedError(f"Customer.io export {export_id} has no download URL: {body}")
        return str(url)

    def iter_export_rows(self, export_id: int | str) -> Iterator[dict[str, str]]:
        """Stream the rows of a finished people export (CSV) as dicts, without holding the file in memory.

        The signed link is fetched without the API credentials (it is a pre-signed URL).
        """
        url = self.get_export_download_url(export_id)
        parts = check_base_url(url, conn_id=self.conn_id, field_name="export download url")
        self.rate_limiter.acquire()
        self.api_calls += 1
        with requests.get(
            parts, stream=True, timeout=self.timeout, headers={"User-Agent": self.session.headers["User-Agent"]}
        ) as resp:
            if resp.status_code != 200:
                raise ProcessFailedError(
                    f"Downloading Customer.io export {export_id} failed with HTTP {resp.status_code}; "
                    "the link expires after 15 minutes, re-run the task to get a fresh one."
                )
            resp.encoding = resp.encoding or "utf-8"
            lines = (line for line in resp.iter_lines(decode_unicode=True) if line is not None)
            yield from csv.DictReader(lines)

    # --------------------------------------------------------------------------------- objects
    def list_object_types(self) -> list[dict[str, Any]]:
        """Object types of the workspace (``id`` is a string holding an integer)."""
        return (self.request_json("GET", "/v1/object_types") or {}).get("types") or []

    def iter_objects(
        self, object_type_id: str | int, filter: dict[str, Any] | None = None, *, limit: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Yield identifiers (``{"object_id", "cio_object_id"}``) of objects of a type matching a filter
        (default: every object that has an ``object_id``)."""
        type_id = str(object_type_id)
        flt = filter or {
            "and": [{"object_attribute": {"type_id": type_id, "field": "object_id", "operator": "exists"}}]
        }
        return self.iter_cursor(
            "POST",
            "/v1/objects",
            "identifiers",
            params={"limit": limit},
            json_body={"object_type_id": type_id, "filter": flt},
        )

    def get_object_attributes(self, object_type_id: str | int, object_id: str) -> dict[str, Any]:
        """One object's attributes (``{"attributes", "timestamps", "identifiers", "object_type_id"}``)."""
        body = (
            self.request_json("GET", f"/v1/objects/{quote_path(object_type_id)}/{quote_path(object_id)}/attributes")
            or {}
        )
        return body.get("object") or {}

    def iter_object_relationships(self, object_type_id: str | int, object_id: str) -> Iterator[dict[str, Any]]:
        """Yield the people related to an object (``{"identifiers": {...}, "attributes", ...}``)."""
        return self.iter_cursor(
            "GET",
            f"/v1/objects/{quote_path(object_type_id)}/{quote_path(object_id)}/relationships",
            "cio_relationships",
        )

    # ------------------------------------------------------------------------------ connection
    def test_connection(self) -> tuple[bool, str]:
        """A cheap authenticated read (``GET /v1/segments``)."""
        try:
            segments = self.list_segments()
        except Exception as exc:
            return False, str(exc)
        return True, f"Connected to the App API (region '{self.region}'); {len(segments)} segments visible"


def _bounded(value: int, maximum: int, name: str) -> int:
    if not 1 <= int(value) <= maximum:
        raise ConfigError(f"'{name}' must be between 1 and {maximum}, got {value}.")
    return int(value)
