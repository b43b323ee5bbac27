"""The verify step (:mod:`airflow_provider_customerio.sync.objects.verify`): attribute keys Brevo dropped."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.objects.ports import MissingBrevoAttributes
from tests.unit.sync.objects.fakes import Env, make_config


def test_attribute_key_missing_in_brevo_fails_naming_it_and_is_rewritten_after_the_fix(env: Env) -> None:
    env.config = make_config(
        {"1": {"brevo_object_type": "companies", "field_mapping": {"name": "name", "industry": "industry"}}}
    )
    with pytest.raises(MissingBrevoAttributes) as err:
        env.run()
    assert err.value.missing == {"companies": ["industry"]}
    assert "`companies`: `industry`" in str(err.value) and "Create these attributes in Brevo" in str(err.value)
    env.brevo.types["companies"].add("industry")  # created in Brevo's UI
    result = env.run()
    assert result["updated"] == 3  # hashes were cleared: everything written again
    assert env.brevo.records["companies"]["acme0"]["industry"] == "x"
    assert env.run()["unchanged"] == 3


def test_confirmed_keys_are_not_read_back_again(env: Env) -> None:
    calls: list[int] = []
    real = env.brevo.read_records
    env.brevo.read_records = lambda t, p, n: calls.append(p) or real(t, p, n)  # type: ignore[method-assign]
    env.run()
    assert calls == [1]
    env.cio.objects["1"]["acme0"]["name"] = "Renamed"
    env.run()
    assert calls == [1]
