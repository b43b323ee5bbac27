"""Airflow 3 plugin of the status page: the FastAPI app at ``/customerio-brevo`` on the api-server, and a
"Customer.io ↔ Brevo" entry in the UI's navigation that shows it in Airflow's own frame (an external view).

The page reads the shared sync store (the Airflow connection ``customerio_sync_store``, else the embedded SQLite
file ``$AIRFLOW_HOME/customerio_sync/state.db``); the api-server must reach it like the workers do.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from sqlalchemy.engine import Engine

from airflow_provider_customerio.ui.app import create_app

URL_PREFIX = "/customerio-brevo"
#: Where the page is in the UI (``<airflow>/plugin/customerio-brevo``).
URL_ROUTE = "customerio-brevo"
PAGE_NAME = "Customer.io ↔ Brevo"


def _store_engine() -> Engine:
    from airflow_provider_customerio.store.sync_store import SyncStore

    return SyncStore.open().engine


#: The app the plugin mounts (the store is opened on the first request).
app = create_app(_store_engine)


class CustomerIOStatusPlugin(AirflowPlugin):
    """The status page of the Customer.io ↔ Brevo sync, in the Airflow UI."""

    name = "customerio_brevo_status"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": PAGE_NAME}]
    external_views = [
        {
            "name": PAGE_NAME,
            # relative to the UI's base URL: the api-server serves the app mounted above
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "destination": "nav",
            "url_route": URL_ROUTE,
            "category": "browse",
        }
    ]


__all__ = ["PAGE_NAME", "URL_PREFIX", "URL_ROUTE", "CustomerIOStatusPlugin", "app"]
