"""Rendered template values as the types the syncs need (``runs/values.py``), with errors naming the argument."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.runs.values import as_bool, as_id, as_names, as_optional_str


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("Yes", True), ("on", True), ("0", False), ("off", False)]
    + [(None, False), ("", False), ("None", False), ("null", False)],
)
def test_as_bool_reads_rendered_flags(value: object, expected: bool) -> None:
    assert as_bool(value, "dry_run") is expected


def test_as_bool_names_the_argument_on_nonsense() -> None:
    with pytest.raises(ValueError, match=r"dry_run must be true or false, got 'maybe'"):
        as_bool("maybe", "dry_run")


def test_as_optional_str_maps_empty_renderings_to_none() -> None:
    assert [as_optional_str(v) for v in (None, "", " None ", "null")] == [None] * 4
    assert as_optional_str("  brevo_eu ") == "brevo_eu"
    assert as_optional_str(7) == "7"


def test_as_id_takes_positive_integers_only() -> None:
    assert as_id(" 13 ", "list_id") == 13 and as_id(4, "segment_id") == 4
    with pytest.raises(ValueError, match=r"list_id must be a positive integer id, got 'abc'.*'list_id' param"):
        as_id("abc", "list_id")
    with pytest.raises(ValueError, match=r"segment_id must be a positive integer id, got 0"):
        as_id(0, "segment_id")
    with pytest.raises(ValueError, match=r"list_id must be a positive integer id, got True"):
        as_id(True, "list_id")


def test_as_names_reads_lists_rendered_as_text() -> None:
    assert as_names(None) == ()
    assert as_names("first_name, plan,") == ("first_name", "plan")
    assert as_names("['first_name', 'plan']") == ("first_name", "plan")
    assert as_names([" a ", "b"]) == ("a", "b")
    with pytest.raises(ValueError, match="include_attributes must be a list"):
        as_names("[first_name")
    with pytest.raises(ValueError, match=r"include_attributes .* got the item ' '"):
        as_names(["a", " "])
