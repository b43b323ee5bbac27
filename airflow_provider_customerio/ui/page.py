"""The status page's HTML: server-rendered from the store's reads (:mod:`airflow_provider_customerio.store.status`,
:mod:`.queries`; no scripts, no external files), in the style of the campaign report
(:mod:`airflow_provider_customerio.reporting`, whose charts it reuses).

Every figure carries a ``data-figure`` attribute naming it, so tests (and the browser test) read the numbers on
screen without parsing the layout.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlencode

from airflow_provider_customerio.reporting import build_trends, render_chart
from airflow_provider_customerio.store.status import RejectPage, WebhookHealth
from airflow_provider_customerio.ui.queries import RUN_FIGURES, RunRow

TITLE = "Customer.io ↔ Brevo"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px 24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 6px;border-bottom:1px solid #eee}
h3{font-size:14px;margin:14px 0 4px}
.meta{color:#666;font-size:12px}
table{border-collapse:collapse;font-size:12px;margin:4px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}th{background:#f3f3f3}
td.l,th.l{text-align:left}td.msg{text-align:left;white-space:normal;max-width:520px}
.axis,.legend{font-size:11px;fill:#555}
.empty{color:#888;font-size:12px}
nav a{margin-right:12px;font-size:13px}
form{font-size:13px;margin:6px 0}
.bad{color:#b00020}
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


#: Shown for a run figure the run's summary does not have (e.g. deletions of the campaign metrics, which never
#: delete), so an empty cell never hides a missing number.
NOT_IN_SUMMARY = "–"


def _num(name: str, value: int | None, missing: str = "", **attrs: str) -> str:
    extra = "".join(f' data-{k}="{_esc(v)}"' for k, v in attrs.items())
    if value is None and missing:
        return f'<td data-figure="{_esc(name)}"{extra} title="not in this run\'s summary">{_esc(missing)}</td>'
    shown = "" if value is None else f"{value:,}"
    return f'<td data-figure="{_esc(name)}"{extra}>{shown}</td>'


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + " UTC"


def render_runs(runs: Mapping[str, Sequence[RunRow]]) -> str:
    out = ['<h2 id="runs">Recent runs</h2>']
    for cap, rows in runs.items():
        out.append(f'<h3 id="runs-{_esc(cap)}">{_esc(cap)}</h3>')
        if not rows:
            out.append(f'<p class="empty" data-capability="{_esc(cap)}">No run recorded yet.</p>')
            continue
        head = "".join(f"<th>{f}</th>" for f in RUN_FIGURES)
        out.append(
            f'<table data-capability="{_esc(cap)}"><tr><th class="l">Finished</th><th class="l">DAG / run / task</th>'
            f'<th class="l">Window</th>{head}<th class="l">API calls</th><th>Retries</th><th>429s</th>'
            "<th>Duration (s)</th></tr>"
        )
        for r in rows:
            calls = ", ".join(f"{k}: {v:,}" for k, v in r.api_calls.items())
            duration = r.duration_s
            out.append(
                f'<tr data-run="{_esc(r.run_id)}" data-task="{_esc(r.task_id)}">'
                f'<td class="l">{_when(r.finished_at)}</td>'
                f'<td class="l">{_esc(r.dag_id)} / {_esc(r.run_id)} / {_esc(r.task_id)}</td>'
                f'<td class="l">{_esc(r.window)}</td>'
                + "".join(_num(f, r.figure(f), NOT_IN_SUMMARY) for f in RUN_FIGURES)
                + f'<td class="l" data-figure="api_calls">{_esc(calls)}</td>'
                + _num("retries", r.number("retries"), NOT_IN_SUMMARY)
                + _num("rate_limited", r.number("rate_limited", "http_429"), NOT_IN_SUMMARY)
                + f'<td data-figure="duration_s">{NOT_IN_SUMMARY if duration is None else f"{duration:.1f}"}</td></tr>'
            )
        out.append("</table>")
    return "\n".join(out)


def render_rejects(counts: Mapping[str, int], page: RejectPage | None, base: str) -> str:
    total = sum(counts.values())
    out = [
        '<h2 id="rejects">Rejected records</h2>',
        f'<p class="meta">Total: <span data-figure="rejects_total">{total:,}</span> &middot; '
        f'<a href="{base}rejects.csv">download all as CSV</a></p>',
    ]
    if not counts:
        out.append('<p class="empty">No rejected record.</p>')
        return "\n".join(out)
    out.append('<table id="reject-reasons"><tr><th class="l">Reason</th><th>Records</th><th class="l"></th></tr>')
    for reason, n in counts.items():
        q = urlencode({"reason": reason})
        out.append(
            f'<tr data-reason="{_esc(reason)}"><td class="l"><a href="{base}?{q}#rejects">{_esc(reason)}</a></td>'
            f'{_num("rejects", n, reason=reason)}<td class="l"><a href="{base}rejects.csv?{q}">CSV</a></td></tr>'
        )
    out.append("</table>")
    if page is not None:
        out.append(f'<h3 id="reject-records">{_esc(page.reason)}: records (newest first)</h3>')
        if not page.rows:
            out.append('<p class="empty">No record.</p>')
        else:
            out.append(
                '<table id="reject-page"><tr><th class="l">When</th><th class="l">DAG / run / task</th>'
                '<th class="l">Key</th><th class="l">Identifiers</th><th class="l">Stage</th>'
                '<th class="l">Vendor message</th></tr>'
            )
            for r in page.rows:
                ids = ", ".join(f"{k}={v}" for k, v in r["identifiers"].items())
                out.append(
                    f'<tr data-id="{int(r["id"])}"><td class="l">{_esc(r["ts"])}</td>'
                    f'<td class="l">{_esc(r["dag_id"])} / {_esc(r["run_id"])} / {_esc(r["task_id"])}</td>'
                    f'<td class="l" data-figure="record_id">{_esc(r["record_id"])}</td>'
                    f'<td class="l">{_esc(ids)}</td><td class="l">{_esc(r["stage"])}</td>'
                    f'<td class="msg">{_esc(r["message"])}</td></tr>'
                )
            out.append("</table>")
            if page.next_before is not None:
                q = urlencode({"reason": page.reason, "before": page.next_before})
                out.append(f'<p><a id="reject-next" href="{base}?{q}#reject-records">Next page</a></p>')
    return "\n".join(out)


def render_metrics(rows: Sequence[Mapping[str, Any]], first: date, last: date, base: str) -> str:
    out = [
        '<h2 id="metrics">Campaign metrics</h2>',
        f'<form method="get" action="{base}#metrics">From <input type="date" name="from" value="{first.isoformat()}">'
        f' to <input type="date" name="to" value="{last.isoformat()}"> <button type="submit">Show</button></form>',
    ]
    trends = build_trends(rows, first, last)
    if not trends:
        out.append('<p class="empty">No campaign metrics in the table for these days.</p>')
        return "\n".join(out)
    out.append(
        '<table id="campaign-totals"><tr><th class="l">Campaign</th><th>Delivered</th><th>Opened</th>'
        "<th>Clicked</th></tr>"
    )
    for t in trends:
        out.append(
            f'<tr data-campaign="{t.campaign_id}" data-source="{_esc(t.source)}">'
            f'<td class="l">{_esc(t.name)} (#{t.campaign_id}, {_esc(t.source)})</td>'
            + _num("delivered", t.total("delivered"))
            + _num("opened", t.total("opened"))
            + _num("clicked", t.total("clicked"))
            + "</tr>"
        )
    out.append("</table>")
    for t in trends:
        out.append(f'<h3>{_esc(t.name)} <span class="meta">#{t.campaign_id} &middot; {_esc(t.source)}</span></h3>')
        out.append(render_chart(t))
    return "\n".join(out)


def render_webhooks(health: WebhookHealth, now: float) -> str:
    c = health.counters
    age = None if health.oldest_unforwarded_at is None else max(0.0, now - health.oldest_unforwarded_at)
    unforwarded = health.statuses.get("pending", 0) + health.statuses.get("in_flight", 0)
    out = [
        '<h2 id="webhooks">Webhook receiver</h2>',
        '<table id="webhook-health"><tr><th class="l">Figure</th><th>Value</th></tr>',
        f'<tr><td class="l">Received</td>{_num("webhook_received", health.received)}</tr>',
        f'<tr><td class="l">Stored</td>{_num("webhook_stored", c.get("stored", 0))}</tr>',
        f'<tr><td class="l">Duplicates</td>{_num("webhook_duplicate", c.get("duplicate", 0))}</tr>',
        f'<tr><td class="l">Forwarded to Brevo</td>{_num("webhook_forwarded", health.statuses.get("sent", 0))}</tr>',
        f'<tr><td class="l">Not forwarded yet</td>{_num("webhook_unforwarded", unforwarded)}</tr>',
        f'<tr><td class="l">Rejected / skipped</td>'
        f"{_num('webhook_rejected', health.statuses.get('rejected', 0) + health.statuses.get('skipped', 0))}</tr>",
        '<tr><td class="l">Oldest unforwarded event (age, s)</td>'
        f'<td data-figure="webhook_oldest_age_s">{"" if age is None else f"{age:.0f}"}</td></tr>',
    ]
    for reason, n in health.refused.items():
        out.append(f'<tr><td class="l">Refused: {_esc(reason)}</td>{_num("webhook_refused", n, reason=reason)}</tr>')
    out.append("</table>")
    return "\n".join(out)


def render_page(
    *,
    user: str,
    runs: Mapping[str, Sequence[RunRow]],
    reject_counts: Mapping[str, int],
    reject_page: RejectPage | None,
    metrics: Sequence[Mapping[str, Any]],
    first: date,
    last: date,
    health: WebhookHealth,
    store_location: str,
    base: str = "./",
    now: float | None = None,
) -> str:
    """The complete page."""
    now = time.time() if now is None else now
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_esc(TITLE)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{_esc(TITLE)}</h1>",
            f'<p class="meta">Signed in as {_esc(user)} &middot; store: {_esc(store_location)} &middot; '
            f"{_when(now)}</p>",
            '<nav><a href="#runs">Runs</a><a href="#rejects">Rejected records</a><a href="#metrics">Campaign '
            'metrics</a><a href="#webhooks">Webhook receiver</a></nav>',
            render_runs(runs),
            render_rejects(reject_counts, reject_page, base),
            render_metrics(metrics, first, last, base),
            render_webhooks(health, now),
            "</body></html>",
        ]
    )


__all__ = ["NOT_IN_SUMMARY", "TITLE", "render_page"]
