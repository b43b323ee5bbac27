"""Airflow 3 plugin that mounts the Customer.io webhook receiver on the api-server.

Once the plugin is registered (entry point ``airflow.plugins``), the api-server serves
``POST <api-server>/customerio/webhooks``: point a Customer.io reporting webhook there
(Customer.io > Data & Integrations > Reporting webhooks > endpoint URL).

Configuration, all in one Airflow connection (default id ``customerio_webhook_default``, type
``customerio_webhook``; another id via the environment variable ``CUSTOMERIO_WEBHOOK_CONN_ID``):

* ``password``: the webhook **signing key** shown on the Customer.io reporting-webhook page;
* extra ``previous_signing_key``: the old key during a rotation (both are accepted);
* extra ``store_conn_id``: the Airflow connection of the store (default ``customerio_sync_store``, the shared
  sync store the forwarding task reads); when that connection does not exist,
* extra ``store_path``: the embedded SQLite file (default ``$AIRFLOW_HOME/customerio_sync/state.db``), which
  only works when the api-server and the workers share that disk (a single machine).

The forwarding task reads the same store: by default both use the connection ``customerio_sync_store``, which
every Airflow component must have (PostgreSQL or MySQL when they run on different machines).

The signing key is read from the connection at most once a minute (``CUSTOMERIO_WEBHOOK_KEY_TTL`` seconds), so a
rotated key is picked up without a restart and a burst of webhooks does not hit the metadata database.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_customerio.store.engine import STORE_CONN_ID
from airflow_provider_customerio.store.inbox import EventStore
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.webhooks.brevo_notify import build_notify_router
from airflow_provider_customerio.webhooks.receiver import (
    DEFAULT_MAX_BODY_BYTES,
    KeyNotConfiguredError,
    ReceiverSettings,
    create_app,
)
from airflow_provider_customerio.webhooks.signature import DEFAULT_TOLERANCE_SECONDS

DEFAULT_CONN_ID = "customerio_webhook_default"
CONN_TYPE = "customerio_webhook"
URL_PREFIX = "/customerio"
#: The store's counter scope of the receiver's counts (stored, duplicate, refusals by reason).
COUNTER_SCOPE = "webhook_receiver"


class WebhookConnectionSource:
    """Reads the signing key(s) and the store location from the webhook connection, with a short cache.

    :param conn_id: the connection id (default: env ``CUSTOMERIO_WEBHOOK_CONN_ID`` or ``customerio_webhook_default``).
    :param ttl_seconds: how long a read connection is reused.
    """

    def __init__(self, conn_id: str | None = None, *, ttl_seconds: float | None = None) -> None:
        self.conn_id = conn_id or os.environ.get("CUSTOMERIO_WEBHOOK_CONN_ID") or DEFAULT_CONN_ID
        self.ttl = float(ttl_seconds if ttl_seconds is not None else os.environ.get("CUSTOMERIO_WEBHOOK_KEY_TTL", 60))
        self._cached: tuple[float, list[str], dict[str, Any]] | None = None
        self._sync_store: SyncStore | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[list[str], dict[str, Any]]:
        now = time.monotonic()
        cached = self._cached
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1], cached[2]
        with self._lock:
            from airflow.sdk import BaseHook

            try:
                conn = BaseHook.get_connection(self.conn_id)
            except Exception as exc:
                raise KeyNotConfiguredError(
                    f"connection '{self.conn_id}' cannot be read ({type(exc).__name__}). Create it with type "
                    f"{CONN_TYPE} and the Customer.io webhook signing key as its password."
                ) from None
            extra = dict(conn.extra_dejson or {})
            keys = [k for k in (conn.password, extra.get("previous_signing_key")) if k]
            self._cached = (now, keys, extra)
            return keys, extra

    def keys(self) -> list[str]:
        """The accepted signing keys; :class:`KeyNotConfiguredError` when the connection has none."""
        keys, _ = self._load()
        if not keys:
            raise KeyNotConfiguredError(
                f"connection '{self.conn_id}' has no password: set it to the Customer.io webhook signing key "
                "(Customer.io > Data & Integrations > Reporting webhooks)."
            )
        return keys

    def open_sync_store(self) -> SyncStore:
        """The shared sync store (``store_conn_id`` extra, default ``customerio_sync_store``; else the embedded
        SQLite file ``store_path``)."""
        try:
            _, extra = self._load()
        except KeyNotConfiguredError:
            extra = {}
        return SyncStore.open(conn_id=extra.get("store_conn_id") or STORE_CONN_ID, sqlite_path=extra.get("store_path"))

    def open_store(self) -> EventStore:
        """The event store, on the shared sync store."""
        return EventStore(self.open_sync_store().engine)

    def add_counts(self, deltas: Mapping[str, int]) -> None:
        """Add the receiver's counters to the store (scope :data:`COUNTER_SCOPE`; the status page reads them)."""
        if self._sync_store is None:
            self._sync_store = self.open_sync_store()
        self._sync_store.add_counts(COUNTER_SCOPE, deltas)


def build_app(source: WebhookConnectionSource | None = None) -> Any:
    """The receiver app wired to the webhook connection."""
    src = source or WebhookConnectionSource()
    settings = ReceiverSettings(
        keys=src.keys,
        store_factory=src.open_store,
        counts_sink=src.add_counts,
        max_body_bytes=int(os.environ.get("CUSTOMERIO_WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
        tolerance_seconds=int(os.environ.get("CUSTOMERIO_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS)),
    )
    app = create_app(settings)
    # Brevo's process-completion callbacks (notifyUrl), on the same mount: <api-server>/customerio/brevo/processes/…
    app.include_router(build_notify_router(src.open_sync_store))
    return app


#: The app the plugin mounts (opening the store and reading the connection wait for the first request).
app = build_app()


class CustomerIOWebhookPlugin(AirflowPlugin):
    """Mounts the Customer.io reporting-webhook receiver and the Brevo process-notice route at ``/customerio`` on
    the Airflow 3 api-server."""

    name = "customerio_webhooks"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Customer.io reporting webhooks"}]


__all__ = [
    "CONN_TYPE",
    "COUNTER_SCOPE",
    "DEFAULT_CONN_ID",
    "URL_PREFIX",
    "CustomerIOWebhookPlugin",
    "WebhookConnectionSource",
    "app",
    "build_app",
]
