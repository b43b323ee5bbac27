"""The connection-check operator (``operators/connection_check.py``) against the sandbox over real HTTP: a report
line per check, and a failure naming the broken connection with its hint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_customerio.exceptions import ConnectionCheckFailed
from airflow_provider_customerio.operators.connection_check import CustomerIOConnectionCheckOperator
from airflow_provider_customerio.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    server = SandboxServer(host="127.0.0.1", port=0, seed_people=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def connections(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    server.reset()
    env = dict(server.info["airflow_conn_env"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_every_check_passes_against_working_connections(connections: dict[str, str]) -> None:
    report = CustomerIOConnectionCheckOperator(task_id="check").execute({})
    assert [r["check"] for r in report] == [
        "Track API",
        "App API",
        "people accessible",
        "campaigns readable",
        "segments listable",
        "Brevo reachable",
    ]
    assert all(r["ok"] for r in report)


def test_a_wrong_brevo_key_fails_the_task_with_every_line(
    connections: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    brevo = json.loads(connections["AIRFLOW_CONN_BREVO_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_BREVO_BAD", json.dumps({**brevo, "password": "not-the-key"}))
    op = CustomerIOConnectionCheckOperator(task_id="check", brevo_conn_id="brevo_bad")
    with pytest.raises(ConnectionCheckFailed, match="Connection check failed") as failed:
        op.execute({})
    lines = str(failed.value).splitlines()
    assert any(line.startswith("✓ Track API") for line in lines)
    assert any(line.startswith("✗ Brevo reachable") for line in lines)
