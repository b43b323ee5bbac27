"""The preconditions (:mod:`airflow_provider_customerio.sync.objects.plan`): the configured types checked on both
vendors before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.sync.objects.ports import (
    MissingBrevoObjectTypes,
    ObjectSyncError,
)
from tests.unit.sync.objects.fakes import Env, make_config


def test_missing_brevo_type_fails_before_writing_and_lists_what_to_create(env: Env) -> None:
    env.config = make_config(
        {
            "1": {"brevo_object_type": "companies", "field_mapping": {"name": "name"}},
            "2": {"brevo_object_type": "accounts", "field_mapping": {"name": "name", "tier": "tier"}},
        }
    )
    with pytest.raises(MissingBrevoObjectTypes) as err:
        env.run()
    msg = str(err.value)
    assert "`accounts`" in msg and "`name`, `tier`" in msg and "Customer.io object type 2 'Accounts'" in msg
    assert "Nothing was written" in msg
    assert err.value.missing == {"accounts": ["name", "tier"]}
    assert env.brevo.upserts == []


def test_account_without_custom_objects_gets_a_clear_error(env: Env) -> None:
    env.brevo.available = False
    with pytest.raises(ObjectSyncError, match="Enterprise"):
        env.run()
    assert env.brevo.upserts == []


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ({}, "objects.types is empty"),
        ({"7": {"brevo_object_type": "companies", "field_mapping": {"a": "a"}}}, "1 (Companies), 2 (Accounts)"),
        ({"1": {"brevo_object_type": "companies"}}, "field_mapping is empty"),
        (
            {"1": {"brevo_object_type": "companies", "field_mapping": {"a": "name", "b": "name"}}},
            "already the target of `a`",
        ),
        (
            {
                "1": {"brevo_object_type": "companies", "field_mapping": {"a": "a"}},
                "2": {"brevo_object_type": "companies", "field_mapping": {"a": "a"}},
            },
            "also the target of type `2`",
        ),
    ],
)
def test_configuration_problems_name_the_field_and_fix(env: Env, types: dict[str, Any], expected: str) -> None:
    env.config = make_config(types)
    with pytest.raises(ObjectSyncError) as err:
        env.run()
    assert expected in str(err.value)
    assert env.brevo.upserts == []
