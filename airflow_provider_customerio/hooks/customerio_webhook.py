"""Connection type of the Customer.io reporting-webhook receiver: it holds the signing key, not an API client.

The receiver (:mod:`airflow_provider_customerio.webhooks`) reads this connection on the api-server; the
forwarding task reads the same event store.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook

from airflow_provider_customerio.exceptions import ConfigError


class CustomerIOWebhookHook(BaseHook):
    """Signing key and event-store settings of the reporting-webhook receiver (connection type
    ``customerio_webhook``).

    :param customerio_webhook_conn_id: connection whose password is the webhook signing key (Customer.io >
        Data & Integrations > Reporting webhooks), with the optional extras ``previous_signing_key`` (accepted
        during a key rotation), ``store_conn_id`` (an Airflow SQL connection for the event store) and
        ``store_path`` (SQLite file, the default store).
    """

    conn_name_attr: ClassVar[str] = "customerio_webhook_conn_id"
    default_conn_name: ClassVar[str] = "customerio_webhook_default"
    conn_type: ClassVar[str] = "customerio_webhook"
    hook_name: ClassVar[str] = "Customer.io reporting webhook"

    def __init__(self, customerio_webhook_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__()
        self.conn_id = customerio_webhook_conn_id

    def signing_keys(self) -> list[str]:
        """The accepted signing keys, current first."""
        conn = self.get_connection(self.conn_id)
        keys = [k for k in (conn.password, (conn.extra_dejson or {}).get("previous_signing_key")) if k]
        if not keys:
            raise ConfigError(
                f"Connection '{self.conn_id}' has no signing key: set its password to the reporting webhook's "
                "signing key (Customer.io > Data & Integrations > Reporting webhooks)."
            )
        return keys

    def test_connection(self) -> tuple[bool, str]:
        """Checks that a signing key is configured (there is nothing to call)."""
        try:
            keys = self.signing_keys()
        except Exception as exc:
            return False, str(exc)
        return True, f"{len(keys)} signing key(s) configured"
