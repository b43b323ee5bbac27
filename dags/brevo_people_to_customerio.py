"""Brevo contacts -> Customer.io people, every hour, without echoes.

Each hourly run reads the Brevo contacts changed in its data interval (``modifiedSince``, pages of 1000, the
interval's end enforced on ``modifiedAt``), maps them back through ``connectors.customerio.field_mapping`` and writes
them to Customer.io with Track v2 batches. It shares its state database with ``customerio_people_to_brevo``:

* what that sync wrote to Brevo is not written back (echo suppression), and a contact merely touched by a list
  (Brevo bumps its ``modifiedAt``) writes nothing;
* a person changed on both sides in the same hour is resolved by ``connectors.customerio.reverse.conflict_policy``
  (**default ``customerio_wins``**; or ``brevo_wins``, ``newest_wins``); the summary lists each resolution;
* attributes are written with the current time, never with a historical timestamp: Customer.io silently ignores
  updates older than its latest edit, so a backfill would otherwise do nothing;
* records that cannot be written (identity clashes, vendor rejections) are in the rejected-records ledger named in
  the summary, each with its reason.

**Manual runs** may have no data interval: give ``since`` (e.g. ``2026-01-01``), or ``mode=full`` to re-read every
contact; without either, the run continues from the end of the last synced window. Try ``dry_run=true`` first.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.operators.reverse import BrevoToCustomerIOPeopleOperator

with DAG(
    dag_id="brevo_people_to_customerio",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),  # real [start, end) hourly intervals
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs would race on the same people's sync state
    tags=["customerio", "brevo", "people"],
    doc_md=__doc__,
    params={
        "mode": Param(
            "incremental",
            type="string",
            enum=["incremental", "full"],
            title="Mode",
            description="incremental: the contacts changed in the data interval (or since `since`); full: every "
            "Brevo contact (first load; unchanged and echoed contacts are still skipped).",
        ),
        "since": Param(
            None,
            type=["null", "string"],
            title="Since (manual runs)",
            description="Start of the window for a manual run, YYYY-MM-DD or an ISO date-time (UTC). Empty: the "
            "data interval, or for a run without one, the end of the last synced window.",
        ),
        "conflict_policy": Param(
            None,
            type=["null", "string"],
            enum=[None, "customerio_wins", "brevo_wins", "newest_wins"],
            title="Conflict policy",
            description="Who wins when a person changed on both sides in the window. Empty: "
            "connectors.customerio.reverse.conflict_policy (default customerio_wins).",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Decide and count (would-write, echoes, conflicts) without writing to Customer.io.",
        ),
    },
) as dag:

    @task(pool="brevo")
    def check_brevo_attributes() -> dict[str, Any]:
        """Fail fast, naming them, when attributes of field_mapping are missing in Brevo (one Brevo call)."""
        from airflow_provider_customerio.hooks.brevo import BrevoHook
        from airflow_provider_customerio.pools import BREVO_POOL, rate_for
        from airflow_provider_customerio.sync.config import load_config
        from airflow_provider_customerio.sync.mapping import BrevoAttribute, check_mapping

        config = load_config().customerio
        hook = BrevoHook(rate_limit=rate_for(BREVO_POOL, BREVO_POOL))
        attributes = [BrevoAttribute.from_api(a) for a in hook.list_attributes()]
        missing = check_mapping(config.field_mapping, attributes)
        if missing:
            names = ", ".join(f"{f.target} (from Customer.io `{f.source}`)" for f in missing)
            raise ValueError(
                f"Brevo has no attribute {names}. Create it in Brevo (Contacts > Settings > Contact attributes) or "
                "remove it from connectors.customerio.field_mapping."
            )
        return {"mapped_attributes": len(config.field_mapping)}

    # [START howto_operator_brevo_people_to_customerio]
    sync = BrevoToCustomerIOPeopleOperator(
        task_id="sync_brevo_contacts_to_customerio",
        pool="customerio_track",
        mode="{{ params.mode }}",
        since="{{ params.since or '' }}",
        conflict_policy="{{ params.conflict_policy or '' }}",
        dry_run="{{ params.dry_run }}",
        # hook rates default to this pool's budget for Track and the side-slot rate for Brevo and the App API
        # (airflow_provider_customerio/pools.py)
    )
    # [END howto_operator_brevo_people_to_customerio]

    check_brevo_attributes() >> sync
