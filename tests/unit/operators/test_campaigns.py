"""The campaign operators with real Airflow operator objects against a mocked App API (requests-mock) and an SQLite
reporting table: listing, one day of metrics loaded once (a re-run writes nothing), a deleted campaign, the
report."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.operators.campaigns import (
    CustomerIOCampaignMetricsOperator,
    CustomerIOCampaignReportOperator,
    CustomerIOListCampaignsOperator,
)

APP = "https://api.customer.io/v1"


@pytest.fixture
def common(airflow_conn: Any, tmp_path: Path) -> dict[str, Any]:
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="k")
    config = tmp_path / "c.yaml"
    config.write_text("connectors:\n  customerio:\n    campaigns: {include: [campaigns]}\n")
    return {
        "config_path": str(config),
        "state_path": str(tmp_path / "s.db"),
        "customerio_app_hook_params": {"rate_limit": 0},
    }


def _context(run_id: str = "r1") -> dict[str, Any]:
    return {
        "dag_run": SimpleNamespace(dag_id="d", run_id=run_id),
        "data_interval_start": pendulum.datetime(2026, 3, 9, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 3, 10, tz="UTC"),
    }


def test_the_list_operator_returns_the_campaigns_and_creates_the_table(common, requests_mock) -> None:
    requests_mock.get(f"{APP}/campaigns", json={"campaigns": [{"id": 1, "name": "Welcome"}, {"id": 2, "name": "X"}]})
    op = CustomerIOListCampaignsOperator(task_id="list", **common)
    assert [c["id"] for c in op.execute(context=_context())] == [1, 2]  # type: ignore[arg-type]
    only = CustomerIOListCampaignsOperator(task_id="list", campaign_ids="2", **common)
    assert [c["id"] for c in only.execute(context=_context())] == [2]  # type: ignore[arg-type]


def test_the_list_operator_skips_when_switched_off(common, tmp_path: Path) -> None:
    Path(common["config_path"]).write_text("connectors:\n  customerio:\n    sync: {campaigns: false}\n")
    with pytest.raises(AirflowSkipException, match="sync.campaigns is false"):
        CustomerIOListCampaignsOperator(task_id="list", **common).execute(context=_context())  # type: ignore[arg-type]


def test_metrics_load_once_and_a_rerun_writes_nothing(common, requests_mock) -> None:
    series = {"sent": [10, 12], "delivered": [9, 11], "opened": [3, 4], "clicked": [1, 2]}
    requests_mock.get(f"{APP}/campaigns/1/metrics", json={"metric": {"series": series}})
    op = CustomerIOCampaignMetricsOperator(
        task_id="m", campaign={"id": 1, "name": "Welcome"}, lookback_days=1, **common
    )
    first = op.execute(context=_context())  # type: ignore[arg-type]
    assert (first["inserted"], first["updated"], first["rejected"], first["ledger"]) == (2, 0, 0, None)
    again = op.execute(context=_context("r2"))  # type: ignore[arg-type]
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert (
        again["name"] == "Welcome" and again["kind"] == "campaign" and again["table"] == "customerio_campaign_metrics"
    )


def test_a_campaign_deleted_since_listing_is_ledgered(common, requests_mock) -> None:
    requests_mock.get(f"{APP}/campaigns/4/metrics", status_code=404, json={"errors": [{"detail": "not found"}]})
    op = CustomerIOCampaignMetricsOperator(task_id="m", campaign=4, **common)
    out = op.execute(context=_context())  # type: ignore[arg-type]
    assert out["rejected"] == 1 and out["ledger"] and out["inserted"] == 0


def test_the_report_covers_its_days_and_is_kept_in_the_store(common, requests_mock, tmp_path: Path) -> None:
    op = CustomerIOCampaignReportOperator(task_id="r", report_days="7", report_dir=str(tmp_path / "out"), **common)
    out = op.execute(context=_context())  # type: ignore[arg-type]
    assert out["report"] == "customerio_campaign_metrics_2026-03-09.html" and out["first_day"] == "2026-03-03"
    assert Path(out["path"]).is_file() and out["campaigns"] == 0
