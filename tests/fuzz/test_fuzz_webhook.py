"""Fuzzing webhook verification: any tampering of body, timestamp or signature fails with SignatureError.

Goes beyond tests/unit/webhooks/test_signature.py (single bit flips of <= 512-byte bodies): arbitrary edits of
large and unicode bodies, forged timestamps inside the replay window, forged/truncated/extended signatures,
wrong keys among rotated keys, and arbitrary header garbage (never another exception).
"""

from __future__ import annotations

import hmac
import os

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.events.sources import MalformedEventError, validate_webhook_payload
from airflow_provider_customerio.webhooks.signature import (
    SignatureError,
    compute_signature,
    sign_headers,
    verify_signature,
)

NOW = 1_800_000_000
KEY = "whsec-fuzz-signing-key"
#: CI (env CI set) runs a fixed sequence of examples, so a red build replays.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=bool(os.environ.get("CI")),
)

bodies = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=512).map(lambda t: t.encode("utf-8")),
    # large bodies: a random chunk repeated up to 1 MB
    st.tuples(st.binary(min_size=1, max_size=64), st.integers(1, 16_384)).map(lambda t: t[0] * t[1]),
)
keys = st.one_of(st.text(min_size=1, max_size=64), st.binary(min_size=1, max_size=64))


def verify(body: bytes, ts: str | None, sig: str | None, key=KEY, now: int = NOW) -> int:
    return verify_signature(key, ts, sig, body, clock=lambda: float(now))


@FUZZ
@given(body=bodies, key=keys, skew=st.integers(-300, 300))
def test_untampered_requests_verify(body, key, skew):
    headers = sign_headers(key, body, timestamp=NOW + skew)
    assert verify(body, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], key=key) == NOW + skew


@st.composite
def tampered_bodies(draw):
    body = draw(bodies)
    op = draw(st.sampled_from(["insert", "delete", "replace", "append", "truncate"]))
    pos = draw(st.integers(0, len(body)))
    if op == "insert":
        new = body[:pos] + draw(st.binary(min_size=1, max_size=32)) + body[pos:]
    elif op == "delete" and body:
        end = draw(st.integers(min(pos + 1, len(body)), len(body)))
        new = body[:pos] + body[end:] if end > pos else body[1:]
    elif op == "replace" and body:
        pos = min(pos, len(body) - 1)
        new = body[:pos] + bytes([(body[pos] + draw(st.integers(1, 255))) % 256]) + body[pos + 1 :]
    elif op == "append":
        new = body + draw(st.binary(min_size=1, max_size=32))
    else:
        new = body[:pos] if pos < len(body) else body + b" "
    assume(new != body)
    return body, new


@FUZZ
@given(pair=tampered_bodies(), key=keys)
def test_any_body_change_fails(pair, key):
    body, tampered = pair
    headers = sign_headers(key, body, timestamp=NOW)
    try:
        verify(tampered, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], key=key)
    except SignatureError as exc:
        assert exc.reason == "bad_signature"
    else:
        raise AssertionError("a tampered body verified")


@FUZZ
@given(body=bodies, delta=st.integers(-300, 300).filter(bool), pad=st.sampled_from(["", "0", "00"]))
@example(body=b'{"event_id":"x"}', delta=1, pad="")
def test_any_timestamp_change_fails_even_inside_the_window(body, delta, pad):
    headers = sign_headers(KEY, body, timestamp=NOW)
    forged = pad + str(NOW + delta)
    try:
        verify(body, forged, headers["X-CIO-Signature"])
    except SignatureError as exc:
        assert exc.reason == "bad_signature"
    else:
        raise AssertionError("a changed timestamp verified")


@FUZZ
@given(body=bodies)
def test_leading_zero_timestamp_is_a_different_message(body):
    # "0" + ts parses to the same integer but is another signed string: must not verify with ts's signature
    headers = sign_headers(KEY, body, timestamp=NOW)
    try:
        verify(body, "0" + headers["X-CIO-Timestamp"], headers["X-CIO-Signature"])
    except SignatureError:
        return
    raise AssertionError("timestamp padding kept the signature valid")


@FUZZ
@given(body=bodies, data=st.data())
def test_any_signature_change_fails(body, data):
    good = compute_signature(KEY, NOW, body)
    forged = data.draw(
        st.one_of(
            st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=80),  # any hex string
            st.integers(0, 63).map(lambda i: good[:i] + ("0" if good[i] != "0" else "1") + good[i + 1 :]),
            st.integers(0, 63).map(lambda i: good[:i]),  # truncated
            st.text(alphabet="0123456789abcdef", min_size=1, max_size=8).map(lambda s: good + s),  # extended
            st.text(max_size=80),  # garbage, unicode
        )
    )
    assume(forged.strip().lower().removeprefix("v0=") != good)
    try:
        verify(body, str(NOW), forged)
    except SignatureError as exc:
        assert exc.reason in ("bad_signature", "missing_header")
    else:
        raise AssertionError("a forged signature verified")


@FUZZ
@given(body=bodies, right=keys, wrong=st.lists(keys, min_size=1, max_size=3))
def test_signature_of_another_key_fails_even_with_rotated_keys(body, right, wrong):
    def raw(k):
        return k if isinstance(k, bytes) else k.encode("utf-8")

    assume(all(raw(w) != raw(right) for w in wrong))
    headers = sign_headers(right, body, timestamp=NOW)
    try:
        verify(body, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], key=wrong)
    except SignatureError as exc:
        assert exc.reason == "bad_signature"
    else:
        raise AssertionError("a signature made with another key verified")
    # and with the right key among the rotated ones it verifies
    assert verify(body, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], key=[*wrong, right]) == NOW


@FUZZ
@given(
    ts=st.one_of(st.none(), st.text(max_size=40)),
    sig=st.one_of(st.none(), st.text(max_size=200)),
    body=st.binary(max_size=256),
)
def test_arbitrary_headers_only_ever_raise_signature_error(ts, sig, body):
    try:
        verify(body, ts, sig)
    except SignatureError as exc:
        assert exc.reason and str(exc)
    else:  # only possible with a genuinely valid pair, which random text never is
        assert ts is not None and sig is not None
        assert hmac.compare_digest(compute_signature(KEY, ts.strip(), body), sig.strip().lower().removeprefix("v0="))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(
    payload=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["event_id", "metric", "object_type", "timestamp", "data"]), json_values, max_size=5
        ),
    )
)
def test_any_verified_payload_is_accepted_or_malformed(payload):
    try:
        event_id, ts = validate_webhook_payload(payload)
    except MalformedEventError as exc:
        assert str(exc)
    else:
        assert isinstance(event_id, str) and event_id
        assert ts is None or isinstance(ts, int)
