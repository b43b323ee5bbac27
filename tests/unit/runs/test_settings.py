"""Where a run finds its settings (``runs/settings.py``): Airflow's home, the provider config file, the sync store
and the pool's rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_customerio import pools
from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.runs.settings import (
    airflow_home,
    load_connector_config,
    load_customerio_config,
    open_sync_store,
    pool_hook_params,
)
from airflow_provider_customerio.store.engine import dispose_all
from airflow_provider_customerio.sync.config import CONFIG_ENV_VAR, CustomerIOConfig, PeopleSettings

MINIMAL = "connectors:\n  customerio:\n    region: eu\n"


def test_airflow_home_is_the_env_else_home_airflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert airflow_home() == tmp_path
    monkeypatch.delenv("AIRFLOW_HOME")
    assert airflow_home() == Path.home() / "airflow"


def test_the_config_file_is_read_from_the_given_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL)
    assert load_customerio_config(str(path)).region == "eu"
    assert load_connector_config(str(path)).region == "eu"


def test_a_missing_default_file_means_defaults_but_a_missing_given_one_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "no_dags_here"))
    assert load_connector_config(None) == CustomerIOConfig()
    with pytest.raises(ConfigError, match="file not found"):
        load_customerio_config(None)
    with pytest.raises(ConfigError, match="file not found"):
        load_connector_config(str(tmp_path / "missing.yaml"))
    monkeypatch.setenv(CONFIG_ENV_VAR, str(tmp_path / "missing.yaml"))  # a path named by the env is an explicit one
    with pytest.raises(ConfigError, match="file not found"):
        load_connector_config(None)


def test_an_invalid_default_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    (tmp_path / "customerio_config.yaml").write_text("connectors:\n  customerio:\n    region: mars\n")
    with pytest.raises(ConfigError, match="region"):
        load_connector_config(None)


def test_the_store_is_the_state_path_else_the_configured_one(tmp_path: Path) -> None:
    dispose_all()
    config = CustomerIOConfig(store_conn_id="no_such_store", people=PeopleSettings(state_path=str(tmp_path / "c.db")))
    assert open_sync_store(config).location.endswith("c.db")
    assert open_sync_store(config, tmp_path / "given.db").location.endswith("given.db")
    dispose_all()


def test_pool_hook_params_are_the_given_ones_else_the_pools_rate() -> None:
    assert pool_hook_params({"timeout": 5}, "brevo", None) == {"timeout": 5}
    # a Brevo hook gets the pool: it reads its plan from the connection and takes that pool's share of the plan
    assert pool_hook_params(None, "brevo", "brevo") == {"pool": "brevo"}
    assert pool_hook_params(None, "brevo", None) == {"pool": "default_pool"}
    assert pool_hook_params(None, "customerio_app", "customerio_app") == {
        "rate_limit": pools.POOLS["customerio_app"].per_task_rate
    }
    assert pool_hook_params(None, "customerio_app", "brevo") == {"rate_limit": pools.POOLS["customerio_app"].side_rate}
