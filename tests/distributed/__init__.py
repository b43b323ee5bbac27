"""Distributed tier: the provider on a CeleryExecutor cluster whose processes share no disk.

The modules here do not import ``tests.conftest``: it points ``AIRFLOW_HOME`` at the test session's folder when
imported, and the reference run (``reference_run.py``) is a child process with an ``AIRFLOW_HOME`` of its own.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
