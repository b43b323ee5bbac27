"""Where each person stands in their Customer.io journeys, as Brevo contact attributes.

Every hour the run reads the Customer.io messages created in its data interval (plus ``lookback_hours`` before
it) and the reporting-webhook events stored by ``customerio_events_to_brevo`` (when there are any), and derives
for each person: the last campaign (name and id), the last action, and the last message's state (sent, delivered,
opened, clicked, bounced, ...) with its time. It writes them to the Brevo attributes ``CIO_LAST_CAMPAIGN``,
``CIO_LAST_CAMPAIGN_ID``, ``CIO_LAST_ACTION``, ``CIO_LAST_MESSAGE_STATUS`` and ``CIO_LAST_MESSAGE_AT`` with
import batches, **only for people whose state changed**; an older window (a backfill) never overwrites a newer
state. The attributes must exist in Brevo, or set ``create_missing_attributes``.

Two tasks: ``derive_state`` (pool ``customerio_app``) and ``write_to_brevo`` (pool ``brevo``). People that cannot
be written (no email and no id, an invalid email, an import Brevo rejected) are in the rejected-records ledger
named in each task's result. **Manual runs** without a data interval read the last 24 hours.

**Data-aware option:** set ``CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET=true`` (in the environment of the DAG processor)
and the DAG runs after each people sync instead of hourly, scheduled on the Asset
``customerio://customerio_app_default/people`` (a run without a data interval reads from the last watermark).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.lineage import people_asset
from airflow_provider_customerio.operators.workflow import (
    CustomerIOWorkflowStateOperator,
    CustomerIOWorkflowStateToBrevoOperator,
)
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL, rate_for

#: airflow_provider_customerio.pools: each task holds a slot of the pool of the one API it calls.
APP_HOOK_PARAMS = {"rate_limit": rate_for(CUSTOMERIO_APP_POOL, CUSTOMERIO_APP_POOL)}
BREVO_HOOK_PARAMS = {"rate_limit": rate_for(BREVO_POOL, BREVO_POOL)}

#: Run after each people sync (the people Asset) instead of hourly.
ON_PEOPLE_ASSET = os.environ.get("CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET", "").strip().lower() in ("1", "true", "yes")

with DAG(
    dag_id="customerio_workflow_state_to_brevo",
    # hourly, real [start, end) intervals; or after each people sync (the people Asset)
    schedule=people_asset() if ON_PEOPLE_ASSET else CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # runs compare with what the previous run wrote
    tags=["customerio", "brevo", "workflow"],
    doc_md=__doc__,
    params={
        "lookback_hours": Param(
            24,
            type="integer",
            minimum=0,
            maximum=720,
            title="Lookback (hours)",
            description="Hours of messages re-read before the run's interval, so that recent messages' opens and "
            "clicks update the state. Unchanged people are not written again.",
        ),
    },
) as dag:
    derived = CustomerIOWorkflowStateOperator(
        task_id="derive_state",
        pool=CUSTOMERIO_APP_POOL,
        lookback_hours="{{ params.lookback_hours }}",
        customerio_app_hook_params=APP_HOOK_PARAMS,
    )
    written = CustomerIOWorkflowStateToBrevoOperator(
        task_id="write_to_brevo",
        pool=BREVO_POOL,
        brevo_hook_params=BREVO_HOOK_PARAMS,
    )
    derived >> written
