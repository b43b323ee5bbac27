"""Customer.io reporting-webhook signatures (https://docs.customer.io/api/webhooks/; docs/vendor-behaviour.md).

The signature is the lowercase hex HMAC-SHA256 of ``v0:<X-CIO-Timestamp>:<raw body>``, keyed with the webhook's
signing key. The header may carry an optional ``v0=`` prefix (accepted defensively). The comparison is constant
time (:func:`hmac.compare_digest`), and a timestamp outside the replay window (default five minutes either side
of now) is refused, so a captured request cannot be replayed later.

No Airflow and no HTTP imports here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable

TIMESTAMP_HEADER = "X-CIO-Timestamp"
SIGNATURE_HEADER = "X-CIO-Signature"
#: Replay window: requests whose timestamp is further than this from now are refused.
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A webhook request failed authentication.

    :param reason: ``missing_header``, ``bad_timestamp``, ``stale_timestamp`` or ``bad_signature``.
    :param message: what is wrong and what to check (never contains the key or the expected signature).
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _key_bytes(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8")


def compute_signature(key: str | bytes, timestamp: str | int, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``v0:<timestamp>:<body>`` (what Customer.io sends in ``X-CIO-Signature``)."""
    message = b"v0:" + str(timestamp).encode("ascii") + b":" + body
    return hmac.new(_key_bytes(key), message, hashlib.sha256).hexdigest()


def parse_timestamp(value: str | None) -> int:
    """The integer unix seconds of an ``X-CIO-Timestamp`` header, or :class:`SignatureError`."""
    if value is None or not value.strip():
        raise SignatureError("missing_header", f"the {TIMESTAMP_HEADER} header is missing")
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:  # "¹".isdigit() is True
        raise SignatureError(
            "bad_timestamp", f"the {TIMESTAMP_HEADER} header must be unix seconds (digits only), got {text[:20]!r}"
        )
    return int(text)


def verify_signature(
    keys: str | bytes | Iterable[str | bytes],
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    clock: Callable[[], float] = time.time,
) -> int:
    """Verify a reporting-webhook request; return its timestamp.

    :param keys: the signing key, or several (during a key rotation the old and the new one).
    :param timestamp_header: the raw ``X-CIO-Timestamp`` value.
    :param signature_header: the raw ``X-CIO-Signature`` value (hex, optionally ``v0=``-prefixed).
    :param body: the raw request body, byte for byte (never re-serialised JSON).
    :param tolerance_seconds: the replay window; a timestamp older (or further in the future) than this is refused.
    :raises SignatureError: with a ``reason`` code.
    """
    timestamp = parse_timestamp(timestamp_header)
    skew = clock() - timestamp
    if abs(skew) > tolerance_seconds:
        direction = "old" if skew > 0 else "in the future"
        raise SignatureError(
            "stale_timestamp",
            f"the request timestamp is {abs(int(skew))} s {direction}, outside the {tolerance_seconds} s replay "
            "window (a replayed request, or a clock out of sync: check NTP on the Airflow API server)",
        )
    if not signature_header or not signature_header.strip():
        raise SignatureError("missing_header", f"the {SIGNATURE_HEADER} header is missing")
    given = signature_header.strip()
    if given[:3].lower() == "v0=":
        given = given[3:]
    given_bytes = given.lower().encode("utf-8", errors="replace")
    key_list = [keys] if isinstance(keys, (str, bytes)) else list(keys)
    matched = False
    for key in key_list:
        if not key:
            continue
        expected = compute_signature(key, timestamp_header.strip(), body).encode("ascii")  # type: ignore[union-attr]
        # compare every key (no early exit), each in constant time
        matched |= hmac.compare_digest(expected, given_bytes)
    if not matched:
        raise SignatureError(
            "bad_signature",
            f"the {SIGNATURE_HEADER} header does not match the body: check that the connection's signing key is "
            "the one shown on the Customer.io reporting-webhook settings page",
        )
    return timestamp


def sign_headers(key: str | bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Customer.io would send with ``body`` (for the sandbox emitter and tests)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: compute_signature(key, ts, body),
        "Content-Type": "application/json",
    }


__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureError",
    "compute_signature",
    "parse_timestamp",
    "sign_headers",
    "verify_signature",
]
