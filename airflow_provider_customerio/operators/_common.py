"""Plumbing shared by the operators: the config, the default state and ledger locations, the run's ids and data
interval from the Airflow context, the hook arguments derived from the task's pool, and the coercion of rendered
template values. Nothing here talks to a vendor API.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.pools import rate_for
from airflow_provider_customerio.store import STORE_CONN_ID, LeaseOwner, SyncStore, lease_holder
from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.config import CampaignSettings, CustomerIOConfig, load_config
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.ledger import Ledger
from airflow_provider_customerio.sync.mapping import to_bool

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_customerio.sql.metrics_store import MetricsStore
    from airflow_provider_customerio.sync.people import RunWindow
    from airflow_provider_customerio.sync.state import StateStore

log = logging.getLogger(__name__)
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
#: after this many seconds, and its own retry (a later try of the same task) takes it over at once.
LEASE_TTL_S = 120.0


@contextmanager
def sync_lease(store: SyncStore, name: str, context: Mapping[str, Any], *, wait: float = 300.0) -> Iterator[None]:
    """Hold the lease of the sync ``name`` for the try of ``context`` (:func:`lease_owner`): a second run of the same
    sync waits up to ``wait`` seconds, then fails with a message naming the run that holds it; a later try of the
    same task takes it over at once, and the store's writes of the earlier try then fail (``store.fencing``)."""
    with store.leased(name, lease_owner(context), ttl=LEASE_TTL_S, wait=wait):
        yield


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


def brevo_import_slots(store: SyncStore, hook: Any, holder: str) -> ImportSlots:
    """The import slots of ``hook``'s Brevo account (the connection extras ``max_imports_in_flight`` and
    ``import_slot_ttl``), held by ``holder`` (the sync run: a retry of the run takes its slot back)."""
    limit, ttl = hook.import_slot_settings
    return ImportSlots(store.import_slots(), hook.import_slot_account, holder, limit=limit, ttl=ttl)


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
    return parse_iso(text) if text else None


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


# ------------------------------------------------------------------------------------------ skip policy
def skip(reason: str) -> NoReturn:
    """A capability switched off in the config: the task ends *skipped* (the UI shows it), with ``reason``."""

    raise AirflowSkipException(f"{reason}: the capability is off, nothing to do.")


def as_ids(value: Sequence[str] | str | int | None) -> list[str] | None:
    if value in (None, "", []):
        return None
    if isinstance(value, (str, int)):
        items = [v.strip() for v in str(value).split(",")]
    else:
        items = [str(v).strip() for v in value]
    bad = [v for v in items if not v.isdigit()]
    if bad:
        raise ValueError(f'object_type_ids must be Customer.io object type ids such as "1", got {bad!r}.')
    return items or None


def ledger_sink(ledger: Ledger) -> Callable[[Mapping[str, Any], str, str], None]:
    """Adapt :class:`Ledger` to the mirror's ``reject(record, reason, message)`` sink."""

    def reject(record: Mapping[str, Any], reason: str, message: str) -> None:
        ledger.reject(
            record_id=str(record.get("cio_id") or record.get("brevo_contact_id") or ""),
            reason=reason,
            message=message,
            stage="segments",
            identifiers={k: record.get(k) for k in ("email", "id", "ext_id", "brevo_contact_id")},
            detail={k: record[k] for k in ("segment_id", "list_id", "field") if k in record},
        )

    return reject


def as_id(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive integer id, got {value!r}.")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a positive integer id, got {value!r}. Set the '{name}' param (or the mirror config) "
            "to the numeric id shown in the vendor's UI."
        ) from None
    if number < 1:
        raise ValueError(f"{name} must be a positive integer id, got {value!r}.")
    return number


def as_names(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):  # a rendered list
            try:
                parsed = json.loads(text.replace("'", '"'))
            except ValueError:
                raise ValueError(
                    f"include_attributes must be a list of Customer.io attribute names, got {value!r}."
                ) from None
            return as_names(parsed)
        return tuple(p.strip() for p in text.split(",") if p.strip())
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(
                f'include_attributes must be a list of Customer.io attribute names (e.g. ["first_name", "plan"]), '
                f"got the item {item!r}."
            )
        names.append(item.strip())
    return tuple(names)


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


def open_metrics_store(settings: CampaignSettings, sync_store: SyncStore) -> MetricsStore:
    from airflow_provider_customerio.sql.metrics_store import store_for

    return store_for(settings.sql_conn_id, table=settings.table, engine=sync_store.engine)


#: Page size when reading stored webhook events.
WEBHOOK_EVENT_PAGE = 5000


def workflow_run_key(context: Context | Mapping[str, Any]) -> str:
    """The staging key shared by the derive and write tasks of one DAG run."""
    dag_id, run_id, _ = run_ids(context)
    return f"{dag_id}/{run_id}/workflow_state"


def message_window(
    context: Context | Mapping[str, Any], *, lookback_hours: float, now: datetime | None = None
) -> tuple[int, int, bool]:
    """``(start_ts, end_ts, manual)`` for ``/v1/messages`` (both bounds inclusive): the data interval
    ``[start, end)`` widened by ``lookback_hours`` before it; a run without an interval reads the last 24 hours."""
    if lookback_hours < 0:
        raise ConfigError(f"lookback_hours must be 0 or more, got {lookback_hours}.")
    start, end = data_interval(context)
    if isinstance(start, datetime) and isinstance(end, datetime):
        manual = False
        end_ts = int(end.timestamp()) - 1 if end > start else int(end.timestamp())
    else:
        manual = True
        end = now or datetime.now(timezone.utc)
        start = end - timedelta(days=1)
        end_ts = int(end.timestamp())
    start_ts = int((start - timedelta(hours=lookback_hours)).timestamp())
    return max(0, start_ts), end_ts, manual


def iter_webhook_events(store: Any, start_ts: int, end_ts: int) -> Iterator[dict[str, Any]]:
    """Stored reporting-webhook events with ``event_ts`` in ``[start_ts, end_ts]`` (decoded payloads), read in
    pages by ``(event_ts, event_id)``; undecodable payloads are skipped (the events capability ledgers them)."""
    import sqlalchemy as sa

    t = store.events
    last: tuple[int, str] = (start_ts - 1, "")
    while True:
        q = (
            sa.select(t.c.event_id, t.c.event_ts, t.c.payload)
            .where(
                t.c.source == "webhook",
                t.c.event_ts >= start_ts,
                t.c.event_ts <= end_ts,
                sa.tuple_(t.c.event_ts, t.c.event_id) > sa.tuple_(sa.literal(last[0]), sa.literal(last[1])),
            )
            .order_by(t.c.event_ts, t.c.event_id)
            .limit(WEBHOOK_EVENT_PAGE)
        )
        with store.engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return
        for _event_id, _event_ts, payload in rows:
            try:
                body = json.loads(payload)
            except (TypeError, ValueError):
                continue
            if isinstance(body, dict):
                yield body
        last = (int(rows[-1][1]), str(rows[-1][0]))


def open_webhook_store(config: CustomerIOConfig, conn_id: str | None, store: SyncStore) -> Any | None:
    """The events capability's store: its own connection when one is configured, else the sync store."""
    from airflow_provider_customerio.webhooks.store import EventStore

    conn_id = conn_id or config.events.webhook_store_conn_id
    if conn_id:
        return EventStore.from_conn_id(conn_id)
    events = EventStore(store.engine)
    events.fenced = True  # the lease lives in the same database: a stale try's marks fail
    return events


__all__ = [
    "load_connector_config",
    "open_metrics_store",
    "WEBHOOK_EVENT_PAGE",
    "workflow_run_key",
    "message_window",
    "iter_webhook_events",
    "open_webhook_store",
    "as_ids",
    "ledger_sink",
    "as_id",
    "as_names",
    "skip",
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
    "lease_owner",
    "load_customerio_config",
    "pool_hook_params",
    "run_ids",
    "run_task_ids",
    "task_key",
]
