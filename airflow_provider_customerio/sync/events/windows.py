"""The window of a run over the activity feed: which ``event`` activities belong to ``[start, end)``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any


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
