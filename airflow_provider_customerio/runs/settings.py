"""Where a run finds its settings: Airflow's configuration, the provider config file, the shared sync store and the
rate of the task's pool."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.pools import BREVO_POOL, rate_for
from airflow_provider_customerio.store.engine import STORE_CONN_ID
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.config import CustomerIOConfig, load_config

log = logging.getLogger(__name__)


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``, else ``~/airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")


def dags_folder() -> str | None:
    """Airflow's ``[core] dags_folder``: where the default config file lives (``None`` without a config)."""
    try:
        from airflow.configuration import conf

        return conf.get("core", "dags_folder", fallback=None)
    except Exception:
        return None


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (``False`` without a config)."""
    try:
        from airflow.configuration import conf

        return conf.getboolean("operators", "default_deferrable", fallback=False)
    except Exception:
        return False


def load_customerio_config(config_path: str | None) -> CustomerIOConfig:
    """The ``connectors.customerio`` section of the provider config (``config_path``, else
    ``$CUSTOMERIO_PROVIDER_CONFIG``, else ``customerio_config.yaml`` in the DAGs folder)."""
    return load_config(config_path, dags_folder=dags_folder()).customerio


def load_connector_config(config_path: str | None) -> CustomerIOConfig:
    """The ``connectors.customerio`` section. Without an explicit path a missing default file means defaults;
    an invalid file, or an explicit path that does not exist, is an error naming the problem."""
    try:
        return load_customerio_config(config_path)
    except ConfigError as exc:
        file_missing = len(exc.problems) == 1 and exc.problems[0][1].startswith("file not found")
        if config_path is None and file_missing and not os.environ.get("CUSTOMERIO_PROVIDER_CONFIG"):
            log.info("No provider config at %s: using the defaults.", exc.source)
            return CustomerIOConfig()
        raise


def open_sync_store(config: CustomerIOConfig | None, state_path: str | os.PathLike[str] | None = None) -> SyncStore:
    """The shared sync store: the Airflow connection ``connectors.customerio.store_conn_id`` (default
    ``customerio_sync_store``) when it exists, else the embedded SQLite file ``state_path``, else
    ``connectors.customerio.people.state_path``, else ``$AIRFLOW_HOME/customerio_sync/state.db``."""
    conn_id = config.store_conn_id if config is not None else STORE_CONN_ID
    sqlite_path = state_path or (config.people.state_path if config is not None else None)
    return SyncStore.open(conn_id=conn_id, sqlite_path=sqlite_path)


def with_state_path(config: CustomerIOConfig, state_path: str | None) -> CustomerIOConfig:
    """``config`` with an operator's ``state_path`` argument (when given) as ``people.state_path``: the embedded
    store's file for the task, for the triggerer it defers to, and for everything that opens the store from the
    config."""
    if not state_path:
        return config
    return dataclasses.replace(config, people=dataclasses.replace(config.people, state_path=state_path))


def pool_hook_params(given: Mapping[str, Any] | None, api_pool: str, task_pool: str | None) -> dict[str, Any]:
    """The given hook arguments, else the rate that a task of ``task_pool`` may use on the API of ``api_pool``
    (see :mod:`airflow_provider_customerio.pools`). A Brevo hook gets the pool instead: it reads its account's
    plan from the connection and takes the pool's share of that plan."""
    if given is not None:
        return dict(given)
    if api_pool == BREVO_POOL:
        return {"pool": task_pool or "default_pool"}
    return {"rate_limit": rate_for(api_pool, task_pool)}


__all__ = [
    "airflow_home",
    "dags_folder",
    "default_deferrable",
    "load_connector_config",
    "load_customerio_config",
    "open_sync_store",
    "pool_hook_params",
    "with_state_path",
]
