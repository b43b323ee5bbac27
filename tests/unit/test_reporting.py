"""The HTML campaign report: grouping, the inline SVG chart, escaping, determinism, atomic write."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

from airflow_provider_customerio.reporting import build_trends, render_chart, render_report, write_report

SVG = "{http://www.w3.org/2000/svg}"


def rows() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for d, (dl, op, cl) in zip((20, 21, 22), ((100, 40, 5), (200, 80, 10), (150, 60, 6))):
        out.append(
            {
                "campaign_id": 1,
                "name": "Onboarding <A&B>",
                "date": f"2026-11-{d}",
                "source": "campaign:v2:UTC",
                "delivered": dl,
                "opened": op,
                "clicked": cl,
            }
        )
    out.append(
        {
            "campaign_id": 2,
            "name": "Digest",
            "date": "2026-11-21",
            "source": "campaign:v2:UTC",
            "delivered": 10,
            "opened": None,
            "clicked": 1,
        }
    )
    out.append(
        {
            "campaign_id": 2,
            "name": "Digest",
            "date": "2026-10-01",
            "source": "campaign:v2:UTC",
            "delivered": 999,
            "opened": 1,
            "clicked": 1,
        }
    )  # outside the report's days
    return out


def test_trends_have_one_slot_per_day_and_none_for_missing_days() -> None:
    t = build_trends(rows(), date(2026, 11, 20), date(2026, 11, 22))
    assert [x.campaign_id for x in t] == [1, 2]
    assert t[0].values["delivered"] == [100, 200, 150] and t[0].total("opened") == 180
    assert t[1].values["delivered"] == [None, 10, None] and t[1].values["opened"] == [None, None, None]


def test_chart_is_valid_svg_with_three_series_and_a_point_per_value() -> None:
    t = build_trends(rows(), date(2026, 11, 20), date(2026, 11, 22))
    svg = ET.fromstring(render_chart(t[0]))
    lines = svg.findall(f"{SVG}polyline")
    assert sorted(p.get("class") for p in lines) == ["series-clicked", "series-delivered", "series-opened"]
    delivered = next(p for p in lines if p.get("class") == "series-delivered").get("points").split()
    ys = [float(p.split(",")[1]) for p in delivered]
    assert ys[1] < ys[2] < ys[0]  # 200 is drawn highest, 100 lowest (SVG y grows downwards)
    titles = [c.find(f"{SVG}title").text for c in svg.findall(f"{SVG}circle")]
    assert "delivered 2026-11-21: 200" in titles and len(titles) == 9


def test_missing_days_break_the_line_instead_of_drawing_zero() -> None:
    t = build_trends(rows(), date(2026, 11, 20), date(2026, 11, 22))
    svg = ET.fromstring(render_chart(t[1]))
    assert [p.get("class") for p in svg.findall(f"{SVG}polyline")] == ["series-delivered", "series-clicked"]


def test_report_is_self_contained_escaped_and_deterministic(tmp_path: Path) -> None:
    t = build_trends(rows(), date(2026, 11, 20), date(2026, 11, 22))
    doc = render_report(
        t,
        title="Campaigns",
        first_day=date(2026, 11, 20),
        last_day=date(2026, 11, 22),
        generated_at="2026-11-23T00:00:00+00:00",
    )
    assert doc == render_report(
        t,
        title="Campaigns",
        first_day=date(2026, 11, 20),
        last_day=date(2026, 11, 22),
        generated_at="2026-11-23T00:00:00+00:00",
    )
    assert "Onboarding &lt;A&amp;B&gt;" in doc and "<A&B>" not in doc
    assert "<script" not in doc and "http://" not in doc.replace("http://www.w3.org/2000/svg", "")
    assert "<td>450</td><td>180</td><td>21</td><td>40.0%</td><td>4.7%</td>" in doc
    assert doc.count("<svg") == 2
    path = write_report(tmp_path / "r" / "report.html", doc)
    assert path.read_text(encoding="utf-8") == doc and not list((tmp_path / "r").glob("*.tmp"))


def test_empty_report_says_so() -> None:
    doc = render_report([], title="Campaigns", first_day=date(2026, 11, 20), last_day=date(2026, 11, 22))
    assert "No campaign metrics" in doc and "<svg" not in doc
