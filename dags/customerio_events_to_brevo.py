"""Customer.io events forwarded to Brevo every 5 minutes, where they can trigger automations.

Two sources, one pipeline:

* **Reporting webhooks** (sent, delivered, opened, clicked, bounced, unsubscribed, ...). Customer.io posts them
  to the Airflow api-server, ``POST https://<airflow-api-server>/customerio/webhooks`` (the provider's plugin).
  Each request is signature-checked and durably stored before it is acknowledged.
  Setup: in Customer.io > Data & Integrations > Reporting webhooks, add a webhook with that endpoint URL, then
  copy its signing key into the Airflow connection ``customerio_webhook_default`` (type ``customerio_webhook``,
  key in the password field)::

      airflow connections add customerio_webhook_default --conn-type customerio_webhook \\
          --conn-password '<signing key>'

  The receiver stores the events in the shared sync store (the connection ``customerio_sync_store``), where this
  DAG's task reads them on whichever worker it runs: give every Airflow process that connection when they run on
  different machines (README, "Running on more than one machine").
* **Behavioural events** (``purchase_completed`` ...): the ``event`` activities of the run's data interval, read
  from the App API activity feed.

Names go through ``connectors.customerio.event_mapping`` (e.g. ``purchase_completed: ORDER_PLACED``); unmapped
events are skipped or passed through (``events.unmapped``). Events not forwarded are in the rejected-records
ledger, with their reason. Brevo receives each event once: events are marked forwarded only after Brevo accepted
them, and a run interrupted between the two is reconciled against Brevo before anything is resent.

Manual runs: leave the window empty to read from where the last run stopped (or the last hour), or set
``window_start`` / ``window_end``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator

#: The task holds a ``brevo`` slot (2 slots x 3.5 req/s, dags/pools.json) and reads the App API on the side.
BREVO_HOOK_PARAMS = {"rate_limit": 3.5}
APP_SIDE_HOOK_PARAMS = {"rate_limit": 0.5}

with DAG(
    dag_id="customerio_events_to_brevo",
    # a real 5-minute data interval (a cron string would give zero-width intervals in Airflow 3)
    schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one drain of the outbox at a time
    render_template_as_native_obj=True,
    default_args={"retries": 3, "retry_delay": pendulum.duration(minutes=2)},
    tags=["customerio", "brevo", "events"],
    doc_md=__doc__,
    params={
        "include_activities": Param(
            True,
            type="boolean",
            title="Read behavioural events",
            description="Also read the `event` activities of the window from the Customer.io activity feed. "
            "Stored reporting webhooks are always forwarded.",
        ),
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window start (UTC)",
            description="Manual runs only: start of the behavioural-event window. Empty: the data interval, or "
            "where the last run stopped.",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window end (UTC)",
            description="Manual runs only: end of the behavioural-event window. Empty: the data interval end, or now.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Plan only: count the events that would be sent, skipped or rejected; send and store nothing.",
        ),
    },
) as dag:
    # [START howto_operator_customerio_events_to_brevo]
    forward_events = CustomerIOEventsToBrevoOperator(
        task_id="forward_events",
        pool="brevo",
        include_activities="{{ params.include_activities }}",
        window_start="{{ params.window_start }}",
        window_end="{{ params.window_end }}",
        dry_run="{{ params.dry_run }}",
        # a retry right after a try killed mid-send waits for its in-flight events' grace (60 s) and resolves them
        in_flight_wait_seconds=120,
        brevo_hook_params=BREVO_HOOK_PARAMS,
        customerio_app_hook_params=APP_SIDE_HOOK_PARAMS,
    )
    # [END howto_operator_customerio_events_to_brevo]
