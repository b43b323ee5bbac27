from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.config import MappedField
from airflow_provider_customerio.sync.mapping import (
    MAX_TEXT_BYTES,
    BrevoAttribute,
    ConversionError,
    MappedRow,
    MappingError,
    Person,
    PersonMapper,
    RejectedPerson,
    check_mapping,
    convert,
    normalise_email,
    to_bool,
    to_date,
    to_float,
)

ATTRS = [
    BrevoAttribute("CIO_ID", "text"),
    BrevoAttribute("FIRSTNAME", "text"),
    BrevoAttribute("SIGNUP_DATE", "date"),
    BrevoAttribute("MONTHLY_REVENUE", "float"),
    BrevoAttribute("VIP", "boolean"),
    BrevoAttribute.from_api(
        {
            "name": "PLAN",
            "category": "category",
            "enumeration": [{"value": 1, "label": "free"}, {"value": 2, "label": "pro"}],
        }
    ),
]
MAPPING = (
    MappedField("id", "CIO_ID"),
    MappedField("email", "email"),
    MappedField("first_name", "FIRSTNAME"),
    MappedField("created_at", "SIGNUP_DATE", "date"),
    MappedField("mrr", "MONTHLY_REVENUE", "float"),
    MappedField("vip", "VIP", "boolean"),
    MappedField("plan", "PLAN"),
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1489014595", "2017-03-08"),
        (1489014595, "2017-03-08"),
        ("1489014595000", "2017-03-08"),
        ("2024-02-29", "2024-02-29"),
        ("2024-02-29T23:30:00-02:00", "2024-03-01"),
        ("2024-01-05T10:00:00Z", "2024-01-05"),
        ("0", "1970-01-01"),
    ],
)
def test_dates_from_timestamps_and_iso(value, expected):
    assert to_date(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "31/12/2024", "", "nan", "1e300", True])
def test_bad_dates_are_conversion_errors(value):
    with pytest.raises(ConversionError) as ei:
        to_date(value)
    assert ei.value.reason == "invalid_date"


def test_numbers_booleans_and_emails():
    assert to_float("49.90") == 49.9 and to_float("1,200") == 1200.0
    for bad in ("abc", "inf", True):
        with pytest.raises(ConversionError, match="number"):
            to_float(bad)
    assert to_bool("TRUE") is True and to_bool("0") is False and to_bool("no") is False
    with pytest.raises(ConversionError, match="not a boolean"):
        to_bool("maybe")
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    for bad in ("ada", "ada@", "a b@example.com", "ada@example", "x" * 250 + "@ex.com"):
        with pytest.raises(ConversionError):
            normalise_email(bad)


def test_phone_needs_country_code():
    sms = BrevoAttribute("SMS", "text")
    assert convert("+1 (415) 555-0123", sms) == "+14155550123" and convert("0033612345678", sms) == "+33612345678"
    for bad in ("(415) 555-0123", "+12", "+1415abc"):
        with pytest.raises(ConversionError) as ei:
            convert(bad, sms)
        assert ei.value.reason == "invalid_phone"


def test_category_by_label_or_value_and_oversize_text():
    plan = ATTRS[-1]
    assert convert("pro", plan) == 2 and convert("1", plan) == 1 and convert("PRO", plan) == 2
    with pytest.raises(ConversionError, match="none of the options"):
        convert("gold", plan)
    with pytest.raises(ConversionError) as ei:
        convert("x" * (MAX_TEXT_BYTES + 1), ATTRS[1])
    assert ei.value.reason == "oversized_attribute"
    assert convert(["a", "b"], BrevoAttribute("TAGS", "multiple-choice")) == ["a", "b"]
    assert convert("a, b", BrevoAttribute("TAGS", "multiple-choice")) == ["a", "b"]


def test_mapper_builds_typed_row_with_ext_id():
    m = PersonMapper(MAPPING, ATTRS)
    row = m.map(
        Person(
            cio_id="c1",
            id="42",
            email="Ada@Example.com",
            attributes={
                "first_name": "Ada",
                "created_at": "1489014595",
                "mrr": "49.5",
                "vip": "true",
                "plan": "pro",
                "unmapped": "x",
            },
        )
    )
    assert isinstance(row, MappedRow)
    assert row.row == {
        "email": "ada@example.com",
        "attributes": {
            "CIO_ID": "42",
            "FIRSTNAME": "Ada",
            "SIGNUP_DATE": "2017-03-08",
            "MONTHLY_REVENUE": 49.5,
            "VIP": True,
            "PLAN": 2,
            "EXT_ID": "42",
        },
    }
    assert row.ext_id == "42" and not row.blacklisted and row.problems == ()


def test_mapper_reports_bad_values_but_keeps_person():
    m = PersonMapper(MAPPING, ATTRS)
    row = m.map(
        Person(
            cio_id="c1",
            id="42",
            email="a@example.com",
            attributes={"created_at": "soon", "mrr": "lots", "first_name": "y" * 5000},
        )
    )
    assert isinstance(row, MappedRow)
    assert set(row.row["attributes"]) == {"CIO_ID", "EXT_ID"}
    assert sorted(p.reason for p in row.problems) == ["invalid_date", "invalid_number", "oversized_attribute"]


def test_mapper_rejects_without_identifier_or_with_bad_email():
    m = PersonMapper(MAPPING, ATTRS)
    r = m.map(Person(cio_id="c1", attributes={"first_name": "x"}))
    assert isinstance(r, RejectedPerson) and r.reason == "missing_identifier"
    r = m.map(Person(cio_id="c2", id="7", email="not-an-email"))
    assert isinstance(r, RejectedPerson) and r.reason == "invalid_email" and r.email == "not-an-email"
    ok = m.map(Person(cio_id="c3", id="7"))
    assert isinstance(ok, MappedRow) and "email" not in ok.row and ok.row["attributes"]["EXT_ID"] == "7"
    bl = m.map(Person(cio_id="c4", email="s@example.com", suppressed=True))
    assert isinstance(bl, MappedRow) and bl.blacklisted


def test_hash_changes_with_content_and_lists_only():
    m = PersonMapper(MAPPING, ATTRS)
    a = m.map(Person(cio_id="c1", id="1", email="a@example.com", attributes={"first_name": "A"}))
    b = m.map(Person(cio_id="c1", id="1", email="a@example.com", attributes={"first_name": "A", "zzz": "ignored"}))
    c = m.map(Person(cio_id="c1", id="1", email="a@example.com", attributes={"first_name": "B"}))
    assert a.content_hash([12]) == b.content_hash([12]) != c.content_hash([12])
    assert a.content_hash([12]) != a.content_hash([12, 13])


def test_check_mapping_names_missing_attributes():
    missing = check_mapping(MAPPING + (MappedField("role", "JOB_TITLE"),), ATTRS)
    assert [f.target for f in missing] == ["JOB_TITLE"]
    with pytest.raises(MappingError, match="JOB_TITLE.*create_missing_attributes"):
        PersonMapper(MAPPING + (MappedField("role", "JOB_TITLE"),), ATTRS)


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans()),
    typ=st.sampled_from(["text", "date", "float", "boolean", "multiple-choice", "id", "user"]),
)
def test_convert_returns_typed_value_or_conversion_error(value, typ):
    try:
        out = convert(value, BrevoAttribute("X", typ))
    except ConversionError as exc:
        assert exc.reason.startswith(("invalid_", "oversized_"))
        return
    expected = {"date": str, "float": float, "boolean": bool, "multiple-choice": list}.get(typ, str)
    assert isinstance(out, expected)


@settings(max_examples=200, deadline=None)
@given(
    attrs=st.dictionaries(
        st.sampled_from(["first_name", "created_at", "mrr", "vip", "plan", "x"]), st.text(max_size=20), max_size=6
    ),
    email=st.one_of(st.none(), st.emails(), st.text(max_size=10)),
    pid=st.one_of(st.none(), st.text(max_size=5)),
)
def test_mapper_always_maps_or_rejects_with_reason(attrs, email, pid):
    out = PersonMapper(MAPPING, ATTRS).map(Person(cio_id="c", id=pid, email=email, attributes=attrs))
    if isinstance(out, RejectedPerson):
        assert out.reason in ("missing_identifier", "invalid_email")
    else:
        assert out.email or out.ext_id
        sent = set(out.row["attributes"]) - {"EXT_ID", "CIO_ID"}
        failed = {p.target for p in out.problems}
        assert not sent & failed
