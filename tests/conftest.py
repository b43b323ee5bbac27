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
