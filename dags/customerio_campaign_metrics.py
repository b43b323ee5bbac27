"""Customer.io campaign performance, by day, in a reporting table, with an HTML report.

Every day the run reads the metrics of each campaign for its data interval (the previous UTC day) plus the
``lookback_days`` days before it, because opens and clicks arrive late, and upserts one row per campaign and day
into the table ``connectors.customerio.campaigns.table`` (default ``customerio_campaign_metrics``) of the SQL
connection ``connectors.customerio.campaigns.sql_conn_id``; without one, in the shared sync store (the connection
``customerio_sync_store``, else its SQLite file under ``$AIRFLOW_HOME``). Rows are keyed by (campaign_id, date,
source) and only changed rows are written: re-runs and ``airflow backfill create`` over a past range fill each
day exactly once.

One mapped task per campaign, in the ``customerio_app`` pool: the App API allows 10 requests/s for the whole
workspace. The last task keeps the report ``customerio_campaign_metrics_<day>.html`` in the sync store: per
campaign, the trend of delivered, opened and clicked (inline SVG charts, no external files).

**Manual runs** without a data interval read the last complete UTC day (plus the lookback).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.operators.campaigns import (
    CustomerIOCampaignMetricsOperator,
    CustomerIOCampaignReportOperator,
    CustomerIOListCampaignsOperator,
)
from airflow_provider_customerio.pools import CUSTOMERIO_APP_POOL, rate_for

#: airflow_provider_customerio.pools: a task holding a `customerio_app` slot may use its share of the App API.
APP_HOOK_PARAMS = {"rate_limit": rate_for(CUSTOMERIO_APP_POOL, CUSTOMERIO_APP_POOL)}

with DAG(
    dag_id="customerio_campaign_metrics",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),  # daily, real [day, next day) intervals
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,  # runs only upsert their own days: overlapping lookbacks converge to the same rows
    render_template_as_native_obj=True,  # params keep their JSON types (a list stays a list)
    tags=["customerio", "campaigns", "reporting"],
    doc_md=__doc__,
    params={
        "campaign_ids": Param(
            None,
            type=["null", "array"],
            items={"type": "integer", "minimum": 1},
            title="Campaign ids",
            description="Only these Customer.io campaigns, e.g. [3, 7]. Empty: every campaign of the workspace.",
        ),
        "lookback_days": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=45,
            title="Lookback (days)",
            description="Days re-read before the run's day, for late opens and clicks. Empty: "
            "connectors.customerio.campaigns.lookback_days (default 3).",
        ),
        "report_days": Param(
            30,
            type="integer",
            minimum=1,
            maximum=366,
            title="Report days",
            description="Days shown in the HTML report, ending on the run's day.",
        ),
    },
) as dag:
    campaigns = CustomerIOListCampaignsOperator(
        task_id="list_campaigns",
        pool=CUSTOMERIO_APP_POOL,
        campaign_ids="{{ params.campaign_ids }}",
        customerio_app_hook_params=APP_HOOK_PARAMS,
    )

    # [START howto_operator_customerio_campaign_metrics]
    metrics = CustomerIOCampaignMetricsOperator.partial(
        task_id="load_metrics",
        pool=CUSTOMERIO_APP_POOL,
        # mapped: the outlet is declared here (the metrics table in the sync store)
        outlets=[Asset("customerio-sync-store://customerio_sync_store/customerio_campaign_metrics")],
        lookback_days="{{ params.lookback_days }}",
        customerio_app_hook_params=APP_HOOK_PARAMS,
        map_index_template="campaign {{ task.campaign['id'] }}",
    ).expand(campaign=campaigns.output)
    # [END howto_operator_customerio_campaign_metrics]

    report = CustomerIOCampaignReportOperator(
        task_id="render_report",
        campaign_ids="{{ params.campaign_ids }}",
        report_days="{{ params.report_days }}",
    )

    metrics >> report
