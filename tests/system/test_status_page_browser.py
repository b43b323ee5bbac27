"""The "Customer.io ↔ Brevo" page in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright) logs in to ``airflow standalone``, opens the page from Airflow's own UI (the plugin's external view)
and reads the figures on screen. A screenshot is kept as a test artifact (``$TEST_ARTIFACTS_DIR``, default
``test-artifacts/`` in the repository); ``docs/img/status-page.png`` is that screenshot.

The data is the demo's kind (``scripts/demo.py``): real DAG runs against the sandbox (people, segment mirror,
events, campaign metrics), plus a few rejected records written to the store's ledger so the drill-down has rows.
The expected figures do not come from the page's own queries (``ui.queries``): the run rows from the runs' XCom
summaries through Airflow's REST API (cross-checked with the sandbox's state), the rejected records and the
metrics from plain SQL on the store's tables. Every run figure cell must show a number (or the "not in the
summary" mark where the test itself expects none).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.system

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO_ROOT / "test-artifacts")


def _browser_or_skip():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the Python package playwright is not installed (the test extra has it)")
    return sync_playwright


def _num(text: str) -> int:
    return int(text.replace(",", "").strip() or 0)


#: The demo's runs (scripts/demo.py DEMO_RUNS), one at a time: (dag id, run id, conf).
DEMO_RUNS = [
    ("customerio_people_to_brevo", "ui_page_people", {"mode": "full"}),
    ("customerio_segments_to_brevo_lists", "ui_page_segments", {"segment_id": 1, "list_id": 13}),
    ("customerio_events_to_brevo", "ui_page_events", {}),
    ("customerio_campaign_metrics", "ui_page_metrics", {"lookback_days": 7}),
]
#: Per capability, where each figure of a run row is in that task's XCom summary (the test's own reading of the
#: summaries; ``None``: the capability has no such figure, and the page must say so with its mark).
XCOM_FIGURES: dict[str, dict[str, str | None]] = {
    "people": {
        "read": "read",
        "created": "created",
        "updated": "updated",
        "unchanged": "unchanged",
        "deleted": "deleted",
        "rejected": "rejected",
    },
    "segments": {
        "read": "segment_size",
        "created": "added",
        "updated": "lifecycle_updated",
        "unchanged": "unchanged",
        "deleted": "removed",
        "rejected": "rejected",
    },
    "events": {
        "read": "read",
        "created": "created",
        "updated": "updated",
        "unchanged": "unchanged",
        "deleted": "deleted",
        "rejected": "rejected",
    },
    "campaign_metrics": {
        "read": "days_read",
        "created": "inserted",
        "updated": "updated",
        "unchanged": "unchanged",
        "deleted": None,  # the metrics table is only upserted
        "rejected": "rejected",
    },
}


@pytest.fixture(scope="module")
def populated(airflow_stack, parsed_dags):
    """Run the demo's DAGs for real, one after the other; add three ledger rows; return the store's file."""
    from airflow_provider_customerio.store.sync_store import SyncStore

    stack = airflow_stack
    for dag_id, run_id, conf in DEMO_RUNS:
        stack.unpause(dag_id)
        stack.api_ok(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": datetime.now(timezone.utc).isoformat(), "dag_run_id": run_id, "conf": conf},
        )
        assert stack.wait_run(dag_id, run_id, timeout=900) == "success", dag_id
        stack.api_ok("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})
    path = stack.home / "customerio_sync" / "state.db"
    store = SyncStore.at(path)
    with store.ledger("customerio_segments_to_brevo_lists", "ui_page_segments", "mirror_segment") as led:
        for i in range(3):
            led.reject(
                record_id=f"cio_ui_{i}",
                reason="invalid_email",
                message=f"email 'person{i}@' is not an address (fix it in Customer.io)",
                stage="map",
                identifiers={"email": f"person{i}@"},
            )
    return path


def _sql(path: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Plain SQL on the store's file (not the page's queries)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return list(conn.execute(query, params))


def _expected_runs(stack) -> dict[tuple[str, str], tuple[str, dict[str, int | None]]]:
    """``(run id, task key) -> (capability, figure -> value)`` of our runs' sync tasks, from their XCom."""
    out: dict[tuple[str, str], tuple[str, dict[str, int | None]]] = {}
    tasks = {
        "customerio_people_to_brevo": ("people", "load_brevo_contacts"),
        "customerio_segments_to_brevo_lists": ("segments", "mirror_segment"),
        "customerio_events_to_brevo": ("events", "forward_events"),
        "customerio_campaign_metrics": ("campaign_metrics", "load_metrics"),
    }
    for dag_id, run_id, _ in DEMO_RUNS:
        capability, task_id = tasks[dag_id]
        for ti in stack.task_instances(dag_id, run_id):
            if ti["task_id"] != task_id:
                continue
            summary = stack.xcom(dag_id, run_id, task_id, ti["map_index"])
            key = f"{task_id}.{ti['map_index']}" if ti["map_index"] >= 0 else task_id
            names = XCOM_FIGURES[capability]
            out[(run_id, key)] = (
                capability,
                {figure: None if name is None else int(summary[name]) for figure, name in names.items()},
            )
            if capability == "segments":
                _cross_check_segment(stack, summary)
    return out


def _cross_check_segment(stack, summary: dict[str, Any]) -> None:
    """The segment mirror's XCom against the sandbox: the segment's size, the list's members after the run."""
    segment = stack.control("GET", f"/state/customerio/segments/{summary['segment']}")
    assert segment["count"] == summary["segment_size"], (segment["count"], summary)
    contacts = stack.control("GET", "/brevo/contacts")["contacts"]
    in_list = [c for c in contacts if summary["list"] in (c.get("listIds") or [])]
    assert len(in_list) == summary["list_size_after"], (len(in_list), summary)


def test_status_page_in_chromium_shows_the_runs_figures(airflow_stack, populated):
    from airflow_provider_customerio.ui.page import NOT_IN_SUMMARY

    sync_playwright = _browser_or_skip()
    stack = airflow_stack
    # no session, no data: the page's own app answers 401 before the browser even logs in
    anon = requests.get(f"{stack.api_url}/customerio-brevo/api/status", timeout=30)
    assert anon.status_code == 401 and "cio_ui_" not in anon.text

    expected_runs = _expected_runs(stack)
    assert {cap for cap, _ in expected_runs.values()} == set(XCOM_FIGURES), expected_runs
    reject_counts = dict(_sql(populated, "SELECT reason, COUNT(*) FROM rejected_record GROUP BY reason"))
    today = date.today()
    delivered = {
        (int(c), str(src)): int(n)
        for c, src, n in _sql(
            populated,
            "SELECT campaign_id, source, SUM(COALESCE(delivered, 0)) FROM customerio_campaign_metrics "
            "WHERE date BETWEEN ? AND ? GROUP BY campaign_id, source",
            (today - timedelta(days=13)).isoformat(),
            today.isoformat(),
        )
    }
    assert delivered and any(delivered.values()), "the campaign metrics run wrote rows with deliveries"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 2000, "height": 1800})
            page.goto(f"{stack.api_url}/", wait_until="domcontentloaded")
            page.wait_for_selector("input[name=username]", timeout=60_000)  # Airflow's login page
            page.fill("input[name=username]", stack.username)
            page.fill("input[name=password]", stack.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
            page.goto(f"{stack.api_url}/plugin/customerio-brevo", wait_until="domcontentloaded")
            frame = page.frame_locator("iframe").first
            frame.locator("h1").wait_for(timeout=60_000)
            assert "Customer.io" in frame.locator("h1").inner_text()
            frame.locator('[data-figure="rejects_total"]').wait_for()
            meta = frame.locator("p.meta").first.inner_text()
            assert "store: SQLite file (embedded: no connection customerio_sync_store)" in meta, meta
            assert str(stack.home) not in frame.locator("body").inner_text()

            # recent runs: each of our runs' sync tasks, figure by figure, every cell filled
            for (run_id, task), (capability, figures) in expected_runs.items():
                row = frame.locator(
                    f'table[data-capability="{capability}"] tr[data-run="{run_id}"][data-task="{task}"]'
                )
                assert row.count() == 1, (capability, run_id, task)
                for name, value in figures.items():
                    shown = row.locator(f'[data-figure="{name}"]').inner_text().strip()
                    assert shown, (capability, task, name)
                    assert shown.replace(",", "") == (NOT_IN_SUMMARY if value is None else str(value)), (
                        capability,
                        task,
                        name,
                        shown,
                        value,
                    )
            # rejected records: the total, per reason, and the drill-down's rows
            assert _num(frame.locator('[data-figure="rejects_total"]').inner_text()) == sum(reject_counts.values())
            for reason, n in reject_counts.items():
                cell = frame.locator(f'[data-figure="rejects"][data-reason="{reason}"]')
                assert _num(cell.inner_text()) == n, reason
            # the drill-down: the reason's link reloads the page in Airflow's frame
            page_frame = next(f for f in page.frames if "/customerio-brevo/" in f.url)
            frame.locator('tr[data-reason="invalid_email"] a').first.click()
            page_frame.wait_for_url("**/customerio-brevo/?reason=invalid_email*")
            page_frame.wait_for_load_state("domcontentloaded")
            frame.locator('[data-figure="record_id"]').first.wait_for()
            shown_ids = frame.locator('[data-figure="record_id"]').all_inner_texts()
            assert {"cio_ui_0", "cio_ui_1", "cio_ui_2"} <= set(shown_ids)
            # campaign metrics: per campaign totals over the default 14 days
            for (campaign_id, source), n in delivered.items():
                cell = frame.locator(
                    f'tr[data-campaign="{campaign_id}"][data-source="{source}"] [data-figure="delivered"]'
                )
                assert _num(cell.inner_text()) == n, (campaign_id, source)
            assert frame.locator("svg").count() >= 1
            # webhook receiver health: this tier sends the receiver nothing
            assert frame.locator('[data-figure="webhook_received"]').inner_text().strip() == "0"
            frame.locator("h1").scroll_into_view_if_needed()
            shot = ARTIFACTS / "status-page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            # the CSV download is there for the logged-in user
            csv_text = page.evaluate(
                "async (u) => (await fetch(u, {credentials: 'include'})).text()",
                f"{stack.api_url}/customerio-brevo/rejects.csv?reason=invalid_email",
            )
            assert re.search(r"cio_ui_2", csv_text)
        finally:
            browser.close()
