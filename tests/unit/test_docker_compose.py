"""docker-compose.yaml cannot run here (no Docker engine), so its shape is checked instead."""

from __future__ import annotations

import json
import shlex
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
]


def test_official_services_plus_sandbox():
    assert set(SERVICES) == {"postgres", "redis", "sandbox", "sync-store-init", *AIRFLOW_SERVICES}


def test_every_airflow_service_reaches_the_sync_store_on_the_compose_postgres():
    """The sync store is shared by all containers (tasks on any worker, the webhook receiver on the api-server):
    its own database on the compose PostgreSQL, one connection for every service, the api-server included."""
    postgres = SERVICES["postgres"]["environment"]
    metadata_db = urlsplit(SERVICES["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    urls = {name: SERVICES[name]["environment"].get("AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE") for name in AIRFLOW_SERVICES}
    assert all(urls.values()), f"services without AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE: {urls}"
    assert len(set(urls.values())) == 1, urls  # one store for all
    store = urlsplit(next(iter(urls.values())))
    assert store.scheme in ("postgresql", "postgres"), store
    assert store.hostname == "postgres" and store.port in (None, 5432), store  # the compose PostgreSQL service
    assert (store.username, store.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
    database = store.path.lstrip("/")
    assert database and database != metadata_db.path.lstrip("/"), "the store needs its own database"
    # the URI is what Airflow parses into the connection
    from airflow.models.connection import Connection

    conn = Connection(conn_id="customerio_sync_store", uri=next(iter(urls.values())))
    assert (conn.conn_type, conn.host, conn.schema) == ("postgres", "postgres", database)


def test_the_store_database_is_created_before_any_airflow_service_starts():
    init = SERVICES["sync-store-init"]
    script = init["command"][1]
    database = urlsplit(SERVICES["airflow-apiserver"]["environment"]["AIRFLOW_CONN_CUSTOMERIO_SYNC_STORE"]).path[1:]
    assert f"CREATE DATABASE {database}" in script
    assert f"datname = '{database}'" in script  # idempotent: also on an existing postgres volume
    assert init["environment"]["PGHOST"] == "postgres"
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES:
        assert SERVICES[name]["depends_on"]["sync-store-init"] == {"condition": "service_completed_successfully"}, name


def test_airflow_services_install_the_provider_and_join_the_sandbox_network():
    for name in AIRFLOW_SERVICES:
        svc = SERVICES[name]
        assert "pip install --no-cache-dir /opt/provider" in svc["build"]["dockerfile_inline"], name
        assert svc["network_mode"] == "service:sandbox", name
        assert svc["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_connections_point_at_the_sandbox_on_loopback():
    env = SERVICES["airflow-worker"]["environment"]
    expected = {
        "AIRFLOW_CONN_CUSTOMERIO_TRACK_DEFAULT": "customerio_track",
        "AIRFLOW_CONN_CUSTOMERIO_APP_DEFAULT": "customerio_app",
        "AIRFLOW_CONN_BREVO_DEFAULT": "brevo",
    }
    sandbox_cmd = SERVICES["sandbox"]["command"]
    port = sandbox_cmd[sandbox_cmd.index("--port") + 1]
    for var, conn_type in expected.items():
        conn = json.loads(env[var])
        assert conn["conn_type"] == conn_type
        assert conn["host"].startswith(f"http://127.0.0.1:{port}/")


def test_mounts_exist_and_pools_are_imported():
    volumes = SERVICES["airflow-scheduler"]["volumes"]
    assert any(v.endswith(":/opt/airflow/dags") for v in volumes)
    assert (REPO_ROOT / "dags" / "pools.json").is_file()
    init_script = SERVICES["airflow-init"]["command"][1]
    assert "airflow pools import /opt/airflow/dags/pools.json" in init_script


@pytest.mark.parametrize(
    "name", ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
)
def test_airflow_commands_parse(name):
    from airflow.cli.cli_parser import get_parser

    args = get_parser().parse_args(shlex.split(SERVICES[name]["command"]))
    assert callable(args.func)


def test_init_commands_parse():
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    lines = [
        ln.strip()
        for ln in SERVICES["airflow-init"]["command"][1].splitlines()
        if ln.strip().startswith("/entrypoint airflow")
    ]
    assert lines
    for line in lines:
        argv = shlex.split(line.split("||")[0])[2:]
        assert callable(parser.parse_args(argv).func), line


def test_worker_is_the_celery_worker():
    # `celery worker` is provided by apache-airflow-providers-celery, which the official image ships.
    assert SERVICES["airflow-worker"]["command"] == "celery worker"
