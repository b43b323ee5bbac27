"""Customer.io people -> Brevo contacts, every hour, over the run's data interval.

**Scheduled runs** are incremental: the people changed in the data interval (read from the App API activity
feed, then hydrated 100 per call) are mapped through ``connectors.customerio.field_mapping`` and imported into
Brevo, added to the list ``lists.all_contacts``. People whose content did not change since the last sync are
skipped, so a re-run writes nothing. Deleted people follow ``people.delete_policy``; unsubscribed people are
imported as ``emailBlacklisted``.

**Backfills**: ``airflow backfill create --dag-id customerio_people_to_brevo --from-date ... --to-date ...
--max-active-runs 1`` syncs each past interval (the activity feed keeps about 30 days).

**Manual runs**: ``mode=full`` syncs everyone (from a people export); ``since=2024-01-01`` syncs the people
changed since then; ``dry_run=true`` reads and maps but writes nothing. A manual run without a logical date
and without ``since`` continues from the last synced watermark, or fails asking for ``since``.

Two tasks, one per rate-limited API and pool: ``extract_customerio_people`` (pool ``customerio_app``) reads and
maps; ``load_brevo_contacts`` (pool ``brevo``) imports and waits for Brevo's import processes in the
triggerer. Rejected people are rows of the sync store's rejected-records ledger (table ``rejected_record``), under
the ledger key the summary names (XCom of the load task), each with its reason; ``python -m
airflow_provider_customerio.store export-rejects --run-id <run id>`` writes them to JSONL or CSV.

Attributes are written with the current time: Brevo keeps no per-value timestamps, and the reverse direction
must likewise never send a historical ``_timestamp`` to Customer.io (it would be silently ignored).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.notify import LogNotifier, on_failure, on_reject_threshold
from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator

with DAG(
    dag_id="customerio_people_to_brevo",
    # Real hourly windows: in Airflow 3 a cron string or preset gives zero-width intervals.
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs at once would compare against the same content hashes
    tags=["customerio", "brevo", "people"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "mode": Param(
            "incremental",
            type="string",
            enum=["incremental", "full"],
            title="Mode",
            description="incremental: people changed in the window; full: everyone (a people export).",
        ),
        "since": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?$",
            title="Since",
            description="Manual incremental runs: start of the window, YYYY-MM-DD or an ISO date-time (UTC if no "
            "offset). Empty: the run's data interval.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Read and map, count what would be written, write nothing to Brevo.",
        ),
    },
) as dag:
    # [START howto_operator_customerio_people_to_brevo]
    # Failures and reject-threshold breaches go through an Airflow notifier: swap LogNotifier for e.g.
    # SlackNotifier(slack_conn_id="slack", channel="#sync", text="{{ customerio.headline }}") or SmtpNotifier.
    notifier = LogNotifier()
    extract = CustomerIOToBrevoPeopleOperator(
        task_id="extract_customerio_people",
        step="extract",
        mode="{{ params.mode }}",
        since="{{ params.since }}",
        dry_run="{{ params.dry_run }}",
        pool="customerio_app",
        on_failure_callback=on_failure(notifier),
    )
    load = CustomerIOToBrevoPeopleOperator(
        task_id="load_brevo_contacts",
        step="load",
        mode="{{ params.mode }}",
        since="{{ params.since }}",
        dry_run="{{ params.dry_run }}",
        deferrable=True,
        pool="brevo",
        on_failure_callback=on_failure(notifier),
        # more than 5% of the people read rejected (invalid emails, Brevo refusals): tell someone
        on_success_callback=on_reject_threshold(notifier, max_rate=0.05),
    )
    extract >> load
    # [END howto_operator_customerio_people_to_brevo]


if __name__ == "__main__":
    dag.test()
