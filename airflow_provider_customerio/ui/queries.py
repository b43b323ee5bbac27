"""What the status page makes of the store's rows: the capabilities in the page's order, and a run summary's figures.

The rows come from :class:`airflow_provider_customerio.store.status.StatusQueries` (the store owns the SQL): this
module reads no database itself.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_customerio.store.status import StatusQueries

#: The sync tasks' capabilities, in the page's order (see ``record_summary`` in the operators).
CAPABILITIES: tuple[str, ...] = (
    "people",
    "reverse",
    "segments",
    "events",
    "campaign_metrics",
    "workflow",
    "objects",
    "objects_reverse",
)
#: The figures of a run summary shown per run (one a run's summary does not have is shown as "–").
RUN_FIGURES: tuple[str, ...] = ("read", "created", "updated", "unchanged", "deleted", "rejected")
#: Figures some capabilities name differently (the segment mirror: people in the segment, added, lifecycle
#: attributes updated, removed; the campaign metrics: days read, rows inserted).
FIGURE_ALIASES: dict[str, tuple[str, ...]] = {
    "read": ("segment_size", "events_read", "people_read", "days_read"),
    "created": ("added", "inserted"),
    "updated": ("lifecycle_updated",),
    "deleted": ("removed",),
}


@dataclass
class RunRow:
    """One task run's summary, as the page shows it."""

    capability: str
    dag_id: str
    run_id: str
    task_id: str
    finished_at: float
    summary: dict[str, Any]

    def figure(self, name: str) -> int | None:
        """A figure of the summary (by its name, else by an alias of :data:`FIGURE_ALIASES`)."""
        value = self.summary.get(name)
        for alias in FIGURE_ALIASES.get(name, ()) if value is None else ():
            value = self.summary.get(alias)
            if value is not None:
                break
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)):
            return int(value)
        if isinstance(value, (list, dict)):
            return len(value)
        return None

    @property
    def window(self) -> str:
        w = self.summary.get("window")
        if isinstance(w, Mapping):
            start = w.get("start") or w.get("since") or w.get("first_day")
            end = w.get("end") or w.get("until") or w.get("last_day")
            if start or end:
                return f"{start or '…'} → {end or 'now'}"
            # a full run has an open window: name the mode rather than a JSON of nulls
            return str(self.summary.get("mode") or "") if not any(w.values()) else json.dumps(dict(w), default=str)
        return "" if w is None else str(w)

    @property
    def api_calls(self) -> dict[str, int]:
        """API calls per API (``{"customerio_app": 12, "brevo": 3}``), from ``api_calls`` (a number or a map)."""
        calls = self.summary.get("api_calls")
        if isinstance(calls, Mapping):
            return {str(k): int(v) for k, v in calls.items() if isinstance(v, (int, float))}
        if isinstance(calls, (int, float)) and not isinstance(calls, bool):
            return {"all": int(calls)}
        return {}

    def number(self, *names: str) -> int | None:
        """The first of ``names`` present as a number (summaries name a few figures differently)."""
        for name in names:
            value = self.figure(name)
            if value is not None:
                return value
        return None

    @property
    def duration_s(self) -> float | None:
        for name in ("duration_s", "duration_seconds", "duration", "elapsed_s"):
            value = self.summary.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return None


def recent_runs(
    queries: StatusQueries, dag_ids: Collection[str] | None, *, per_capability: int = 10
) -> dict[str, list[RunRow]]:
    """The latest ``per_capability`` task runs of every capability, the page's capabilities first."""
    fields = ("capability", "dag_id", "run_id", "task_id", "finished_at", "summary")
    return {
        cap: [RunRow(*(r[f] for f in fields)) for r in rows]
        for cap, rows in queries.run_summaries(CAPABILITIES, dag_ids, per_capability=per_capability).items()
    }


__all__ = ["CAPABILITIES", "FIGURE_ALIASES", "RUN_FIGURES", "RunRow", "recent_runs"]
