"""The content hashes and per-field digests of the sync state (both directions, people and objects): SHA-256 of a
canonical JSON, byte for byte the one the standard library writes (``json`` with sorted keys, compact separators,
UTF-8 unescaped), so hashes stored by earlier versions keep matching, but computed fast.

The canonical JSON (sorted keys, compact separators, UTF-8 unescaped, floats as ``float.__repr__``, ``NaN`` and
``Infinity`` as the standard library writes them) is encoded by msgspec (a dependency of Airflow's core) instead of
``json.JSONEncoder``: about five times faster on a contact's snapshot. msgspec escapes strings exactly as the
standard library does with ``ensure_ascii=False`` (checked over every code point by the tests) but writes
exponents differently (``1e16``, not ``1e+16``), so a float it would write with an exponent is passed to it
pre-written (``msgspec.Raw``).
Anything else the standard encoder would write differently (a key that is not a string, a type it turns into
``str()``, a subclass) takes the standard encoder. Scalars are hashed once per value (a bounded cache): a million
contacts share a few thousand plans, dates and job titles.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

_ENC = msgspec.json.Encoder(order="sorted")
#: the standard encoder (the definition of the canonical JSON), for what msgspec would write differently
_STDLIB = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_SCALARS = (str, int, bool, type(None))


class _Unplain(Exception):
    """The payload holds something msgspec would write differently: use the standard encoder."""


def _float(value: float) -> msgspec.Raw:
    if value != value:
        return msgspec.Raw(b"NaN")
    if value in (float("inf"), float("-inf")):
        return msgspec.Raw(b"Infinity" if value > 0 else b"-Infinity")
    return msgspec.Raw(float.__repr__(value).encode())


def _plain(value: Any) -> Any:
    """``value`` with its floats pre-written; raises :class:`_Unplain` for anything msgspec would write otherwise."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is float:
        return _float(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _Unplain
            out[key] = _plain(item)
        return out
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    raise _Unplain


def _native(value: Any) -> bool:
    """Whether msgspec writes ``value`` as is exactly as the standard encoder does: strings, ints, booleans, None,
    floats it writes without an exponent (zero, and 1e-4 <= |x| < 1e16, where both write ``float.__repr__``), in
    dicts with string keys and lists."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is float:
        return bool(value == 0.0 or 1e-4 <= abs(value) < 1e16)  # NaN and infinities are not
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SCALARS and not _native(item)):
                return False
        return True
    if kind is list:
        for item in value:
            if type(item) not in _SCALARS and not _native(item):
                return False
        return True
    return False


def canonical_json(payload: Any) -> bytes:
    """The canonical JSON of ``payload`` (as the standard encoder writes it), UTF-8 encoded."""
    if _native(payload):
        return _ENC.encode(payload)
    try:
        return _ENC.encode(_plain(payload))
    except (_Unplain, msgspec.EncodeError, TypeError, OverflowError):
        return _STDLIB.encode(payload).encode("utf-8")


def content_hash(payload: Any) -> str:
    """Hex SHA-256 (first 32 chars) of the canonical JSON of ``payload``."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()[:32]


@functools.lru_cache(maxsize=1 << 14, typed=True)
def _scalar_hash(value: Any) -> str:
    return content_hash(value)


def value_hash(value: Any) -> str:
    """:func:`content_hash` of one field's value, remembered for scalars (their type is part of the key, so ``1``,
    ``1.0`` and ``True`` stay apart)."""
    kind = type(value)
    if kind in _SCALARS or (kind is float and value != 0.0):  # -0.0 == 0.0 to the cache, not in JSON
        return _scalar_hash(value)
    return content_hash(value)


def value_digests(values: Mapping[str, Any], length: int) -> dict[str, str]:
    """``{name: value_hash(value)[:length]}`` (one loop: a contact's fields are hashed in one call)."""
    out: dict[str, str] = {}
    for name, value in values.items():
        kind = type(value)
        cached = kind in _SCALARS or (kind is float and value != 0.0)  # -0.0 == 0.0 to the cache, not in JSON
        out[name] = (_scalar_hash(value) if cached else content_hash(value))[:length]
    return out


def native_values(values: Iterable[Any]) -> bool:
    """Whether each of ``values`` is a scalar msgspec writes exactly as the standard encoder does (see
    :func:`_native`)."""
    for value in values:
        kind = type(value)
        if kind in _SCALARS:
            continue
        if kind is not float or not (value == 0.0 or 1e-4 <= abs(value) < 1e16):
            return False
    return True


def native_hash(payload: Any) -> str:
    """:func:`content_hash` of a payload the caller checked msgspec writes as is (:func:`native_values`)."""
    return hashlib.sha256(_ENC.encode(payload)).hexdigest()[:32]


def strings_hash(payload: Mapping[str, Any]) -> str:
    """:func:`content_hash` of a dict whose values are strings, ``None`` or dicts of strings (checked: anything else
    takes :func:`content_hash`), written by msgspec without a further look."""
    for item in payload.values():
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str and type(v) is str for k, v in item.items()):
                return content_hash(payload)
        elif kind is not str and item is not None:
            return content_hash(payload)
    return hashlib.sha256(_ENC.encode(payload)).hexdigest()[:32]


def field_digest(value: Any) -> str:
    """Digest of one field's value in its canonical Brevo form (what the per-field sync state keeps, both
    directions)."""
    return value_hash(value)[:16]
