"""The Brevo hook's notifyUrl: the connection extra ``notify_url`` and the import body."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.exceptions import ConfigError, InsecureBaseUrlError
from airflow_provider_customerio.hooks.brevo import BrevoHook


def _hook(airflow_conn, **extra):
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-key", extra=extra)
    return BrevoHook(rate_limit=0)


def test_no_extra_means_no_notify(airflow_conn):
    assert _hook(airflow_conn).notify_base_url is None


def test_notify_url_is_https_or_loopback(airflow_conn):
    assert _hook(airflow_conn, notify_url="https://airflow.example.com/customerio/").notify_base_url == (
        "https://airflow.example.com/customerio"
    )
    assert _hook(airflow_conn, notify_url="http://127.0.0.1:8080/customerio").notify_base_url
    with pytest.raises(InsecureBaseUrlError, match="notify_url"):
        _ = _hook(airflow_conn, notify_url="http://airflow.example.com/customerio").notify_base_url
    with pytest.raises(ConfigError, match="notify_url"):
        _ = _hook(airflow_conn, notify_url="airflow.example.com").notify_base_url


def test_import_sends_notify_url_only_when_given(airflow_conn, requests_mock):
    hook = _hook(airflow_conn)
    route = requests_mock.post("https://api.brevo.com/v3/contacts/import", json={"processId": 5}, status_code=202)
    hook.import_contacts(json_body=[{"email": "a@b.co"}], list_ids=[12])
    assert "notifyUrl" not in route.last_request.json()
    url = "https://airflow.example.com/customerio/brevo/processes/tok"
    assert hook.import_contacts(json_body=[{"email": "a@b.co"}], list_ids=[12], notify_url=url) == 5
    assert route.last_request.json()["notifyUrl"] == url


def test_import_slot_account_is_a_hash_of_the_connection_and_the_extras_are_checked(airflow_conn):
    hook = _hook(airflow_conn, max_imports_in_flight="2", import_slot_ttl=120)
    assert hook.import_slot_settings == (2, 120.0)
    assert hook.import_slot_account.startswith("brevo:") and "brevo-key" not in hook.import_slot_account
    assert _hook(airflow_conn).import_slot_account == hook.import_slot_account  # same key, same account
    assert _hook(airflow_conn).import_slot_settings == (1, 600.0)  # Brevo's advice: one import at a time
    with pytest.raises(ConfigError, match="'max_imports_in_flight'"):
        _ = _hook(airflow_conn, max_imports_in_flight="many").import_slot_settings
