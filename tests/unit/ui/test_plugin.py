"""The status page's Airflow plugin (``ui/plugin.py``): what it mounts on the api-server, where the UI shows it, and
which store the mounted app reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from airflow.plugins_manager import AirflowPlugin
from fastapi.testclient import TestClient

from airflow_provider_customerio.store.engine import dispose_all
from airflow_provider_customerio.ui import plugin
from airflow_provider_customerio.ui.plugin import PAGE_NAME, URL_PREFIX, URL_ROUTE, CustomerIOStatusPlugin

REPO = Path(__file__).resolve().parents[3]


def test_the_plugin_mounts_the_app_and_a_nav_entry_to_it() -> None:
    assert issubclass(CustomerIOStatusPlugin, AirflowPlugin)
    [mounted] = CustomerIOStatusPlugin.fastapi_apps
    assert mounted == {"app": plugin.app, "url_prefix": "/customerio-brevo", "name": PAGE_NAME}
    [view] = CustomerIOStatusPlugin.external_views
    assert view["href"] == "customerio-brevo/"  # relative: under the UI's base URL, where the app is mounted
    assert (view["destination"], view["url_route"]) == ("nav", URL_ROUTE)
    assert view["href"].rstrip("/") == URL_PREFIX.lstrip("/")


def test_the_plugin_is_registered_under_its_name() -> None:
    entry_points = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["airflow.plugins"]
    assert entry_points[CustomerIOStatusPlugin.name] == "airflow_provider_customerio.ui.plugin:CustomerIOStatusPlugin"


def test_the_app_reads_the_shared_store_else_the_embedded_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_conn
) -> None:
    dispose_all()
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert plugin._store_engine().url.database == str(tmp_path / "home" / "customerio_sync" / "state.db")
    airflow_conn("customerio_sync_store", conn_type="sqlite", host=str(tmp_path / "shared.db"))
    assert plugin._store_engine().url.database == str(tmp_path / "shared.db")
    dispose_all()


def test_the_mounted_app_refuses_a_viewer_without_a_login() -> None:
    assert TestClient(plugin.app).get("/api/status").status_code == 401
