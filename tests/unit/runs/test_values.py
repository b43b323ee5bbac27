"""Rendered template values as the types the syncs need (``runs/values.py``), with errors naming the argument."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.runs.values import as_bool, as_optional_str


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
