"""Attributes of added people and the lifecycle value (``sync/segments/fields.py``)."""

from __future__ import annotations

from airflow_provider_customerio.sync.config import (
    LifecycleRule,
)
from airflow_provider_customerio.sync.segments.fields import fields_for, resolve_lifecycle
from tests.unit.sync.segments._support import FIELD_MAPPING


def test_lifecycle_first_matching_segment_wins() -> None:
    order = (LifecycleRule(7, "customer"), LifecycleRule(8, "trial"), LifecycleRule(9, "lead"))
    memberships = {7: {"a"}, 8: {"a", "b"}, 9: {"a", "b", "c"}}
    assert [resolve_lifecycle(order, p, memberships) for p in "abcd"] == ["customer", "trial", "lead", None]


def test_fields_for_uses_field_mapping_and_defaults() -> None:
    fields = fields_for(["email", "first_name", "last_name", "plan"], FIELD_MAPPING)
    assert [(f.source, f.target) for f in fields] == [
        ("email", "email"),
        ("first_name", "FIRSTNAME"),
        ("last_name", "LASTNAME"),
        ("plan", "PLAN_NAME"),
    ]
