"""An Airflow metadata DB for the DAG tests, created inside the test session.

``tests/conftest.py`` already points ``AIRFLOW_HOME`` at a fresh temporary folder; this runs ``airflow db
migrate`` there once per session (SQLite, ~6 s). Nothing outside the temp folder is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    home = Path(os.environ["AIRFLOW_HOME"])
    db = home / "airflow.db"
    if not db.exists():
        env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        proc = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True,
                              text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return db
