"""Test-session setup shared by every tier.

Airflow reads AIRFLOW_HOME when first imported, so it is pointed at a fresh temporary folder here, before any
test module imports airflow. No test needs a pre-existing database or service: connections come from
``AIRFLOW_CONN_*`` variables (fixture ``airflow_conn``), and the tests that need a metadata DB or the sandbox
create them themselves.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cio-test-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")


#: The must-run gate (tests/must_run_gate.py): in CI a skipped, deselected or missing must-run tier fails the run.
pytest_plugins = ("tests.must_run_gate",)


@pytest.fixture
def airflow_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Register an Airflow connection through ``AIRFLOW_CONN_<ID>`` (no database).

    Usage: ``airflow_conn("brevo_default", conn_type="brevo", password="k", extra={...})``.
    """

    def make(conn_id: str, **fields: Any) -> str:
        payload = {k: v for k, v in fields.items() if v is not None}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))
        return conn_id

    return make


def ledger_rows(key: str | None, state_path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The rejected records of a run's ledger (``key`` as a summary names it), read from the sync store the
    operators use: the one of the active provider config (``$CUSTOMERIO_PROVIDER_CONFIG``), or ``state_path``."""
    from airflow_provider_customerio.runs.settings import load_customerio_config, open_sync_store
    from airflow_provider_customerio.store.ledger import read_ledger

    if key is None:
        return []
    config = None if state_path is not None else load_customerio_config(None)
    return read_ledger(open_sync_store(config, state_path).engine, key)
