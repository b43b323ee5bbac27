"""Plumbing shared by the operators: the config, the default state and ledger locations, the run's ids and data
interval from the Airflow context, the hook arguments derived from the task's pool, and the coercion of rendered
template values. Nothing here talks to a vendor API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.runs.context import data_interval, run_ids
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.sync.config import CustomerIOConfig

if TYPE_CHECKING:
    from airflow.sdk import Context


log = logging.getLogger(__name__)
_EMPTY = ("", "none", "null")


# ------------------------------------------------------------------------------------------ Airflow settings
# ------------------------------------------------------------------------------------------ the shared store


# ------------------------------------------------------------------------------------------ the run
# ------------------------------------------------------------------------------------------ hooks and values
# ------------------------------------------------------------------------------------------ skip policy
def skip(reason: str) -> NoReturn:
    """A capability switched off in the config: the task ends *skipped* (the UI shows it), with ``reason``."""

    raise AirflowSkipException(f"{reason}: the capability is off, nothing to do.")


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
    pages (:meth:`airflow_provider_customerio.store.inbox.EventStore.iter_webhook_payloads`)."""
    return store.iter_webhook_payloads(start_ts, end_ts, page=WEBHOOK_EVENT_PAGE)  # type: ignore[no-any-return]


def open_webhook_store(config: CustomerIOConfig, conn_id: str | None, store: SyncStore) -> Any | None:
    """The events capability's store: its own connection when one is configured, else the sync store."""
    from airflow_provider_customerio.store.inbox import EventStore

    conn_id = conn_id or config.events.webhook_store_conn_id
    if conn_id:
        return EventStore.from_conn_id(conn_id)
    events = EventStore(store.engine)
    events.fenced = True  # the lease lives in the same database: a stale try's marks fail
    return events


__all__ = [
    "WEBHOOK_EVENT_PAGE",
    "iter_webhook_events",
    "ledger_sink",
    "message_window",
    "open_webhook_store",
    "skip",
    "workflow_run_key",
]
