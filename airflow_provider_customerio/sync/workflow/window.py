"""The message window a workflow-state run reads from ``/v1/messages``. Pure logic, no Airflow and no HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_provider_customerio.exceptions import ConfigError


def message_window(
    start: datetime | None, end: datetime | None, *, lookback_hours: float, now: datetime | None = None
) -> tuple[int, int, bool]:
    """``(start_ts, end_ts, manual)`` for ``/v1/messages`` (both bounds inclusive): the data interval
    ``[start, end)`` widened by ``lookback_hours`` before it; a run without an interval reads the last 24 hours."""
    if lookback_hours < 0:
        raise ConfigError(f"lookback_hours must be 0 or more, got {lookback_hours}.")
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


def lookback(value: float | str) -> float:
    """The ``lookback_hours`` argument as rendered, as a number of hours (the error names the argument)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"lookback_hours: {value!r} is not a number of hours.") from None
