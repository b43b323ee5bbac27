"""What each campaign task does over fake ports: the selection of items, one item's load (a deleted campaign is
ledgered), the summary, the report's length and the rendered report."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from airflow_provider_customerio.exceptions import NotFoundError
from airflow_provider_customerio.sync.campaign_runs import (
    campaign_report,
    load_item_metrics,
    metrics_summary,
    report_days,
    select_report_items,
)
from airflow_provider_customerio.sync.campaigns import CampaignMetricsError, metrics_window

NOW = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)


class Catalog:
    def list_campaigns(self) -> list[dict[str, Any]]:
        return [{"id": 1, "name": "Welcome"}, {"id": 2, "name": "Promo"}]

    def list_newsletters(self) -> list[dict[str, Any]]:
        return [{"id": 7, "name": "News"}]

    def list_broadcasts(self) -> list[dict[str, Any]]:
        return [{"id": 9, "name": "Blast"}]


class Ledger:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def reject(self, **row: Any) -> None:
        self.rows.append(row)


def test_the_selection_follows_include_and_wanted_ids() -> None:
    every = select_report_items(Catalog(), None, ("campaigns", "newsletters", "broadcasts"))
    assert [(i["id"], i.get("kind", "campaign")) for i in every] == [
        (1, "campaign"),
        (2, "campaign"),
        (7, "newsletter"),
        (9, "broadcast"),
    ]
    assert [i["id"] for i in select_report_items(Catalog(), [2], ("newsletters",))] == [2]  # campaigns only
    assert select_report_items(Catalog(), None, ("broadcasts",)) == [{"id": 9, "name": "Blast", "kind": "broadcast"}]
    with pytest.raises(CampaignMetricsError, match="campaign_ids"):
        select_report_items(Catalog(), [5], ("campaigns",))


def test_a_campaign_deleted_since_the_list_task_is_ledgered_not_failed() -> None:
    def gone(*_a: Any, **_k: Any) -> Any:
        raise NotFoundError("no such campaign", status=404, api="customerio_app")

    window = metrics_window(None, None, lookback_days=0, now=NOW)
    ledger = Ledger()
    result = load_item_metrics(
        (4, "Old", "campaign"),
        fetch_series=gone,
        store=None,  # type: ignore[arg-type]  # never reached
        window=window,
        version=2,
        now=NOW,
        ledger=ledger,  # type: ignore[arg-type]
        dry_run=False,
    )
    assert result.rejected == 1 and result.inserted == 0
    assert [(r["reason"], r["identifiers"]) for r in ledger.rows] == [("not_found", {"campaign_id": 4})]
    out = metrics_summary(result, (4, "Old", "campaign"), dry_run=True)
    assert (
        out["name"] == "Old" and out["kind"] == "campaign" and out["plan"] == {"creates": 0, "updates": 0, "deletes": 0}
    )
    assert "plan" not in metrics_summary(result, (4, "Old", "campaign"), dry_run=False)


@pytest.mark.parametrize(("value", "days"), [("30", 30), (1, 1), (" 366 ", 366)])
def test_report_days_accepts_whole_days_up_to_a_year(value: Any, days: int) -> None:
    assert report_days(value) == days


@pytest.mark.parametrize("value", ["0", "367", "a week", None])
def test_report_days_names_the_param(value: Any) -> None:
    with pytest.raises(CampaignMetricsError, match="report_days"):
        report_days(value)


def test_the_report_covers_its_days_and_names_itself_after_the_last_one() -> None:
    class Rows:
        def fetch(self, first: str, last: str, campaign_ids: Any = None) -> list[dict[str, Any]]:
            self.asked = (first, last, campaign_ids)
            return [
                {"campaign_id": 1, "name": "Welcome", "date": "2026-03-09", "delivered": 10, "opened": 4, "clicked": 1}
            ]

    rows = Rows()
    report = campaign_report(rows, [1], last_day=date(2026, 3, 9), days=7, note="table t", now=NOW)
    assert rows.asked == ("2026-03-03", "2026-03-09", [1])
    assert report.name == "customerio_campaign_metrics_2026-03-09.html" and report.campaigns == 1
    assert report.first_day == date(2026, 3, 3) and "Welcome" in report.document and "table t" in report.document


def test_the_metrics_job_opens_the_table_once_and_finishes_with_the_ledger() -> None:
    from contextlib import contextmanager

    from airflow_provider_customerio.sync.campaign_runs import CampaignMetricsJob

    opened: list[str] = []

    class Table:
        def ensure_table(self) -> None:
            opened.append("ensure")

    @contextmanager
    def table() -> Any:
        opened.append("open")
        yield Table()
        opened.append("closed")

    class RunLedger(Ledger):
        key, closed = "d/r/campaign_4", False

        @property
        def total(self) -> int:
            return len(self.rows)

        def close(self) -> None:
            self.closed = True

    def gone(*_a: Any, **_k: Any) -> Any:
        raise NotFoundError("no such campaign", status=404, api="customerio_app")

    ledger = RunLedger()
    window = metrics_window(None, None, lookback_days=0, now=NOW)
    load = {"fetch_series": gone, "window": window, "version": 2, "now": NOW, "dry_run": False}
    job = CampaignMetricsJob(
        (4, "Old", "campaign"), table=table, table_name="t", ledger=ledger, load=load, api_calls=lambda: 3
    )
    assert list(job.run()) == [] and opened == ["open", "ensure", "closed"] and ledger.closed
    out = job.finish()
    assert (out["rejected"], out["table"], out["api_calls"], out["ledger"]) == (1, "t", 3, "d/r/campaign_4")


def test_campaign_settings_and_lookback_take_the_operator_values_over_the_config() -> None:
    from airflow_provider_customerio.sync.campaign_runs import campaign_lookback_days, campaign_settings
    from airflow_provider_customerio.sync.config import CampaignSettings, CustomerIOConfig

    config = CustomerIOConfig(campaigns=CampaignSettings(lookback_days=5, sql_conn_id="pg", table="t1"))
    assert campaign_settings(config, sql_conn_id=None, table=None) == CampaignSettings(5, "pg", "t1")
    assert campaign_settings(config, sql_conn_id="other", table="t2") == CampaignSettings(5, "other", "t2")
    assert [campaign_lookback_days(v, config) for v in (None, "", "None", "2", 0)] == [5, 5, 5, 2, 0]
    with pytest.raises(CampaignMetricsError, match="lookback_days"):
        campaign_lookback_days("-1", config)
