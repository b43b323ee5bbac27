"""The one ISO-8601 parser (sync/_time.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_customerio.sync._time import as_utc, parse_iso, to_epoch

T = datetime(2026, 1, 31, 13, 45, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text", ["2026-01-31T13:45:00Z", "2026-01-31T13:45:00+00:00", "2026-01-31T14:45:00+01:00", " 2026-01-31T13:45 "]
)
def test_parse_iso_accepts_z_offsets_and_naive_utc(text):
    assert parse_iso(text) == T
    assert parse_iso(text).tzinfo is not None


def test_parse_iso_of_a_date_is_midnight_utc_and_rejects_other_text():
    assert parse_iso("2026-01-31") == datetime(2026, 1, 31, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        parse_iso("31/01/2026")


def test_as_utc_keeps_a_zone_and_adds_utc_to_a_naive_value():
    plus_one = datetime(2026, 1, 31, 14, 45, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(plus_one) is plus_one
    assert as_utc(datetime(2026, 1, 31, 13, 45)) == T


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        (" null ", None),
        (T, int(T.timestamp())),
        (datetime(2026, 1, 31, 13, 45), int(T.timestamp())),
        (1_769_867_100.9, 1_769_867_100),
        ("1769867100", 1_769_867_100),
        ("2026-01-31T13:45:00Z", int(T.timestamp())),
    ],
)
def test_to_epoch(value, expected):
    assert to_epoch(value, "since") == expected


def test_to_epoch_names_the_field_and_the_fix():
    with pytest.raises(ValueError, match=r"since: 'tomorrow' is not a date-time; use ISO-8601"):
        to_epoch("tomorrow", "since")
    with pytest.raises(ValueError, match="is not a date-time"):
        to_epoch(True, "flag")
