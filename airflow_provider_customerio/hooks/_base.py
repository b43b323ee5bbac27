"""The base of the provider's hooks: the one place that speaks HTTP.

Each public hook (Track, App, Brevo) subclasses :class:`BaseApiHook` and adds one method per endpoint. This
module owns, once for all of them, the connection settings and one request's path; the parts live next to it:

* one pooled :class:`requests.Session` per hook instance, with an auth object (:mod:`.transport`);
* the base URL rule: connection ``host`` overrides the regional default; plain HTTP only for loopback
  (:func:`.transport.check_base_url`);
* a timeout on every call and a User-Agent carrying the provider version;
* **one retry decision** (:func:`.retry.should_retry`) applied by one tenacity policy with bounded exponential
  backoff and jitter, honouring ``Retry-After`` and Brevo's ``x-sib-ratelimit-reset`` (:mod:`.retry`);
* a client-side token bucket so a task never exceeds its share of a vendor's rate limit (:mod:`.ratelimit`);
* API-call logging (connection extra ``log_api_calls``) with secrets redacted (:mod:`.redaction`);
* typed errors (:mod:`airflow_provider_customerio.exceptions`) with actionable messages (:mod:`.responses`);
* pagination generators that hide cursors and offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
import tenacity
from airflow.sdk import BaseHook

from airflow_provider_customerio import __version__
from airflow_provider_customerio.exceptions import ApiError, ConfigError, ServerError
from airflow_provider_customerio.hooks.ratelimit import Limiter, TokenBucket
from airflow_provider_customerio.hooks.redaction import log_api_call, redact_url
from airflow_provider_customerio.hooks.responses import api_error, error_details, error_message
from airflow_provider_customerio.hooks.retry import RetryPolicy, lost_answer, never_reached_server, retrying
from airflow_provider_customerio.hooks.transport import check_base_url, encode_body


class BaseApiHook(BaseHook):
    """Private base of the provider's hooks. Subclasses set the class attributes and implement
    :meth:`_default_base_url`, :meth:`_build_auth` and :meth:`_error_hint`.

    :param conn_id: Airflow connection id (each subclass names the keyword after its ``conn_name_attr``).
    :param rate_limit: requests per second for this hook instance; overrides the connection extra
        ``rate_limit`` and the vendor default. Give each of N tasks sharing a pool ``limit / N``.
    :param timeout: seconds per request (connect and read); overrides the connection extra ``timeout``.
    :param retry_policy: backoff settings; :class:`RetryPolicy` defaults if omitted.
    :param log_api_calls: log every call (method, redacted URL, status, duration, request id); overrides
        the connection extra ``log_api_calls``.
    """

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    api_name: ClassVar[str] = ""
    default_rate_limit: ClassVar[float] = 10.0
    default_timeout: ClassVar[float] = 30.0

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        rate_limit: float | None = None,
        timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
        log_api_calls: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if conn_id is None:
            conn_id = kwargs.pop(self.conn_name_attr, None) or self.default_conn_name
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}; secrets are read from the "
                "Airflow connection only."
            )
        self.conn_id = conn_id
        self._rate_limit_arg = rate_limit
        self._timeout_arg = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self._log_api_calls_arg = log_api_calls
        self._sleep: Callable[[float], None] = time.sleep
        self.api_calls = 0

    # ----------------------------------------------------------------------------------------- config
    @cached_property
    def connection(self) -> Any:
        """The Airflow connection (read once per hook instance)."""
        return self.get_connection(self.conn_id)

    @cached_property
    def extras(self) -> dict[str, Any]:
        """Connection extras, accepting both plain keys and the legacy ``extra__<type>__<name>`` form."""
        raw = dict(self.connection.extra_dejson or {})
        prefix = f"extra__{self.conn_type}__"
        for key in list(raw):
            if key.startswith(prefix):
                raw.setdefault(key[len(prefix) :], raw[key])
        return raw

    def _extra_float(self, name: str, default: float | None) -> float | None:
        value = self.extras.get(name)
        if value in (None, ""):
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"Connection '{self.conn_id}': extra field '{name}' must be a number, got {value!r}."
            ) from None

    def _extra_bool(self, name: str, default: bool = False) -> bool:
        value = self.extras.get(name, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    @cached_property
    def region(self) -> str:
        """``us`` or ``eu`` from the connection extra ``region`` (default ``us``)."""
        value = str(self.extras.get("region") or "us").strip().lower()
        if value not in ("us", "eu"):
            raise ConfigError(
                f"Connection '{self.conn_id}': extra field 'region' must be 'us' or 'eu', got {value!r}. "
                "EU workspaces (fly-eu.customer.io) use 'eu'."
            )
        return value

    @cached_property
    def base_url(self) -> str:
        """Connection ``host`` if set (with a scheme added when missing), else the vendor's default."""
        host = (self.connection.host or "").strip()
        if host:
            if "://" not in host:
                scheme = self.connection.schema if self.connection.schema in ("http", "https") else "https"
                host = f"{scheme}://{host}"
            if self.connection.port and urlsplit(host).port is None:
                parts = urlsplit(host)
                host = urlunsplit((parts.scheme, f"{parts.netloc}:{self.connection.port}", parts.path, "", ""))
            return check_base_url(host, conn_id=self.conn_id)
        return self._default_base_url()

    @cached_property
    def timeout(self) -> float:
        """Seconds per request."""
        if self._timeout_arg is not None:
            return float(self._timeout_arg)
        return float(self._extra_float("timeout", self.default_timeout) or self.default_timeout)

    @cached_property
    def log_api_calls(self) -> bool:
        """Whether every call is logged (secrets redacted)."""
        if self._log_api_calls_arg is not None:
            return self._log_api_calls_arg
        return self._extra_bool("log_api_calls")

    @cached_property
    def rate_limiter(self) -> TokenBucket:
        """The hook's client-side limiter: task argument, else connection extra, else vendor default."""
        rate = self._rate_limit_arg
        if rate is None:
            rate = self._extra_float("rate_limit", self.default_rate_limit)
        return TokenBucket(rate, sleep=lambda s: self._sleep(s))

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook instance."""
        s = requests.Session()
        s.auth = self._build_auth()
        s.headers["User-Agent"] = f"airflow-provider-customerio/{__version__} python-requests/{requests.__version__}"
        s.headers["Accept"] = "application/json"
        return s

    def get_conn(self) -> requests.Session:
        """Return the hook's :class:`requests.Session` (auth, User-Agent set)."""
        return self.session

    def close(self) -> None:
        """Release pooled connections."""
        if "session" in self.__dict__:
            self.session.close()

    def _secret(self, field_name: str = "password", label: str = "API key") -> str:
        value = getattr(self.connection, field_name, None)
        if not value:
            raise ConfigError(f"Connection '{self.conn_id}' has no {label}: set the connection's '{field_name}' field.")
        return str(value)

    # ----------------------------------------------------------------------------- subclass contract
    def _default_base_url(self) -> str:
        raise NotImplementedError

    def _build_auth(self) -> requests.auth.AuthBase:
        raise NotImplementedError

    def _error_hint(self, status: int, body: Any) -> str:
        """Vendor-specific advice appended to error messages."""
        return ""

    def _limiter_for(self, path: str) -> Limiter:
        """Rate limiter for ``path``; Brevo overrides this with per-family buckets."""
        return self.rate_limiter

    # ------------------------------------------------------------------------------------ transport
    def url(self, path: str) -> str:
        """Absolute URL of an API path."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        stream: bool = False,
        accept_statuses: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one API request through the retry policy and the rate limiter.

        :param idempotent: whether replaying the request is harmless; defaults to True for
            GET/PUT/DELETE/HEAD and False for POST (see :func:`.retry.should_retry`).
        :param accept_statuses: extra non-2xx statuses returned instead of raised.
        :return: the response (2xx, or one of ``accept_statuses``).
        :raises ApiError: a typed subclass for any other status, after retries.
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "PUT", "DELETE", "HEAD")
        url = self.url(path)
        limiter = self._limiter_for(path)
        body_bytes, send_headers = encode_body(json_body, data, headers)
        reached = False  # whether an attempt so far may have been applied (see ApiError.maybe_applied)

        def attempt() -> requests.Response:
            nonlocal reached
            limiter.acquire()
            try:
                resp = self._send(method, url, params=params, data=body_bytes, headers=send_headers, stream=stream)
            except requests.exceptions.RequestException as exc:
                reached = reached or not never_reached_server(exc)
                raise
            if 200 <= resp.status_code < 300 or resp.status_code in accept_statuses:
                return resp
            err = self._error_for(method, resp)
            reached = reached or err.maybe_applied
            err.maybe_applied = reached
            raise err

        try:
            return self._retrying(method, url, idempotent)(attempt)
        except requests.exceptions.RequestException as exc:
            raise lost_answer(
                f"No usable response from {self.api_name} after {self.retry_policy.max_attempts} attempts "
                f"({type(exc).__name__}). Check network access to {urlsplit(self.base_url).hostname} "
                "and the connection's host.",
                status=0,
                api=self.api_name,
                method=method,
                url=redact_url(url),
                maybe_applied=reached,
            ) from exc

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: bytes | None,
        headers: Mapping[str, str],
        stream: bool,
    ) -> requests.Response:
        """One attempt on the wire (no redirects followed), counted in :attr:`api_calls` and logged."""
        self.api_calls += 1
        started = time.monotonic()
        try:
            resp = self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=dict(headers),
                timeout=self.timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            self._log_call(method, url, params, None, started, error=type(exc).__name__)
            raise
        self._log_call(method, url, params, resp, started)
        return resp

    def _retrying(self, method: str, url: str, idempotent: bool) -> tenacity.Retrying:
        """The retry loop of one request (see :func:`.retry.retrying`), sleeping through the hook's clock."""
        return retrying(
            self.retry_policy,
            method=method,
            url=url,
            idempotent=idempotent,
            log=self.log,
            sleep=lambda s: self._sleep(s),
        )

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request` and decode the JSON body (``None`` for an empty body, e.g. 204)."""
        resp = self.request(method, path, **kwargs)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise ServerError(
                f"{self.api_name} answered {resp.status_code} with a body that is not JSON.",
                status=resp.status_code,
                api=self.api_name,
                method=method,
                url=redact_url(resp.url),
                body_excerpt=resp.text[:300],
            ) from None

    def _log_call(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        resp: requests.Response | None,
        started: float,
        error: str | None = None,
    ) -> None:
        if self.log_api_calls:
            log_api_call(self.log, method, url, params, resp, started, error)

    def _error_for(self, method: str, resp: requests.Response) -> ApiError:
        """The typed error of a response that is not a success, with the vendor's message and this hook's hint."""
        body, kwargs = error_details(self.api_name, method, resp)
        message = error_message(self.api_name, resp.status_code, body, self._error_hint(resp.status_code, body))
        if 300 <= resp.status_code < 400:
            return self._redirect_error(message, kwargs, resp)
        return api_error(message, kwargs, resp)

    def _redirect_error(self, message: str, kwargs: dict[str, Any], resp: requests.Response) -> ApiError:
        return ApiError(f"{message} (redirect to {resp.headers.get('Location', '?')})", **kwargs)

    # ---------------------------------------------------------------------------------- pagination
    def iter_cursor(
        self,
        method: str,
        path: str,
        items_key: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        start_param: str = "start",
        next_key: str = "next",
    ) -> Iterator[Any]:
        """Yield items of a cursor-paged list (Customer.io App API ``start``/``next``).

        The token is passed back byte for byte; an empty, null or missing ``next`` ends the list. An empty page
        that still carries a new token is not the end (observed on segment membership and messages).
        """
        query = dict(params or {})
        seen: set[str] = set()
        while True:
            body = self.request_json(method, path, params=query, json_body=json_body, idempotent=True) or {}
            yield from body.get(items_key) or []
            token = body.get(next_key)
            if not token or str(token) in seen:
                return
            seen.add(str(token))
            query[start_param] = token

    def iter_offset(
        self,
        path: str,
        items_key: str,
        *,
        limit: int,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Yield items of an offset-paged list (Brevo ``limit``/``offset``)."""
        offset = 0
        while True:
            query = {**(params or {}), "limit": limit, "offset": offset}
            body = self.request_json("GET", path, params=query) or {}
            items = body.get(items_key) or []
            yield from items
            offset += len(items)
            total = body.get("count")
            if len(items) < limit or (isinstance(total, int) and offset >= total):
                return
