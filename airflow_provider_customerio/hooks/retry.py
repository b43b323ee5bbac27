"""The provider's **one retry decision** (:func:`should_retry`) and the loop that applies it: bounded exponential
backoff with jitter (:class:`RetryPolicy`), honouring ``Retry-After`` and Brevo's ``x-sib-ratelimit-reset``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import tenacity

from airflow_provider_customerio.exceptions import ApiError, RateLimitError, ServerError
from airflow_provider_customerio.hooks.redaction import redact_url


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


def lost_answer(message: str, *, maybe_applied: bool, **kwargs: Any) -> ServerError:
    """The :class:`ServerError` of a request that got no usable response, ``maybe_applied`` over every attempt."""
    err = ServerError(message, **kwargs)
    err.maybe_applied = maybe_applied
    return err


def describe(exc: BaseException | None) -> str:
    """A failed attempt in a few words for the retry log: ``HTTP 503`` or the exception's class name."""
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status}"
    return type(exc).__name__ if exc else "unknown"


def retrying(
    policy: RetryPolicy,
    *,
    method: str,
    url: str,
    idempotent: bool,
    log: Any,
    sleep: Callable[[float], None],
) -> tenacity.Retrying:
    """The retry loop of one request: the policy's attempts and waits, :func:`should_retry` deciding; each retry
    is logged (URL redacted) on ``log`` and waited out with ``sleep``."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s %s failed (%s); retrying, attempt %d/%d",
            method,
            redact_url(url),
            describe(exc),
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
        sleep=sleep,
        reraise=True,
    )
