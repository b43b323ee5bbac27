"""The running task as the syncs see it: its ids, its data interval and its try, from the Airflow context.

Every function takes the context as a plain mapping, so it also works outside a task (``None`` values, defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_provider_customerio.store.fencing import LeaseOwner
from airflow_provider_customerio.store.sync_store import lease_holder
from airflow_provider_customerio.sync._time import parse_iso


def run_ids(
    context: Mapping[str, Any], *, default_dag_id: str = "adhoc", default_run_id: str = "adhoc"
) -> tuple[str, str, int]:
    """``(dag_id, run_id, map_index)`` of the running task; the defaults outside a DAG run, ``-1`` unmapped."""
    get = context.get if isinstance(context, Mapping) else (lambda key: None)
    dag, dag_run, ti = get("dag"), get("dag_run"), get("ti")
    dag_id = (
        getattr(dag, "dag_id", None)
        or getattr(dag_run, "dag_id", None)
        or getattr(ti, "dag_id", None)
        or default_dag_id
    )
    run_id = get("run_id") or getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None) or default_run_id
    map_index = getattr(ti, "map_index", -1)
    return str(dag_id), str(run_id), map_index if isinstance(map_index, int) else -1


def task_key(name: str, map_index: int) -> str:
    """``name``, suffixed with ``.<map_index>`` for a mapped task instance."""
    return f"{name}.{map_index}" if map_index >= 0 else name


def run_task_ids(context: Mapping[str, Any], task_id: str) -> tuple[str, str, str]:
    """``(dag_id, run_id, task)`` where ``task`` is the task id with the map index of a mapped instance."""
    dag_id, run_id, map_index = run_ids(context)
    return dag_id, run_id, task_key(task_id, map_index)


def as_datetime(value: Any) -> datetime | None:
    """A datetime from the context (a datetime, an ISO-8601 string, or nothing)."""
    if value is None or isinstance(value, datetime):
        return value
    text = str(value).strip()
    return parse_iso(text) if text else None


def data_interval(context: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The run's data interval; ``(None, None)`` for a manual run without one."""
    get = context.get if isinstance(context, Mapping) else (lambda key: None)
    return as_datetime(get("data_interval_start")), as_datetime(get("data_interval_end"))


def lease_owner(context: Mapping[str, Any]) -> LeaseOwner:
    """The try of ``context`` as a lease holder: its run, its task (with the map index) and its try number."""
    dag_id, run_id, map_index = run_ids(context)
    ti = context.get("ti") if isinstance(context, Mapping) else None
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", None) or ""
    try_number = getattr(ti, "try_number", 0)
    return LeaseOwner(
        lease_holder(dag_id, run_id),
        task_key(str(task_id), map_index) if task_id else "",
        try_number if isinstance(try_number, int) else 0,
    )


__all__ = ["as_datetime", "data_interval", "lease_owner", "run_ids", "run_task_ids", "task_key"]
