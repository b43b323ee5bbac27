"""Review (issue 26): the fast hashes are byte-identical to the standard library's canonical JSON."""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import json
import random
import uuid

import pytest

from airflow_provider_customerio.sync import hashing as H

STD = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
FLOATS = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1e16, 1e15, 9999999999999998.0, 1e-4, 9.999e-5,
          1e-5, 5e-324, 1.7976931348623157e308, -1e16, 1e22, 0.1, 1e100, 2.5e-10, 1e-4 * (1 - 1e-16)]  # fmt: skip
INTS = [0, -1, 2**63, -(2**63), 2**64, -(2**64), 10**30, -(10**400), 2**1000]


class S(str):
    pass


class I(int):  # noqa: E742
    pass


class F(float):
    pass


class E(enum.IntEnum):
    A = 1


class SE(str, enum.Enum):
    A = "a"


def ref(x):
    return hashlib.sha256(STD.encode(x).encode()).hexdigest()[:32]


def same(x):
    try:
        expected = ref(x)
    except Exception as exc:  # the standard encoder refuses it: so must the fast path, with the same error
        with pytest.raises(type(exc)):
            H.content_hash(x)
        return
    assert H.content_hash(x) == expected, repr(x)[:200]
    assert H.value_hash(x) == expected, repr(x)[:200]
    if isinstance(x, dict) and all(type(k) is str for k in x):
        assert H.value_digests(x, 32) == {k: ref(v) for k, v in x.items()}
        assert H.strings_hash(x) == expected


def random_value(rnd, depth=0):
    c = rnd.random()
    if depth < 3 and c < 0.15:
        return {rnd.choice("abzé\u2028") + str(rnd.randint(0, 9)): random_value(rnd, depth + 1) for _ in range(3)}
    if depth < 3 and c < 0.25:
        return [random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    if c < 0.45:
        return rnd.choice([*FLOATS, rnd.uniform(-1e20, 1e20), rnd.random() * 10 ** rnd.randint(-30, 30)])
    if c < 0.6:
        return rnd.choice([*INTS, rnd.randint(-(10**20), 10**20)])
    if c < 0.7:
        return rnd.choice([True, False, None])
    return "".join(chr(rnd.choice([rnd.randint(0, 0x7F), rnd.randint(0, 0x10FFFF)])) for _ in range(8))


def test_every_code_point_in_values_and_keys():
    for lo in range(0, 0x110000, 4096):
        s = "".join(chr(c) for c in range(lo, min(lo + 4096, 0x110000)))
        same(s)
        same({"k" + s[:50]: s})


@pytest.mark.parametrize("v", FLOATS + INTS + [True, False, None, ""])
def test_scalars_and_nestings(v):
    for x in (v, [v], (v,), {"a": v}, {"a": [v, {"b": v}]}):
        same(x)


@pytest.mark.parametrize(
    "x",
    [{1: "x"}, {True: 1}, {None: 1}, {1.5: 2}, {"1": 1, 1: 2}, datetime.datetime(2024, 1, 1), datetime.date(2024, 1, 1),
     decimal.Decimal("1.10"), {"d": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)}, uuid.UUID(int=5),
     {"t": (1, 2)}, S("x"), I(3), F(1.5), F(1e20), E.A, SE.A, {"a": S("x")}, {"a": E.A}, [F(2.0)], {S("k"): 1}],
)  # fmt: skip
def test_types_the_standard_encoder_writes_otherwise(x):
    same(x)


def test_random_payloads():
    rnd = random.Random(26)
    for _ in range(5000):
        same(random_value(rnd))


def test_the_scalar_cache_keeps_equal_values_that_encode_differently_apart():
    H._scalar_hash.cache_clear()
    for x in [1, True, 1.0, 0, False, 0.0, -0.0, 0.0, -0.0, I(1), S("a"), "a", F(1.0), 1.0, E.A, 1, SE.A, "a", 2**64]:
        assert H.value_hash(x) == ref(x), (x, type(x))
        assert H.field_digest(x) == ref(x)[:16]
        assert H.value_digests({"k": x}, 16)["k"] == ref(x)[:16]
