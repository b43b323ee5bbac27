"""What the status page shows, read from the shared sync store only (no Airflow, no HTTP, no local files).

Every query is bounded: run summaries are read per capability with a limit, rejected records are counted from
the ``(dag_id, reason)`` index and listed a page at a time by keyset pagination on ``(reason, id)`` (no
``OFFSET``), webhook health reads the outbox's ``(status, received_at)`` index and the receiver's counters. The
page stays fast with millions of rejected records.

Access is applied here too: every query takes the DAG ids the viewer may read (``None`` = every DAG), so a
record of a DAG the viewer cannot see never leaves the store.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store.engine import read_connection
from airflow_provider_customerio.store.ledger import EXPORT_COLUMNS

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
PAGE_SIZE = 50
#: The counter scope the webhook receiver writes (see ``webhooks.plugin.COUNTER_SCOPE``).
WEBHOOK_COUNTER_SCOPE = "webhook_receiver"
WEBHOOK_EVENTS_TABLE = "customerio_webhook_events"


def _dag_filter(col: sa.ColumnElement[Any], dag_ids: Collection[str] | None) -> sa.ColumnElement[bool] | None:
    if dag_ids is None:
        return None
    return col.in_(sorted(dag_ids)) if dag_ids else sa.false()


# ------------------------------------------------------------------------------------------------ runs
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
    engine: Engine, dag_ids: Collection[str] | None, *, per_capability: int = 10
) -> dict[str, list[RunRow]]:
    """The latest ``per_capability`` task runs of every capability (index ``(capability, finished_at)``)."""
    t = s.run_summary
    out: dict[str, list[RunRow]] = {}
    with read_connection(engine) as conn:
        found = [r[0] for r in conn.execute(sa.select(t.c.capability).distinct())]
        for cap in [*CAPABILITIES, *sorted(set(found) - set(CAPABILITIES))]:
            q = sa.select(t).where(t.c.capability == cap)
            flt = _dag_filter(t.c.dag_id, dag_ids)
            if flt is not None:
                q = q.where(flt)
            q = q.order_by(t.c.finished_at.desc(), t.c.id.desc()).limit(per_capability)
            rows = [
                RunRow(r["capability"], r["dag_id"], r["run_id"], r["task_id"], r["finished_at"], _json(r["summary"]))
                for r in conn.execute(q).mappings()
            ]
            if rows or cap in CAPABILITIES:
                out[cap] = rows
    return out


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def provider_dag_ids(engine: Engine) -> set[str]:
    """The DAGs the store has records of (run summaries, rejected records): the provider's DAGs."""
    with read_connection(engine) as conn:
        ids = {r[0] for r in conn.execute(sa.select(s.run_summary.c.dag_id).distinct())}
        ids |= {r[0] for r in conn.execute(sa.select(s.rejected_record.c.dag_id).distinct())}
    return ids


# --------------------------------------------------------------------------------------------- rejects
def reject_counts(engine: Engine, dag_ids: Collection[str] | None) -> dict[str, int]:
    """Rejected records per reason, most first (counted on the ``(dag_id, reason)`` index)."""
    t = s.rejected_record
    q = sa.select(t.c.reason, sa.func.count()).group_by(t.c.dag_id, t.c.reason)
    flt = _dag_filter(t.c.dag_id, dag_ids)
    if flt is not None:
        q = q.where(flt)
    totals: dict[str, int] = {}
    with read_connection(engine) as conn:
        for reason, n in conn.execute(q):
            totals[reason] = totals.get(reason, 0) + int(n)
    return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class RejectPage:
    """One page of the rejected records of a reason, newest first; ``next_before`` continues it."""

    reason: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_before: int | None = None


def reject_page(
    engine: Engine,
    dag_ids: Collection[str] | None,
    reason: str,
    *,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> RejectPage:
    """Up to ``size`` rejected records of ``reason`` with an id below ``before`` (index ``(reason, id)``)."""
    t = s.rejected_record
    size = max(1, min(int(size), 500))
    q = sa.select(
        t.c.id, t.c.ts, t.c.dag_id, t.c.run_id, t.c.task_id, t.c.record_id, t.c.stage, t.c.message, t.c.identifiers
    ).where(t.c.reason == reason)
    if before is not None:
        q = q.where(t.c.id < int(before))
    flt = _dag_filter(t.c.dag_id, dag_ids)
    if flt is not None:
        q = q.where(flt)
    q = q.order_by(t.c.id.desc()).limit(size + 1)
    with read_connection(engine) as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    page = RejectPage(reason, rows[:size])
    if len(rows) > size:
        page.next_before = int(rows[size - 1]["id"])
    for r in page.rows:
        r["identifiers"] = _json(r["identifiers"]) if r["identifiers"] else {}
    return page


def iter_rejects_csv(
    engine: Engine, dag_ids: Collection[str] | None, reason: str | None = None, *, batch: int = 1000
) -> Iterator[str]:
    """The rejected records (of one reason, or all) as CSV text chunks, read in keyset batches."""
    t = s.rejected_record
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS))
    writer.writeheader()
    yield buf.getvalue()
    last = 0
    while True:
        q = sa.select(t).where(t.c.id > last)
        if reason is not None:
            q = q.where(t.c.reason == reason)
        flt = _dag_filter(t.c.dag_id, dag_ids)
        if flt is not None:
            q = q.where(flt)
        with read_connection(engine) as conn:
            rows = conn.execute(q.order_by(t.c.id).limit(batch)).mappings().all()
        if not rows:
            return
        buf.seek(0)
        buf.truncate()
        for r in rows:
            writer.writerow({k: r[k] for k in EXPORT_COLUMNS})
        yield buf.getvalue()
        last = int(rows[-1]["id"])


# ---------------------------------------------------------------------------------------------- webhooks
@dataclass
class WebhookHealth:
    """The webhook receiver's figures: its lasting counters and the outbox's state."""

    counters: dict[str, int]
    statuses: dict[str, int]
    oldest_unforwarded_at: float | None

    @property
    def refused(self) -> dict[str, int]:
        """Refusals by reason (``unauthorized.<signature reason>`` detail included)."""
        return {k: v for k, v in sorted(self.counters.items()) if k not in ("stored", "duplicate") and v}

    @property
    def received(self) -> int:
        """Every request answered: stored + duplicates + refusals (signature details not counted twice)."""
        return sum(v for k, v in self.counters.items() if "." not in k)


def webhook_health(engine: Engine, table: str = WEBHOOK_EVENTS_TABLE) -> WebhookHealth:
    """Counters of the receiver and, from the outbox, events per status and the oldest not yet forwarded."""
    c = s.counter
    with read_connection(engine) as conn:
        counters = {
            r[0]: int(r[1])
            for r in conn.execute(sa.select(c.c.name, c.c.value).where(c.c.scope == WEBHOOK_COUNTER_SCOPE))
        }
        statuses: dict[str, int] = {}
        oldest: float | None = None
        if sa.inspect(conn).has_table(table):
            ev = sa.table(table, sa.column("status"), sa.column("received_at"), sa.column("source"))
            for status, n in conn.execute(sa.select(ev.c.status, sa.func.count()).group_by(ev.c.status)):
                statuses[str(status)] = int(n)
            oldest_q = sa.select(sa.func.min(ev.c.received_at)).where(ev.c.status.in_(["pending", "in_flight"]))
            value = conn.execute(oldest_q).scalar()
            oldest = float(value) if value is not None else None
    return WebhookHealth(counters, statuses, oldest)


# ----------------------------------------------------------------------------------------- campaign metrics
def metrics_rows(engine: Engine, first: date, last: date, *, table: str | None = None) -> list[dict[str, Any]]:
    """The campaign metrics table's rows between two days (the table the metrics task writes in the store)."""
    from airflow_provider_customerio.store.reporting import DEFAULT_TABLE, engine_store

    with read_connection(engine) as conn:
        if not sa.inspect(conn).has_table(table or DEFAULT_TABLE):
            return []
    with engine_store(engine, table=table or DEFAULT_TABLE) as store:
        return store.fetch(first.isoformat(), last.isoformat())


__all__ = [
    "CAPABILITIES",
    "PAGE_SIZE",
    "RUN_FIGURES",
    "RejectPage",
    "RunRow",
    "WebhookHealth",
    "iter_rejects_csv",
    "metrics_rows",
    "recent_runs",
    "reject_counts",
    "reject_page",
    "provider_dag_ids",
    "webhook_health",
]
