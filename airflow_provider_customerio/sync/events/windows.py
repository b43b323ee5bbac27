"""The window of a run over the activity feed: where it starts and ends (explicit, the data interval, or from the
watermark of the last window read), and which ``event`` activities belong to ``[start, end)``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow_provider_customerio.sync._time import to_epoch


def activity_in_window(activity: Mapping[str, Any], start: int | None, end: int | None) -> bool:
    """True for an ``event`` activity with ``start <= timestamp < end`` (an open bound matches everything)."""
    if activity.get("type") != "event":
        return False
    ts = activity.get("timestamp")
    if not isinstance(ts, (int, float)):
        return False
    return (start is None or ts >= start) and (end is None or ts < end)


def iter_window_activities(
    activities: Iterable[Mapping[str, Any]], start: int | None, end: int | None, *, stop_after_older: int = 100
) -> Iterator[Mapping[str, Any]]:
    """Filter a newest-first activity feed to the window ``[start, end)``.

    The feed is ordered by arrival, and a backdated event keeps its arrival position, so reading stops only after
    ``stop_after_older`` consecutive items older than ``start`` (not at the first one).
    """
    older = 0
    for act in activities:
        ts = act.get("timestamp")
        if start is not None and isinstance(ts, (int, float)) and ts < start:
            older += 1
            if older >= stop_after_older:
                return
            continue
        older = 0
        if activity_in_window(act, start, end):
            yield act


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
