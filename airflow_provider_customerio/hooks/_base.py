"""Shared transport of the provider's hooks: the one place that speaks HTTP.

Each public hook (Track, App, Brevo) subclasses :class:`BaseApiHook` and adds one method per endpoint. This
module owns, once for all of them:

* one pooled :class:`requests.Session` per hook instance, with an :class:`requests.auth.AuthBase` object;
* the base URL rule (connection ``host`` overrides the regional default; plain HTTP only for loopback);
* a timeout on every call and a User-Agent carrying the provider version;
* **one retry decision** (:func:`should_retry`) applied by one tenacity policy with bounded exponential
  backoff and jitter, honouring ``Retry-After`` and Brevo's ``x-sib-ratelimit-reset``;
* a client-side token bucket so a task never exceeds its share of a vendor's rate limit;
* API-call logging (connection extra ``log_api_calls``) with secrets redacted;
* typed errors (:mod:`airflow_provider_customerio.exceptions`) with actionable messages;
* pagination generators that hide cursors and offsets.
"""

from __future__ import annotations

import ipaddress
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
import tenacity
from airflow.sdk import BaseHook

from airflow_provider_customerio import __version__
from airflow_provider_customerio.exceptions import (
    ApiError,
    AuthError,
    ConfigError,
    InsecureBaseUrlError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)

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
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


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


class Limiter(Protocol):
    """What a request waits on before it is sent: :class:`TokenBucket` or :class:`WindowLimiter`."""

    rate: float | None

    def acquire(self) -> float: ...


class TokenBucket:
    """Thread-safe token bucket: at most ``rate`` acquisitions per second, ``burst`` at once.

    The default burst of 1 spaces calls evenly, which keeps any one-second window at or under ``rate``.

    :param rate: tokens added per second; ``None`` or ``0`` disables limiting.
    :param burst: bucket capacity.
    """

    def __init__(
        self,
        rate: float | None,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available. Returns the seconds waited."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            wait = (1.0 - self._tokens) / self.rate
            self._tokens = 0.0
            self._last = now + wait
        self._sleep(wait)
        return wait


class WindowLimiter:
    """Thread-safe hourly budget: at most ``limit`` acquisitions in any ``window_s`` seconds (a sliding log).

    For budgets a vendor counts per hour, such as Brevo's 100 requests per hour of "all other endpoints": calls go
    as soon as the budget allows (43 import reads after 43 notices go at once), and no window of ``window_s``
    seconds, fixed or rolling, ever holds more than ``limit``. A token bucket with a small burst would space the
    same 43 reads 36 s apart although the vendor allows them together.

    :param limit: acquisitions per window; ``None`` or ``0`` disables limiting.
    :param window_s: the window's length in seconds.
    """

    def __init__(
        self,
        limit: float | None,
        window_s: float = 3600.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = max(1, int(limit)) if limit and limit > 0 else 0
        self.window_s = window_s
        #: the long-run rate (per second), as :attr:`TokenBucket.rate`
        self.rate = self.limit / window_s if self.limit else None
        self._times: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one place in the window, sleeping until one is free. Returns the seconds waited."""
        if not self.limit:
            return 0.0
        with self._lock:
            now = self._clock()
            while self._times and self._times[0] <= now - self.window_s:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return 0.0
            # the oldest call leaves the window at `at`: this call takes its place then
            at = self._times.popleft() + self.window_s
            self._times.append(at)
            wait = at - now
        self._sleep(wait)
        return wait


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait before retrying, from ``Retry-After`` or Brevo's ``x-sib-ratelimit-reset``."""
    for name in ("Retry-After", "x-sib-ratelimit-reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            try:  # Retry-After may be an HTTP date
                from email.utils import parsedate_to_datetime

                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                continue
    return None


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    :param max_attempts: total attempts, the first included.
    :param backoff_base: seconds before the first retry (doubled each time).
    :param backoff_cap: upper bound of one wait, also for a server-sent ``Retry-After``.
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 60.0

    def wait_seconds(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            return min(self.backoff_cap, float(hinted)) + random.uniform(0, 0.25)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def should_retry(exc: BaseException, *, idempotent: bool = True) -> bool:
    """The provider's one retry decision.

    Retry connection errors, timeouts, 429 and 5xx; never other 4xx. A request that is not idempotent
    (e.g. a Brevo event, which has no idempotency key) is retried only when it certainly did not reach the
    server: a refused or timed-out connection attempt, or a 429.
    """
    if isinstance(exc, RateLimitError):
        return True
    if never_reached_server(exc):
        return True
    if not idempotent:
        return False
    if isinstance(exc, ServerError):
        return True
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


def _is_connect_refused(exc: BaseException) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


def never_reached_server(exc: BaseException) -> bool:
    """True when a transport error certainly kept the request from the server (a connect timeout or a refused
    connection); any other (a read timeout, a reset connection) may hide a request the server applied."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return isinstance(exc, requests.exceptions.ConnectionError) and _is_connect_refused(exc)


def _lost_answer(message: str, *, maybe_applied: bool, **kwargs: Any) -> ServerError:
    """The :class:`ServerError` of a request that got no usable response, ``maybe_applied`` over every attempt."""
    err = ServerError(message, **kwargs)
    err.maybe_applied = maybe_applied
    return err


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


def _encode_body(
    json_body: Any, data: bytes | str | None, headers: Mapping[str, str] | None
) -> tuple[bytes | None, dict[str, str]]:
    """The request body as bytes (compact UTF-8 JSON, or ``data``) and the headers to send with it."""
    send_headers = dict(headers or {})
    if json_body is not None:
        send_headers.setdefault("Content-Type", "application/json")
        return json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), send_headers
    return (data.encode("utf-8") if isinstance(data, str) else data), send_headers


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
            GET/PUT/DELETE/HEAD and False for POST (see :func:`should_retry`).
        :param accept_statuses: extra non-2xx statuses returned instead of raised.
        :return: the response (2xx, or one of ``accept_statuses``).
        :raises ApiError: a typed subclass for any other status, after retries.
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "PUT", "DELETE", "HEAD")
        url = self.url(path)
        policy = self.retry_policy
        limiter = self._limiter_for(path)
        body_bytes, send_headers = _encode_body(json_body, data, headers)
        reached = False  # whether an attempt so far may have been applied (see ApiError.maybe_applied)

        def attempt() -> requests.Response:
            nonlocal reached
            limiter.acquire()
            self.api_calls += 1
            started = time.monotonic()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body_bytes,
                    headers=send_headers,
                    timeout=self.timeout,
                    stream=stream,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                self._log_call(method, url, params, None, started, error=type(exc).__name__)
                reached = reached or not never_reached_server(exc)
                raise
            self._log_call(method, url, params, resp, started)
            if 200 <= resp.status_code < 300 or resp.status_code in accept_statuses:
                return resp
            err = self._error_for(method, resp)
            reached = reached or err.maybe_applied
            err.maybe_applied = reached
            raise err

        retrying = self._retrying(method, url, idempotent)
        try:
            return retrying(attempt)
        except requests.exceptions.RequestException as exc:
            raise _lost_answer(
                f"No usable response from {self.api_name} after {policy.max_attempts} attempts "
                f"({type(exc).__name__}). Check network access to {urlsplit(self.base_url).hostname} "
                "and the connection's host.",
                status=0,
                api=self.api_name,
                method=method,
                url=redact_url(url),
                maybe_applied=reached,
            ) from exc

    def _retrying(self, method: str, url: str, idempotent: bool) -> tenacity.Retrying:
        """The retry loop of one request: the policy's attempts and waits, :func:`should_retry` deciding."""
        policy = self.retry_policy

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.log.warning(
                "%s %s failed (%s); retrying, attempt %d/%d",
                method,
                redact_url(url),
                _describe(exc),
                state.attempt_number + 1,
                policy.max_attempts,
            )

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.max_attempts),
            wait=lambda state: policy.wait_seconds(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            retry=tenacity.retry_if_exception(lambda e: should_retry(e, idempotent=idempotent)),
            before_sleep=before_sleep,
            sleep=lambda s: self._sleep(s),
            reraise=True,
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
        if not self.log_api_calls:
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        shown = redact_url(resp.url if resp is not None else _with_params(url, params))
        if resp is None:
            self.log.info("API %s %s -> %s after %.0f ms", method, shown, error, elapsed_ms)
            return
        self.log.info(
            "API %s %s -> %d in %.0f ms (request id %s)",
            method,
            shown,
            resp.status_code,
            elapsed_ms,
            _request_id(resp) or "-",
        )

    def _error_for(self, method: str, resp: requests.Response) -> ApiError:
        status = resp.status_code
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        excerpt = (resp.text or "")[:500]
        hint = self._error_hint(status, body)
        kwargs: dict[str, Any] = {
            "status": status,
            "api": self.api_name,
            "method": method,
            "url": redact_url(resp.url),
            "body_excerpt": excerpt,
            "request_id": _request_id(resp),
            "errors": _vendor_errors(body),
        }
        vendor_msg = _vendor_message(body)
        base = f"{self.api_name} rejected the request with HTTP {status}"
        if vendor_msg:
            base += f": {vendor_msg}"
        message = f"{base}. {hint}".strip() if hint else base
        if 300 <= status < 400:
            return self._redirect_error(message, kwargs, resp)
        cls: type[ApiError]
        if status in (401, 403):
            cls = AuthError
        elif status == 404:
            cls = NotFoundError
        elif status == 429:
            cls = RateLimitError
        elif status >= 500:
            cls = ServerError
        else:
            cls = ValidationError
        err = cls(message, **kwargs)
        err.retry_after = parse_retry_after(resp.headers)
        return err

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


def _with_params(url: str, params: Mapping[str, Any] | None) -> str:
    if not params:
        return url
    return f"{url}?{urlencode(params, doseq=True)}"


def _request_id(resp: requests.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = resp.headers.get(name)
        if value:
            return value
    return None


def _vendor_message(body: Any) -> str:
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


def _vendor_errors(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [e if isinstance(e, dict) else {"message": str(e)} for e in body["errors"]]
    if isinstance(body, dict) and isinstance(body.get("meta"), dict):
        errs = body["meta"].get("errors") or ([body["meta"]["error"]] if body["meta"].get("error") else [])
        return [{"message": str(e)} for e in errs]
    if isinstance(body, dict) and "message" in body:
        return [{"code": body.get("code"), "message": body.get("message"), "metadata": body.get("metadata")}]
    return []


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status}"
    return type(exc).__name__ if exc else "unknown"
