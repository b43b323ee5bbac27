"""The "Customer.io ↔ Brevo" page in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright) logs in to ``airflow standalone``, opens the page from Airflow's own UI (the plugin's external view)
and reads the figures on screen, which must equal the store's. A screenshot is kept as a test artifact
(``$TEST_ARTIFACTS_DIR``, default ``test-artifacts/`` in the repository).

The store's figures come from two real DAG runs (segment mirror, campaign metrics) against the sandbox, plus a few
rejected records written to the store's ledger so the drill-down has rows to show.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

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


@pytest.fixture(scope="module")
def populated(airflow_stack, parsed_dags):
    """Run the segment mirror and the campaign metrics for real; add three ledger rows; return the store."""
    from airflow_provider_customerio.store import SyncStore

    stack = airflow_stack
    now = datetime.now(timezone.utc).isoformat()
    runs = {
        "customerio_segments_to_brevo_lists": ("ui_page_segments", {"segment_id": 1, "list_id": 13}),
        "customerio_campaign_metrics": ("ui_page_metrics", {"lookback_days": 7}),
    }
    for dag_id, (run_id, conf) in runs.items():
        stack.unpause(dag_id)
        stack.api_ok(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": now, "dag_run_id": run_id, "conf": conf},
        )
    for dag_id, (run_id, _) in runs.items():
        assert stack.wait_run(dag_id, run_id, timeout=900) == "success", dag_id
        stack.api_ok("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})
    store = SyncStore.at(stack.home / "customerio_sync" / "state.db")
    with store.ledger("customerio_segments_to_brevo_lists", "ui_page_segments", "mirror_segment") as led:
        for i in range(3):
            led.reject(
                record_id=f"cio_ui_{i}",
                reason="invalid_email",
                message=f"email 'person{i}@' is not an address (fix it in Customer.io)",
                stage="map",
                identifiers={"email": f"person{i}@"},
            )
    return store


def test_status_page_in_chromium_shows_the_store_figures(airflow_stack, populated):
    from airflow_provider_customerio.ui import queries

    sync_playwright = _browser_or_skip()
    stack = airflow_stack
    # no session, no data: the page's own app answers 401 before the browser even logs in
    anon = requests.get(f"{stack.api_url}/customerio-brevo/api/status", timeout=30)
    assert anon.status_code == 401 and "cio_ui_" not in anon.text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
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

            engine = populated.engine
            runs = queries.recent_runs(engine, None)
            counts = queries.reject_counts(engine, None)
            today = date.today()
            metrics = queries.metrics_rows(engine, today - timedelta(days=13), today)
            health = queries.webhook_health(engine)

            # recent runs: the segment mirror's latest run, figure by figure
            seg = runs["segments"][0]
            row = frame.locator('table[data-capability="segments"] tr[data-run]').first
            assert row.get_attribute("data-run") == seg.run_id
            for name in queries.RUN_FIGURES:
                shown = row.locator(f'[data-figure="{name}"]').inner_text()
                expected = seg.figure(name)
                assert shown.replace(",", "") == ("" if expected is None else str(expected)), name
            # rejected records: the total, per reason, and the drill-down's rows
            assert _num(frame.locator('[data-figure="rejects_total"]').inner_text()) == sum(counts.values())
            for reason, n in counts.items():
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
            totals: dict[tuple[int, str], int] = {}
            for r in metrics:
                key = (int(r["campaign_id"]), str(r["source"]))
                totals[key] = totals.get(key, 0) + int(r.get("delivered") or 0)
            assert totals, "the campaign metrics run wrote rows"
            for (campaign_id, source), delivered in totals.items():
                cell = frame.locator(
                    f'tr[data-campaign="{campaign_id}"][data-source="{source}"] [data-figure="delivered"]'
                )
                assert _num(cell.inner_text()) == delivered, (campaign_id, source)
            assert frame.locator("svg").count() >= 1
            # webhook receiver health
            assert _num(frame.locator('[data-figure="webhook_received"]').inner_text()) == health.received
            assert _num(frame.locator('[data-figure="webhook_forwarded"]').inner_text()) == health.statuses.get(
                "sent", 0
            )
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
