"""The status page's HTML (``ui/page.py``): figures carry ``data-figure``; text is escaped."""

from __future__ import annotations

import re
from datetime import date

from airflow_provider_customerio.store.status import RejectPage, WebhookHealth
from airflow_provider_customerio.ui.page import render_page
from airflow_provider_customerio.ui.queries import RunRow


def _figures(html: str, name: str) -> list[str]:
    return re.findall(rf'data-figure="{name}"[^>]*>([^<]*)<', html)


def test_the_page_shows_the_figures_and_escapes_text():
    html = render_page(
        user="ada",
        runs={"people": [RunRow("people", "dag_p", "run<1>", "t", 1000.0, {"read": 1200, "created": 3})]},
        reject_counts={"invalid_email": 2},
        reject_page=RejectPage(
            "invalid_email",
            [
                {
                    "id": 1,
                    "ts": "t",
                    "dag_id": "dag_p",
                    "run_id": "r",
                    "task_id": "t",
                    "record_id": "<script>",
                    "stage": "map",
                    "message": "m",
                    "identifiers": {},
                }
            ],
        ),
        metrics=[],
        first=date(2026, 1, 1),
        last=date(2026, 1, 31),
        health=WebhookHealth({"stored": 4}, {"pending": 1}, 900.0),
        store_location="sqlite:///x.db",
        now=1000.0,
    )
    assert _figures(html, "read") == ["1,200"]
    assert _figures(html, "rejects_total") == ["2"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "run&lt;1&gt;" in html
    assert _figures(html, "webhook_oldest_age_s") == ["100"]
