"""The fast hashes equal the standard library's canonical JSON hashed, byte for byte: hashes and per-field digests
stored by earlier versions (made with ``json``) keep matching."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_customerio.sync import hashing
from airflow_provider_customerio.sync.mapping import MappedRow
from airflow_provider_customerio.sync.reverse.mapping import ReverseMapper
from tests.unit.sync.reverse.fakes import ATTRIBUTES, contact, make_config

STDLIB = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class shared:
    @staticmethod
    def content_hash(payload: Any) -> str:
        return hashlib.sha256(STDLIB.encode(payload).encode("utf-8")).hexdigest()[:32]

    @staticmethod
    def field_digest(value: Any) -> str:
        return shared.content_hash(value)[:16]


PAYLOADS: list[Any] = [
    "Ann",
    "",
    'quote " backslash \\ tab \t newline \n nul \x00 del \x7f line sep \u2028 é 😀',
    0,
    -7,
    2**63,
    2**64 + 1,
    -(2**70),
    True,
    False,
    None,
    1.0,
    -0.0,
    0.1,
    1e16,
    1e15,
    1e-5,
    1e-4,
    1.5e300,
    123456789.125,
    float("nan"),
    float("inf"),
    float("-inf"),
    [1, "a", None, [2.5e-7]],
    (1, 2),
    {"b": 1, "a": {"é": 1.0, "e": [True, 1e22]}, "A": None},
    {"id": "u1", "email": "a@x.io", "phone": None, "fields": {"first_name": "0123456789"}},
    {"x": {"y": {"z": [{}]}}},
    {2: "int key"},
    {"when": datetime(2026, 3, 1, tzinfo=timezone.utc), "amount": Decimal("1.10")},
    {"row": {"email": "a@x.io", "attributes": {"MONTHLY_REVENUE": 1e16, "EXT_ID": "u1"}}, "lists": [12]},
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_content_hash_equals_the_shared_one(payload: Any) -> None:
    assert hashing.canonical_json(payload) == STDLIB.encode(payload).encode("utf-8")
    assert hashing.content_hash(payload) == shared.content_hash(payload)
    assert hashing.field_digest(payload) == shared.field_digest(payload)


def test_every_code_point_is_escaped_as_the_standard_library_does() -> None:
    for start in range(0, 0x110000, 0x1000):
        text = "".join(chr(c) for c in range(start, start + 0x1000) if not 0xD800 <= c < 0xE000)
        assert hashing.canonical_json({"k" + text[:3]: text}) == STDLIB.encode({"k" + text[:3]: text}).encode()


def test_remembered_scalars_keep_their_type_apart() -> None:
    assert len({hashing.value_hash(v) for v in (1, 1.0, True, "1")}) == 4
    assert hashing.value_hash(1.0) == shared.content_hash(1.0)
    assert hashing.value_hash(True) == shared.content_hash(True)


def test_the_forward_hash_of_a_contact_is_the_people_syncs() -> None:
    mapper = ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12])
    c = contact(
        3, email="Ann@X.io", FIRSTNAME="Ann", MONTHLY_REVENUE=1e16, SIGNUP_DATE="2024-05-01", VIP=True, EXT_ID="u3"
    )
    rec = mapper.map(c)
    row = {"email": "ann@x.io", "attributes": {"FIRSTNAME": "Ann", "MONTHLY_REVENUE": 1e16}}
    row["attributes"].update({"SIGNUP_DATE": "2024-05-01", "VIP": True, "EXT_ID": "u3"})
    expected = MappedRow(cio_id="", ext_id="u3", email="ann@x.io", row=row, blacklisted=False).content_hash([12])
    assert rec.forward_hash == expected


def test_floats_of_every_magnitude_are_written_as_the_standard_library_does() -> None:
    rng = random.Random(7)
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(5000)]
    floats += [rng.random() * 10.0 ** rng.randint(-8, 20) for _ in range(5000)]
    floats += [1e-4, 0.99999e-4, 1e16, 9999999999999998.0, 5e-324, 1.7976931348623157e308]
    for value in floats:
        assert hashing.canonical_json({"v": [value]}) == STDLIB.encode({"v": [value]}).encode(), value


def test_zero_and_minus_zero_keep_their_own_digests_whatever_was_hashed_first() -> None:
    assert hashing.value_hash(0.0) == shared.content_hash(0.0)
    assert hashing.value_hash(-0.0) == shared.content_hash(-0.0) != shared.content_hash(0.0)
    assert hashing.value_digests({"a": -0.0, "b": 0.0}, 16) == {
        "a": shared.field_digest(-0.0),
        "b": shared.field_digest(0.0),
    }


def test_the_shortcuts_hash_as_content_hash_does() -> None:
    values = {"a": "x", "b": 1, "c": 2.5, "d": 1e16, "e": True, "f": None, "g": [1, 2], "h": float("nan")}
    assert hashing.value_digests(values, 16) == {k: shared.field_digest(v) for k, v in values.items()}
    assert hashing.value_digests(values, 10) == {k: shared.content_hash(v)[:10] for k, v in values.items()}
    assert hashing.native_values(["x", 1, True, None, 0.0, 2.5, 1e-4]) is True
    for odd in (1e16, 1e-5, float("nan"), float("inf"), [1], {"a": 1}, Decimal("1")):
        assert hashing.native_values(["x", odd]) is False
    plain = {"id": "u1", "email": None, "fields": {"a": "0123456789"}}
    assert hashing.strings_hash(plain) == hashing.native_hash(plain) == shared.content_hash(plain)
    for other in ({"id": 1, "fields": {}}, {"id": "u", "fields": {"a": 1e16}}, {"id": "u", "fields": {2: "x"}}):
        assert hashing.strings_hash(other) == shared.content_hash(other)
