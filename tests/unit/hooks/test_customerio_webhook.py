"""The reporting-webhook receiver's connection (``hooks/customerio_webhook.py``): its signing keys."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.hooks.customerio_webhook import CustomerIOWebhookHook


def test_the_signing_keys_are_the_password_then_the_previous_key(airflow_conn) -> None:
    airflow_conn(
        "customerio_webhook_default",
        conn_type="customerio_webhook",
        password="new",
        extra={"previous_signing_key": "old"},
    )
    hook = CustomerIOWebhookHook()
    assert hook.signing_keys() == ["new", "old"]
    assert hook.test_connection() == (True, "2 signing key(s) configured")


def test_a_connection_without_a_key_names_the_fix(airflow_conn) -> None:
    airflow_conn("wh", conn_type="customerio_webhook")
    hook = CustomerIOWebhookHook(customerio_webhook_conn_id="wh")
    with pytest.raises(ConfigError, match="Connection 'wh' has no signing key: set its password"):
        hook.signing_keys()
    ok, message = hook.test_connection()
    assert not ok and "no signing key" in message
