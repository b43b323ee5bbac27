"""A self-contained HTML report of campaign performance: per campaign, the daily trend of delivered, opened and
clicked as an inline SVG line chart, with totals and rates. No dependencies, no scripts, no external files:
the file opens in any browser and can be mailed or attached as is.

The output is deterministic for the same rows (the generation time is an argument), so it can be tested.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

#: The series drawn, with their colours (colour-blind safe palette).
TREND_METRICS: tuple[tuple[str, str], ...] = (
    ("delivered", "#0072B2"),
    ("opened", "#E69F00"),
    ("clicked", "#009E73"),
)
CHART_W, CHART_H = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 16, 40


@dataclass
class CampaignTrend:
    """One campaign's daily values over the report's days (``None`` where no row exists)."""

    campaign_id: int
    name: str
    source: str
    days: list[date]
    values: dict[str, list[int | None]] = field(default_factory=dict)

    def total(self, metric: str) -> int:
        return sum(v for v in self.values.get(metric, []) if v is not None)


def build_trends(rows: Iterable[Mapping[str, Any]], first_day: date, last_day: date) -> list[CampaignTrend]:
    """Group table rows (``campaign_id``, ``name``, ``date``, ``source``, metrics) into one trend per campaign and
    source, with one slot per day from ``first_day`` to ``last_day``."""
    n_days = (last_day - first_day).days + 1
    days = [first_day + timedelta(days=i) for i in range(max(0, n_days))]
    index = {d.isoformat(): i for i, d in enumerate(days)}
    trends: dict[tuple[int, str], CampaignTrend] = {}
    for row in rows:
        pos = index.get(str(row["date"])[:10])
        if pos is None:
            continue
        key = (int(row["campaign_id"]), str(row.get("source") or ""))
        trend = trends.get(key)
        if trend is None:
            trend = trends[key] = CampaignTrend(
                key[0],
                str(row.get("name") or f"campaign {key[0]}"),
                key[1],
                days,
                {m: [None] * len(days) for m, _ in TREND_METRICS},
            )
        if row.get("name"):
            trend.name = str(row["name"])  # rows are ordered by date: the latest name wins
        for metric, _ in TREND_METRICS:
            value = row.get(metric)
            trend.values[metric][pos] = int(value) if value is not None else None
    return [trends[k] for k in sorted(trends)]


def _nice_max(value: int) -> int:
    if value <= 0:
        return 1
    magnitude: int = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _rate(num: int, den: int) -> str:
    return f"{100.0 * num / den:.1f}%" if den else "n/a"


def _line_segments(values: list[int | None], x: Callable[[int], float], y: Callable[[int], float]) -> list[list[str]]:
    """The polyline point lists of one series: a missing day breaks the line rather than drawing a false zero."""
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, v in enumerate(values):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    return segments


def render_chart(trend: CampaignTrend) -> str:
    """An inline ``<svg>`` line chart of the trend (one polyline per metric, a point per day with a tooltip)."""
    n = len(trend.days)
    top = _nice_max(max((v for vals in trend.values.values() for v in vals if v is not None), default=0))
    plot_w = CHART_W - PAD_L - PAD_R
    plot_h = CHART_H - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return PAD_T + plot_h - plot_h * v / top

    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" '
        f'viewBox="0 0 {CHART_W} {CHART_H}" role="img" '
        f'aria-label="{esc(trend.name)}: delivered, opened and clicked per day">',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for k in range(5):  # horizontal grid with labels
        tick = top * k // 4
        yy = y(tick)
        parts.append(f'<line x1="{PAD_L}" y1="{yy:.1f}" x2="{PAD_L + plot_w}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{yy + 4:.1f}" text-anchor="end" class="axis">{tick:,}</text>')
    label_every = max(1, (n + 7) // 8)
    for i, d in enumerate(trend.days):
        if i % label_every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{CHART_H - PAD_B + 16}" text-anchor="middle" class="axis">'
                f"{d.strftime('%m-%d')}</text>"
            )
    for metric, colour in TREND_METRICS:
        values = trend.values.get(metric, [])
        for seg in _line_segments(values, x, y):
            parts.append(
                f'<polyline class="series-{metric}" fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(seg)}"/>'
            )
        for i, v in enumerate(values):
            if v is not None:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                    f"<title>{esc(metric)} {trend.days[i].isoformat()}: {v:,}</title></circle>"
                )
    lx = PAD_L
    for metric, colour in TREND_METRICS:
        parts.append(f'<rect x="{lx}" y="{CHART_H - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14}" y="{CHART_H - 5}" class="legend">{esc(metric)}</text>')
        lx += 100
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin:28px 0 6px}
.meta{color:#666;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.axis,.legend{font-size:11px;fill:#555}
section{page-break-inside:avoid}
"""


def render_report(
    trends: Sequence[CampaignTrend],
    *,
    title: str,
    first_day: date,
    last_day: date,
    generated_at: str = "",
    note: str = "",
) -> str:
    """The complete HTML document."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">Days {first_day.isoformat()} to {last_day.isoformat()}'
        + (f" &middot; generated {esc(generated_at)}" if generated_at else "")
        + (f" &middot; {esc(note)}" if note else "")
        + "</p>",
    ]
    if not trends:
        out.append('<p class="empty">No campaign metrics in the table for these days.</p>')
    else:
        out.append(
            "<table><tr><th>Campaign</th><th>Delivered</th><th>Opened</th><th>Clicked</th>"
            "<th>Open rate</th><th>Click rate</th></tr>"
        )
        for t in trends:
            d, o, c = t.total("delivered"), t.total("opened"), t.total("clicked")
            out.append(
                f"<tr><td>{esc(t.name)} (#{t.campaign_id})</td><td>{d:,}</td><td>{o:,}</td><td>{c:,}</td>"
                f"<td>{_rate(o, d)}</td><td>{_rate(c, d)}</td></tr>"
            )
        out.append("</table>")
    for t in trends:
        out.append(f'<section id="campaign-{t.campaign_id}">')
        out.append(f'<h2>{esc(t.name)} <span class="meta">#{t.campaign_id} &middot; {esc(t.source)}</span></h2>')
        out.append(render_chart(t))
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(path: str | os.PathLike[str], document: str) -> Path:
    """Write the document atomically (a reader never sees half a file); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(document, encoding="utf-8")
    os.replace(tmp, target)
    return target


__all__ = [
    "CampaignTrend",
    "TREND_METRICS",
    "build_trends",
    "render_chart",
    "render_report",
    "write_report",
]
