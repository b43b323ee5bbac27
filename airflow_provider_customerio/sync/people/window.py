"""The window of an incremental people run: which changes it reads, from the run's data interval, a manual
``since`` or the stored watermark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.people.ports import PeopleSyncError


@dataclass(frozen=True)
class RunWindow:
    """The window of an incremental run ``[start, end)`` (UTC)."""

    start: datetime
    end: datetime


def resolve_window(
    *,
    mode: str,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    since: str | datetime | None,
    now: datetime,
    watermark: str | None,
) -> RunWindow | None:
    """Decide the incremental window. ``None`` for full mode.

    Precedence: ``since`` (manual runs) -> ``[since, data_interval_end or now)``; else the data interval; else
    (a manual run with no data interval) the stored watermark -> ``[watermark, now)``; else an error that names
    both fixes. The full mode needs no window.
    """
    if mode == "full":
        return None
    if mode != "incremental":
        raise PeopleSyncError(f"mode `{mode}` is unknown: use `incremental` or `full`.")
    if since not in (None, ""):
        start = parse_since(since)
        end = data_interval_end if data_interval_end is not None and data_interval_end > start else now
        return RunWindow(start, end)
    if data_interval_start is not None and data_interval_end is not None:
        if data_interval_end <= data_interval_start:
            raise PeopleSyncError(
                f"the data interval [{data_interval_start.isoformat()}, {data_interval_end.isoformat()}) is empty: "
                "schedule the DAG with CronDataIntervalTimetable (cron presets give zero-width intervals in Airflow "
                "3), or pass `since`."
            )
        return RunWindow(data_interval_start, data_interval_end)
    if watermark:
        return RunWindow(parse_since(watermark), now)
    raise PeopleSyncError(
        "this run has no data interval (a manual run without a logical date) and no `since`: trigger it with "
        "the param `since` (e.g. 2024-01-01), or with mode `full`."
    )


def parse_since(value: str | datetime) -> datetime:
    """Parse ``since``: a date (``2024-01-01``) or an ISO date-time; naive values are UTC."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        try:
            dt = parse_iso(text)
        except ValueError:
            raise PeopleSyncError(
                f"`since` = `{value}` is not a date: write it as YYYY-MM-DD or an ISO date-time."
            ) from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)
