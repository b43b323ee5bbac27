"""Plumbing shared by the operators: the config, the default state and ledger locations, the run's ids and data
interval from the Airflow context, the hook arguments derived from the task's pool, and the coercion of rendered
template values. Nothing here talks to a vendor API.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.pools import rate_for
from airflow_provider_customerio.store import STORE_CONN_ID, SyncStore, lease_holder
from airflow_provider_customerio.sync.config import CustomerIOConfig, load_config
from airflow_provider_customerio.sync.mapping import to_bool

if TYPE_CHECKING:
    from airflow_provider_customerio.sync.people import RunWindow
    from airflow_provider_customerio.sync.state import StateStore

_EMPTY = ("", "none", "null")


# ------------------------------------------------------------------------------------------ Airflow settings
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


# ------------------------------------------------------------------------------------------ the shared store
def open_sync_store(config: CustomerIOConfig | None, state_path: str | os.PathLike[str] | None = None) -> SyncStore:
    """The shared sync store: the Airflow connection ``connectors.customerio.store_conn_id`` (default
    ``customerio_sync_store``) when it exists, else the embedded SQLite file ``state_path``, else
    ``connectors.customerio.people.state_path``, else ``$AIRFLOW_HOME/customerio_sync/state.db``."""
    conn_id = config.store_conn_id if config is not None else STORE_CONN_ID
    sqlite_path = state_path or (config.people.state_path if config is not None else None)
    return SyncStore.open(conn_id=conn_id, sqlite_path=sqlite_path)


#: A held lease is renewed every third of this; a task killed without letting go (SIGKILL, a lost worker) loses it
#: after this many seconds, and its own retry (the same run) takes it back at once.
LEASE_TTL_S = 120.0


@contextmanager
def sync_lease(store: SyncStore, name: str, context: Mapping[str, Any], *, wait: float = 300.0) -> Iterator[None]:
    """Hold the lease of the sync ``name`` for the run of ``context``: a second run of the same sync waits up to
    ``wait`` seconds, then fails with a message naming the run that holds it."""
    dag_id, run_id, _ = run_ids(context)
    with store.leased(name, lease_holder(dag_id, run_id), ttl=LEASE_TTL_S, wait=wait):
        yield


def record_summary(
    store: SyncStore, capability: str, context: Mapping[str, Any], task_id: str, summary: Mapping[str, Any]
) -> None:
    """Keep the task run's summary in the store (the status page reads it), put it on the task's asset events
    (``extra``) and keep it for OpenLineage; never fails the task."""
    from airflow_provider_customerio.lineage import SUMMARY_ATTR, emit_asset_events

    dag_id, run_id, map_index = run_ids(context)
    summary = {**summary, "capability": capability} if "capability" not in summary else summary
    if "duration_s" not in summary:
        start = getattr(context.get("ti") if isinstance(context, Mapping) else None, "start_date", None)
        if isinstance(start, datetime):
            start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
            summary = {**summary, "duration_s": round((datetime.now(timezone.utc) - start).total_seconds(), 1)}
    try:
        store.record_summary(capability, dag_id, run_id, task_key(task_id, map_index), summary)
    except Exception as exc:  # the sync itself succeeded: a summary is not worth failing it
        import logging

        logging.getLogger(__name__).warning("Could not record the run summary in the sync store: %s", exc)
    if isinstance(context, Mapping):
        emit_asset_events(context, summary)
        task = context.get("task")
        if task is not None:
            with contextlib.suppress(Exception):
                setattr(task, SUMMARY_ATTR, dict(summary))


# ------------------------------------------------------------------------------------------ the run
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
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def data_interval(context: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The run's data interval; ``(None, None)`` for a manual run without one."""
    get = context.get if isinstance(context, Mapping) else (lambda key: None)
    return as_datetime(get("data_interval_start")), as_datetime(get("data_interval_end"))


def incremental_window(
    context: Mapping[str, Any], *, mode: str, since: str | None, state: StateStore, watermark_key: str
) -> RunWindow | None:
    """The people window of the run (see :func:`airflow_provider_customerio.sync.people.resolve_window`):
    ``since``, else the data interval, else (a manual run) from the watermark ``watermark_key`` to now."""
    from airflow_provider_customerio.sync.people import resolve_window

    start, end = data_interval(context)
    return resolve_window(
        mode=mode,
        data_interval_start=start,
        data_interval_end=end,
        since=since,
        now=datetime.now(timezone.utc),
        watermark=state.get_watermark(watermark_key),
    )


# ------------------------------------------------------------------------------------------ hooks and values
def pool_hook_params(given: Mapping[str, Any] | None, api_pool: str, task_pool: str | None) -> dict[str, Any]:
    """The given hook arguments, else the rate that a task of ``task_pool`` may use on the API of ``api_pool``
    (see :mod:`airflow_provider_customerio.pools`)."""
    return dict(given) if given is not None else {"rate_limit": rate_for(api_pool, task_pool)}


def as_bool(value: Any, name: str) -> bool:
    """A rendered template value as a boolean: true/false, 1/0, yes/no, y/n, t/f, on/off (any case); empty, ``None``
    and ``"none"`` are false. Anything else is an error naming the argument."""
    if isinstance(value, bool):
        return value
    if value is None or str(value).strip().lower() in _EMPTY:
        return False
    try:
        return to_bool(value)
    except ValueError:
        raise ValueError(f"{name} must be true or false, got {value!r}.") from None


def as_optional_str(value: Any) -> str | None:
    """A rendered template value as text; empty, ``"None"`` and ``"null"`` are ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _EMPTY else text


__all__ = [
    "airflow_home",
    "as_bool",
    "as_datetime",
    "as_optional_str",
    "dags_folder",
    "data_interval",
    "default_deferrable",
    "incremental_window",
    "open_sync_store",
    "record_summary",
    "sync_lease",
    "load_customerio_config",
    "pool_hook_params",
    "run_ids",
    "run_task_ids",
    "task_key",
]
