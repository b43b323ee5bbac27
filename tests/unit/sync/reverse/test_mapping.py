"""Brevo contact -> Customer.io attributes: conversions, the inverse mapping, the forward hash, snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.mapping import (
    BrevoAttribute,
    MappedRow,
    Person,
    PersonMapper,
)
from airflow_provider_customerio.sync.reverse.mapping import ReverseMapper, Snapshot, to_customerio, to_unix_timestamp
from airflow_provider_customerio.sync.reverse.ports import (
    BrevoContact,
    format_brevo_time,
    parse_ms,
)
from tests.unit.sync.reverse.fakes import (
    ATTRIBUTES,
    MS0,
    T0,
    contact,
    make_config,
)


def test_conversions_to_customerio_conventions() -> None:
    assert to_unix_timestamp("2024-01-15") == 1705276800
    assert to_unix_timestamp("2024-01-15T12:00:00Z") == 1705320000
    assert to_customerio(42.0, BrevoAttribute("A", "float")) == 42
    assert to_customerio(42.5, BrevoAttribute("A", "float")) == 42.5
    assert to_customerio(True, BrevoAttribute("A", "boolean")) is True
    assert to_customerio(2, BrevoAttribute("A", "category", enumeration={"gold": 1, "silver": 2})) == "silver"
    assert to_customerio("x", BrevoAttribute("A", "text")) == "x"
    with pytest.raises(ValueError, match="not a date"):
        to_unix_timestamp("15/01/2024")
    assert parse_ms(format_brevo_time(T0 + timedelta(milliseconds=7))) == MS0 + 7
    assert format_brevo_time(T0) == "2026-03-01T10:00:00.000Z"


def test_mapper_inverts_field_mapping_and_picks_the_identifier() -> None:
    mapper = ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12])
    rec = mapper.map(
        contact(
            1,
            email="Ann@Example.com",
            FIRSTNAME="Ann",
            SIGNUP_DATE="2024-01-15",
            MONTHLY_REVENUE=9.5,
            VIP=True,
            TIER=1,
            CIO_ID="u1",
            blacklisted=True,
        )
    )
    assert rec.customer_id == "u1" and rec.email == "ann@example.com"
    assert rec.attributes == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "created_at": 1705276800,
        "mrr": 9.5,
        "vip": True,
        "tier": "gold",
        "unsubscribed": True,
    }
    assert mapper.map(contact(2, CIO_ID="c", EXT_ID="ext")).customer_id == "ext"  # EXT_ID first
    assert mapper.map(contact(3, SMS="+33612345678")).phone == "+33612345678"
    bad = mapper.map(contact(4, email="b@x.io", SIGNUP_DATE="soon"))
    assert [p.reason for p in bad.problems] == ["invalid_date"] and "created_at" not in bad.attributes


@settings(max_examples=60, deadline=None)
@given(
    first=st.one_of(st.none(), st.text(min_size=1, max_size=30).filter(str.strip)),
    plan=st.one_of(st.none(), st.sampled_from(["free", "pro"])),
    day=st.one_of(st.none(), st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2100, 1, 1).date())),
    mrr=st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 2))),
    vip=st.one_of(st.none(), st.booleans()),
    unsub=st.booleans(),
    cid=st.one_of(st.none(), st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True)),
)
def test_forward_hash_of_what_brevo_holds_equals_the_people_sync_hash(
    first: Any, plan: Any, day: Any, mrr: Any, vip: Any, unsub: bool, cid: Any
) -> None:
    """The echo contract with sync/people.py: a Brevo contact holding exactly the row the forward sync wrote
    reconstructs the hash the forward sync stored, whatever the values (so echoes are recognised)."""
    attrs = {
        "first_name": first,
        "plan": plan,
        "mrr": None if mrr is None else str(mrr),
        "created_at": None
        if day is None
        else str(int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) + 3600),
        "vip": None if vip is None else str(vip).lower(),
    }
    person = Person(
        cio_id="c1", id=cid, email="p@example.com", attributes={k: v for k, v in attrs.items() if v}, unsubscribed=unsub
    )
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(person)
    assert isinstance(row, MappedRow)
    stored = row.content_hash([12])
    brevo = BrevoContact(
        id=9,
        email=row.row.get("email", "").upper() or None,
        attributes=dict(row.row["attributes"]),
        email_blacklisted=row.blacklisted,
    )
    assert ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12]).map(brevo).forward_hash == stored


def test_snapshot_round_trip_and_diff() -> None:
    a = Snapshot("h1", {"plan": "aa", "first_name": "bb"})
    b = Snapshot.decode(a.encode())
    assert b == a and Snapshot("h2", {"plan": "cc", "first_name": "bb"}).changed(b) == {"plan"}
    assert Snapshot.decode(None) is None and a.changed(None) == {"plan", "first_name"}


def test_remembered_conversions_map_as_the_first_time_and_stay_bounded() -> None:
    """The mapper remembers converted values per attribute (a plan, a date): a contact maps the same with a warm
    memory, a value it cannot convert is reported every time, and an attribute with a value per contact stops
    growing its memory at MEMO_SIZE."""
    from airflow_provider_customerio.sync.reverse import mapping as reverse_mapping

    def people() -> list[Any]:
        return [
            contact(
                i,
                email=f"p{i}@x.io",
                PLAN_NAME=["free", "pro"][i % 2],
                SIGNUP_DATE="2024-13-45" if i % 3 else "2024-05-01",
                MONTHLY_REVENUE=i * 1.5,
                CIO_ID=f"u{i}",
                VIP=["yes", True, 1][i % 3],
            )
            for i in range(1, reverse_mapping.MEMO_SIZE + 500)
        ]

    warm = ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12])
    first = [warm.map(c) for c in people()]
    again = [warm.map(c) for c in people()]
    cold = [ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12]).map(c) for c in people()]
    assert again == first == cold
    bad_dates = sum(1 for c in people() if c.attributes["SIGNUP_DATE"] == "2024-13-45")
    assert sum(1 for r in again if [p.reason for p in r.problems] == ["invalid_date"]) == bad_dates > 0
    assert {v for r in again for v in [r.attributes.get("vip")]} == {True}
    assert all(len(memo) <= reverse_mapping.MEMO_SIZE for memo in warm._memos.values())
    assert len(warm._memos["PLAN_NAME"]) == 2 and len(warm._memos["CIO_ID"]) == reverse_mapping.MEMO_SIZE
