"""The status page's reads of the shared sync store: run summaries, rejected records, webhook health, metrics.

Every query is bounded: run summaries are read per capability with a limit, rejected records are counted from
the ``(dag_id, reason)`` index and listed a page at a time by keyset pagination on ``(reason, id)`` (no
``OFFSET``), webhook health reads the inbox's ``(status, received_at)`` index and the receiver's counters. The
page stays fast with millions of rejected records.

Access is applied here too: every query takes the DAG ids the viewer may read (``None`` = every DAG), so a
record of a DAG the viewer cannot see never leaves the store. What the page makes of the rows is
:mod:`airflow_provider_customerio.ui`'s.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store.engine import read_connection
from airflow_provider_customerio.store.inbox import IN_FLIGHT, PENDING
from airflow_provider_customerio.store.ledger import EXPORT_COLUMNS

PAGE_SIZE = 50
#: The counter scope the webhook receiver writes (see ``webhooks.plugin.COUNTER_SCOPE``).
WEBHOOK_COUNTER_SCOPE = "webhook_receiver"


def _dag_filter(col: sa.ColumnElement[Any], dag_ids: Collection[str] | None) -> sa.ColumnElement[bool] | None:
    if dag_ids is None:
        return None
    return col.in_(sorted(dag_ids)) if dag_ids else sa.false()


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


@dataclass
class RejectPage:
    """One page of the rejected records of a reason, newest first; ``next_before`` continues it."""

    reason: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_before: int | None = None


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


class StatusQueries:
    """The status page's reads, on the store's engine (reads only: on SQLite they do not queue behind writers)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -------------------------------------------------------------------------------------------- runs
    def run_summaries(
        self, capabilities: Sequence[str], dag_ids: Collection[str] | None, *, per_capability: int = 10
    ) -> dict[str, list[dict[str, Any]]]:
        """The latest ``per_capability`` run summaries (rows of ``run_summary``, ``summary`` decoded) of each of
        ``capabilities`` and of any other capability the store has, in that order (index ``(capability,
        finished_at)``); a capability of ``capabilities`` without runs maps to an empty list."""
        t = s.run_summary
        out: dict[str, list[dict[str, Any]]] = {}
        with read_connection(self.engine) as conn:
            found = [r[0] for r in conn.execute(sa.select(t.c.capability).distinct())]
            for cap in [*capabilities, *sorted(set(found) - set(capabilities))]:
                q = sa.select(t).where(t.c.capability == cap)
                flt = _dag_filter(t.c.dag_id, dag_ids)
                if flt is not None:
                    q = q.where(flt)
                q = q.order_by(t.c.finished_at.desc(), t.c.id.desc()).limit(per_capability)
                rows = [{**dict(r), "summary": _json(r["summary"])} for r in conn.execute(q).mappings()]
                if rows or cap in capabilities:
                    out[cap] = rows
        return out

    def provider_dag_ids(self) -> set[str]:
        """The DAGs the store has records of (run summaries, rejected records): the provider's DAGs."""
        with read_connection(self.engine) as conn:
            ids = {r[0] for r in conn.execute(sa.select(s.run_summary.c.dag_id).distinct())}
            ids |= {r[0] for r in conn.execute(sa.select(s.rejected_record.c.dag_id).distinct())}
        return ids

    # ----------------------------------------------------------------------------------------- rejects
    def reject_counts(self, dag_ids: Collection[str] | None) -> dict[str, int]:
        """Rejected records per reason, most first (counted on the ``(dag_id, reason)`` index)."""
        t = s.rejected_record
        q = sa.select(t.c.reason, sa.func.count()).group_by(t.c.dag_id, t.c.reason)
        flt = _dag_filter(t.c.dag_id, dag_ids)
        if flt is not None:
            q = q.where(flt)
        totals: dict[str, int] = {}
        with read_connection(self.engine) as conn:
            for reason, n in conn.execute(q):
                totals[reason] = totals.get(reason, 0) + int(n)
        return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))

    def reject_page(
        self,
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
        with read_connection(self.engine) as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        page = RejectPage(reason, rows[:size])
        if len(rows) > size:
            page.next_before = int(rows[size - 1]["id"])
        for r in page.rows:
            r["identifiers"] = _json(r["identifiers"]) if r["identifiers"] else {}
        return page

    def iter_rejects_csv(
        self, dag_ids: Collection[str] | None, reason: str | None = None, *, batch: int = 1000
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
            with read_connection(self.engine) as conn:
                rows = conn.execute(q.order_by(t.c.id).limit(batch)).mappings().all()
            if not rows:
                return
            buf.seek(0)
            buf.truncate()
            for r in rows:
                writer.writerow({k: r[k] for k in EXPORT_COLUMNS})
            yield buf.getvalue()
            last = int(rows[-1]["id"])

    # ---------------------------------------------------------------------------------------- webhooks
    def webhook_health(self) -> WebhookHealth:
        """Counters of the receiver and, from the inbox, events per status and the oldest not yet forwarded."""
        c = s.counter
        ev = s.webhook_event
        with read_connection(self.engine) as conn:
            counters = {
                r[0]: int(r[1])
                for r in conn.execute(sa.select(c.c.name, c.c.value).where(c.c.scope == WEBHOOK_COUNTER_SCOPE))
            }
            statuses = {
                str(status): int(n)
                for status, n in conn.execute(sa.select(ev.c.status, sa.func.count()).group_by(ev.c.status))
            }
            oldest_q = sa.select(sa.func.min(ev.c.received_at)).where(ev.c.status.in_([PENDING, IN_FLIGHT]))
            value = conn.execute(oldest_q).scalar()
        return WebhookHealth(counters, statuses, float(value) if value is not None else None)

    # ------------------------------------------------------------------------------------ campaign metrics
    def metrics_rows(self, first: date, last: date, *, table: str | None = None) -> list[dict[str, Any]]:
        """The campaign metrics table's rows between two days (the table the metrics task writes in the store)."""
        from airflow_provider_customerio.store.reporting import DEFAULT_TABLE, engine_store

        with engine_store(self.engine, table=table or DEFAULT_TABLE) as store:
            with read_connection(self.engine) as conn:
                if not sa.inspect(conn).has_table(store.table):  # the name as the database holds it
                    return []
            return store.fetch(first.isoformat(), last.isoformat())


__all__ = ["PAGE_SIZE", "WEBHOOK_COUNTER_SCOPE", "RejectPage", "StatusQueries", "WebhookHealth"]
