"""Plumbing shared by the operators: the config, the default state and ledger locations, the run's ids and data
interval from the Airflow context, the hook arguments derived from the task's pool, and the coercion of rendered
template values. Nothing here talks to a vendor API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.runs.context import data_interval
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.sync._time import to_epoch
from airflow_provider_customerio.sync.campaigns import (
    MetricsWindow,
    check_lookback,
    metrics_window,
)
from airflow_provider_customerio.sync.config import CampaignSettings, CustomerIOConfig

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_customerio.store.reporting import MetricsStore
    from airflow_provider_customerio.sync.people.window import RunWindow
    from airflow_provider_customerio.sync.ports import SyncState

log = logging.getLogger(__name__)
_EMPTY = ("", "none", "null")


# ------------------------------------------------------------------------------------------ Airflow settings
# ------------------------------------------------------------------------------------------ the shared store


# ------------------------------------------------------------------------------------------ the run
def incremental_window(
    context: Mapping[str, Any], *, mode: str, since: str | None, state: SyncState, watermark_key: str
) -> RunWindow | None:
    """The people window of the run (see :func:`airflow_provider_customerio.sync.people.resolve_window`):
    ``since``, else the data interval, else (a manual run) from the watermark ``watermark_key`` to now."""
    from airflow_provider_customerio.sync.people.window import resolve_window

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
# ------------------------------------------------------------------------------------------ skip policy
def skip(reason: str) -> NoReturn:
    """A capability switched off in the config: the task ends *skipped* (the UI shows it), with ``reason``."""

    raise AirflowSkipException(f"{reason}: the capability is off, nothing to do.")


# ------------------------------------------------------------------------------------------ events
#: The event store's meta key holding the end of the last activity window read.
ACTIVITY_WATERMARK = "activity_window_end"
#: The activity window of a manual run without a data interval (first run), seconds.
DEFAULT_MANUAL_WINDOW_SECONDS = 3600


def activity_window(
    window_start: Any, window_end: Any, context: Mapping[str, Any], *, watermark: str | None, now: float
) -> tuple[int, int, str]:
    """The activity window ``[start, end)`` of an events run and where it came from: the explicit
    ``window_start``/``window_end``, else the data interval, else (a manual run) from ``watermark`` to now."""
    start = to_epoch(window_start, "window_start")
    end = to_epoch(window_end, "window_end")
    if start is not None or end is not None:
        origin = "explicit window_start/window_end"
    elif context.get("data_interval_start") is not None and context.get("data_interval_end") is not None:
        start = to_epoch(context["data_interval_start"], "data_interval_start")
        end = to_epoch(context["data_interval_end"], "data_interval_end")
        origin = "data interval"
    else:
        end = int(now)
        if watermark:  # a window may be empty (two manual runs in the same second): nothing new, not an error
            return min(int(watermark), end), end, "from the end of the last window read (manual run, no data interval)"
        return end - DEFAULT_MANUAL_WINDOW_SECONDS, end, "the last hour (manual run, no data interval, first run)"
    end = int(now) if end is None else end
    start = end - DEFAULT_MANUAL_WINDOW_SECONDS if start is None else start
    if start >= end:
        raise ValueError(f"window_start ({start}) must be before window_end ({end}); fix the params of the run")
    return start, end, origin


def read_events_input(events: Any, path: str | None) -> Iterator[Any]:
    """Events from XCom (a list, or JSON text of a list) or from a file (a JSON array, or JSON Lines)."""
    if (events is None) == (not path):
        raise ValueError("give exactly one of `events` (a list, e.g. from XCom) or `events_path` (a file)")
    if events is not None:
        if isinstance(events, str):
            try:
                events = json.loads(events)
            except ValueError:
                raise ValueError("events: the text is not JSON; pass a list of event objects") from None
        if isinstance(events, Mapping):
            events = [events]
        if not isinstance(events, Iterable):
            raise ValueError(f"events: expected a list of event objects, got {type(events).__name__}")
        yield from events
        return
    p = Path(str(path))
    if not p.is_file():
        raise ValueError(f"events_path: {p} does not exist; write the events there (JSON array or JSON Lines)")
    with p.open(encoding="utf-8") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        fh.seek(0)
        if head == "[":
            yield from json.load(fh)
            return
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                yield {"__invalid_line__": n}


def metrics_run_window(
    context: Context | Mapping[str, Any], *, lookback_days: int, tz: str = "UTC", now: datetime | None = None
) -> MetricsWindow:
    """The metrics window of this task's run (an explicit decision for runs without a data interval)."""
    start, end = data_interval(context)
    return metrics_window(start, end, lookback_days=lookback_days, now=now or datetime.now(timezone.utc), tz=tz)


def campaign_settings(config: CustomerIOConfig, *, sql_conn_id: str | None, table: str | None) -> CampaignSettings:
    c = config.campaigns
    return CampaignSettings(
        lookback_days=c.lookback_days, sql_conn_id=sql_conn_id or c.sql_conn_id, table=table or c.table
    )


def open_metrics_store(settings: CampaignSettings, sync_store: SyncStore) -> MetricsStore:
    from airflow_provider_customerio.store.reporting import store_for

    return store_for(settings.sql_conn_id, table=settings.table, engine=sync_store.engine)


def campaign_lookback_days(value: Any, config: CustomerIOConfig) -> int:
    if value is None or value == "" or value == "None":
        return config.campaigns.lookback_days
    return check_lookback(value)


__all__ = [
    "ACTIVITY_WATERMARK",
    "activity_window",
    "campaign_lookback_days",
    "campaign_settings",
    "incremental_window",
    "metrics_run_window",
    "open_metrics_store",
    "read_events_input",
    "skip",
]
