"""Customer.io objects (companies, accounts, ...) -> Brevo custom objects, with their people as associated contacts.

**Off by default.** The run is skipped (the first task short-circuits, saying why) until
``connectors.customerio.sync.objects: true`` in the provider config (``customerio_config.yaml``). Configure each
object type under ``connectors.customerio.objects.types``::

    objects:
      types:
        "1":                               # Customer.io object_type_id (GET /v1/object_types)
          brevo_object_type: companies     # the Brevo custom object type
          field_mapping: {name: name, plan: plan, employees: employees}   # Customer.io key -> Brevo key

**Create the Brevo side first.** Brevo creates custom object types and their attributes only in its UI, and drops
unknown attribute keys silently. ``check_brevo_object_types`` fails before anything is written, naming each type
(and its attribute keys) to create; an attribute key missing on an existing type is detected after the first write
and fails the run naming the key (the objects are then written again by the next run).

Each daily run compares every object of the configured types with what the last run wrote: changed objects are
upserted (``ext_id`` = the Customer.io ``object_id``), people newly related are linked, people no longer related
are unlinked. People who are not Brevo contacts yet (the people sync has not written them) are listed in the
rejected-records ledger and linked by a later run. Re-running a day gives the same end state; a killed run
resumes. The run reads a full snapshot, so it needs no data interval: scheduled and manual runs behave the same.
Try ``dry_run=true`` first.

**Reverse direction** (param ``reverse=true``): Brevo records that come from elsewhere (not written by this sync)
are written to Customer.io as objects of the configured type, their associated contacts as relationships (Track
v2 object ``identify`` with ``cio_relationships``; the field mapping inverted). Such objects then belong to Brevo:
the Customer.io -> Brevo direction leaves them alone. Relationships are only added (Brevo lists at most 5
associated contacts per record).
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.operators.objects import (
    BrevoObjectsToCustomerIOOperator,
    CustomerIOObjectsToBrevoOperator,
)

#: dags/pools.json: the sync holds a ``customerio_app`` slot (2 App calls per object); its Brevo calls (upserts and
#: process polls in Brevo's 100/hour bucket, contact look-ups) are side calls.
APP_HOOK_PARAMS = {"rate_limit": 3.5}
BREVO_SIDE_HOOK_PARAMS = {"rate_limit": 0.5}
#: The reverse task holds a ``customerio_track`` slot (Track v2 batches); its Brevo reads are side calls.
TRACK_HOOK_PARAMS = {"rate_limit": 20.0}
log = logging.getLogger(__name__)

with DAG(
    dag_id="customerio_objects_to_brevo",
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),  # daily, real [start, end) intervals
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs would race on the same objects' sync state
    tags=["customerio", "brevo", "objects"],
    doc_md=__doc__,
    params={
        "object_type_ids": Param(
            [],
            type="array",
            items={"type": "string", "pattern": "^[0-9]+$"},
            title="Customer.io object type ids",
            description='Sync only these Customer.io object types (ids as in GET /v1/object_types, e.g. "1"). '
            "Empty: every type of connectors.customerio.objects.types.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Read and compare, count what would be created or updated, write nothing.",
        ),
        "reverse": Param(
            False,
            type="boolean",
            title="Reverse direction",
            description="Also write Brevo records that come from elsewhere (not from Customer.io) to Customer.io as "
            "objects, their associated contacts as relationships (Track v2 object identify with cio_relationships).",
        ),
    },
) as dag:

    @task.short_circuit
    def objects_enabled() -> bool:
        """Skip the run while ``connectors.customerio.sync.objects`` is false (the default)."""
        from airflow_provider_customerio.sync.config import load_config

        enabled = load_config().customerio.sync.objects
        if not enabled:
            log.warning(
                "connectors.customerio.sync.objects is false: the object sync is off, nothing to do. Set it "
                "to true in the provider config (customerio_config.yaml) to run it."
            )
        return enabled

    @task(pool="brevo")
    def check_brevo_object_types() -> dict[str, Any]:
        """Fail fast, naming what to create, when a configured Brevo custom object type is missing."""
        from airflow_provider_customerio.adapters.objects import BrevoObjectSink
        from airflow_provider_customerio.hooks.brevo import BrevoHook
        from airflow_provider_customerio.sync.config import load_config
        from airflow_provider_customerio.sync.objects.plan import check_brevo_types, configured_plans
        from airflow_provider_customerio.sync.objects.ports import ObjectSyncError

        wanted = set(get_current_context()["params"].get("object_type_ids") or [])
        plans = [p for p in configured_plans(load_config().customerio) if not wanted or p.type_id in wanted]
        if not plans:
            raise ObjectSyncError(
                "connectors.customerio.objects.types has no entry to sync (or none of the "
                "object_type_ids param): add one per Customer.io object type."
            )
        probes = check_brevo_types(plans, BrevoObjectSink(BrevoHook(rate_limit=3.5)))
        return {t: {"records": p.count} for t, p in probes.items()}

    # [START howto_operator_customerio_objects_to_brevo]
    sync = CustomerIOObjectsToBrevoOperator(
        task_id="sync_objects_to_brevo",
        pool="customerio_app",
        object_type_ids="{{ params.object_type_ids | join(',') }}",
        dry_run="{{ params.dry_run }}",
        app_hook_params=APP_HOOK_PARAMS,
        brevo_hook_params=BREVO_SIDE_HOOK_PARAMS,
        deferrable=True,
        process_timeout=6 * 3600,  # Brevo's /processes allows 100 calls/hour: the trigger polls sparingly
        poll_interval=30.0,
    )
    # [END howto_operator_customerio_objects_to_brevo]

    @task.short_circuit
    def reverse_enabled() -> bool:
        """Run the reverse direction only when the ``reverse`` param is set."""
        return bool(get_current_context()["params"].get("reverse"))

    reverse = BrevoObjectsToCustomerIOOperator(
        task_id="sync_brevo_objects_to_customerio",
        pool="customerio_track",
        object_type_ids="{{ params.object_type_ids | join(',') }}",
        dry_run="{{ params.dry_run }}",
        track_hook_params=TRACK_HOOK_PARAMS,
        brevo_hook_params=BREVO_SIDE_HOOK_PARAMS,
    )

    objects_enabled() >> check_brevo_object_types() >> sync >> reverse_enabled() >> reverse
