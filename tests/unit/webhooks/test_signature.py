"""Signature verification of Customer.io reporting webhooks (https://docs.customer.io/api/webhooks/)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_customerio.webhooks.signature import (
    SignatureError,
    compute_signature,
    sign_headers,
    verify_signature,
)

KEY = "whsec-test-key"
NOW = 1_700_000_000
BODY = b'{"event_id":"01E4C4CT6YDC7Y5M7FE1GWWPQJ","metric":"sent","object_type":"email","timestamp":1700000000}'


def clock() -> float:
    return float(NOW)


def test_signature_is_the_documented_hmac():
    expected = hmac.new(KEY.encode(), b"v0:" + str(NOW).encode() + b":" + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(KEY, NOW, BODY) == expected
    assert expected == expected.lower() and len(expected) == 64


@pytest.mark.parametrize(
    "transform",
    [lambda s: s, lambda s: "v0=" + s, lambda s: s.upper(), lambda s: f" {s} "],
    ids=["plain", "v0-prefix", "uppercase-hex", "surrounding-space"],
)
def test_valid_signature_forms_are_accepted(transform):
    sig = compute_signature(KEY, NOW, BODY)
    assert verify_signature(KEY, str(NOW), transform(sig), BODY, clock=clock) == NOW


def test_wrong_key_is_refused():
    sig = compute_signature("other-key", NOW, BODY)
    with pytest.raises(SignatureError) as err:
        verify_signature(KEY, str(NOW), sig, BODY, clock=clock)
    assert err.value.reason == "bad_signature"
    assert KEY not in str(err.value) and sig not in str(err.value)


def test_key_rotation_accepts_old_and_new_key():
    for key in ("old-key", "new-key"):
        sig = compute_signature(key, NOW, BODY)
        assert verify_signature(["new-key", "old-key"], str(NOW), sig, BODY, clock=clock) == NOW
    with pytest.raises(SignatureError):
        verify_signature(["new-key", "old-key"], str(NOW), compute_signature("third", NOW, BODY), BODY, clock=clock)


@pytest.mark.parametrize(
    "age,ok", [(0, True), (299, True), (300, True), (301, False), (3600, False), (-300, True), (-301, False)]
)
def test_replay_window_is_five_minutes_either_side(age, ok):
    ts = NOW - age
    sig = compute_signature(KEY, ts, BODY)
    if ok:
        assert verify_signature(KEY, str(ts), sig, BODY, clock=clock) == ts
    else:
        with pytest.raises(SignatureError) as err:
            verify_signature(KEY, str(ts), sig, BODY, clock=clock)
        assert err.value.reason == "stale_timestamp"


def test_signature_is_bound_to_the_timestamp():
    """A valid signature cannot be reused with a fresh timestamp (the replay defence relies on it)."""
    old_sig = compute_signature(KEY, NOW - 600, BODY)
    with pytest.raises(SignatureError) as err:
        verify_signature(KEY, str(NOW), old_sig, BODY, clock=clock)
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize(
    "ts,reason",
    [
        (None, "missing_header"),
        ("", "missing_header"),
        ("abc", "bad_timestamp"),
        ("1.5", "bad_timestamp"),
        ("-5", "bad_timestamp"),
    ],
)
def test_bad_timestamp_headers(ts, reason):
    with pytest.raises(SignatureError) as err:
        verify_signature(KEY, ts, "00", BODY, clock=clock)
    assert err.value.reason == reason


@pytest.mark.parametrize("sig", [None, "", "   ", "zz", "é" * 64])
def test_missing_or_garbage_signature(sig):
    with pytest.raises(SignatureError) as err:
        verify_signature(KEY, str(NOW), sig, BODY, clock=clock)
    assert err.value.reason in ("missing_header", "bad_signature")


def test_empty_key_never_verifies():
    sig = compute_signature("", NOW, BODY)
    with pytest.raises(SignatureError):
        verify_signature(["", None], str(NOW), sig, BODY, clock=clock)  # type: ignore[list-item]


def test_sign_headers_round_trip():
    headers = sign_headers(KEY, BODY, timestamp=NOW)
    assert verify_signature(KEY, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], BODY, clock=clock) == NOW


@given(body=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=511))
def test_any_change_to_the_body_breaks_the_signature(body, flip):
    sig = compute_signature(KEY, NOW, body)
    assert verify_signature(KEY, str(NOW), sig, body, clock=clock) == NOW
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        with pytest.raises(SignatureError):
            verify_signature(KEY, str(NOW), sig, tampered, clock=clock)


def test_comparison_uses_hmac_compare_digest(monkeypatch):
    """Constant time: the comparison goes through hmac.compare_digest, never ==."""
    import airflow_provider_customerio.webhooks.signature as mod

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(mod.hmac, "compare_digest", spy)
    verify_signature(KEY, str(NOW), compute_signature(KEY, NOW, BODY), BODY, clock=clock)
    assert calls == [(bytes, bytes)]
