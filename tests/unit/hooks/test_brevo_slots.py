"""The Brevo connection's import-slot settings and the account's name in the sync store."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.hooks.brevo_slots import account_key, slot_settings


def test_the_account_key_is_a_hash_that_never_holds_the_api_key():
    key = account_key("https://api.brevo.com/v3/", "xkeysib-secret")
    assert key.startswith("brevo:") and "secret" not in key and len(key) <= 64
    assert key == account_key("https://api.brevo.com/v3", "xkeysib-secret")  # a trailing slash is the same account
    assert key != account_key("https://api.brevo.com/v3", "xkeysib-other")


def test_connection_extras_are_checked():
    assert slot_settings({}, "brevo_default") == (1, 600.0)
    assert slot_settings({"max_imports_in_flight": "2", "import_slot_ttl": 120}, "c") == (2, 120.0)
    with pytest.raises(ConfigError, match="'max_imports_in_flight' must be a whole number >= 1"):
        slot_settings({"max_imports_in_flight": 0}, "c")
    with pytest.raises(ConfigError, match="'import_slot_ttl' must be a number of seconds >= 30"):
        slot_settings({"import_slot_ttl": "soon"}, "c")
