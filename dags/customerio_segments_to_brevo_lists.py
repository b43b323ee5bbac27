"""Customer.io segments mirrored into Brevo lists, removals included.

**Export one segment from the UI:** trigger with params, e.g. ``segment_id=42``, ``list_id=13``,
``include_attributes=["email", "first_name", "last_name", "plan"]``. Try ``dry_run=true`` first: the run
reports the adds and removes without writing anything.

**Scheduled runs** mirror every pair of ``connectors.customerio.segments.mirror`` in the provider config
(``customerio_config.yaml``), one mapped task per pair. Segments still building are skipped and reported.
A run that would remove more than ``removal_brake`` of a list fails with the numbers; re-trigger it with
``force=true`` if the removal is intended.

**Data-aware option:** set ``CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET=true`` (in the environment of the DAG processor)
and the DAG runs after each people sync instead of hourly: it is scheduled on the Asset
``customerio://customerio_app_default/people`` that the people sync's load task updates (its asset event carries
the sync's summary as ``extra``).

The ``report`` task's result says how many people were exported (``exported``), removed and rejected; people that
could not be mirrored are in the rejected-records ledger named in each pair's summary.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, get_current_context, task

from airflow_provider_customerio.lineage import brevo_uri, people_asset
from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator

#: Run after each people sync (the people Asset) instead of hourly.
ON_PEOPLE_ASSET = os.environ.get("CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET", "").strip().lower() in ("1", "true", "yes")

log = logging.getLogger(__name__)

with DAG(
    dag_id="customerio_segments_to_brevo_lists",
    schedule=people_asset() if ON_PEOPLE_ASSET else "@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs mirroring the same list at once would each see a stale diff
    tags=["customerio", "brevo", "segments"],
    doc_md=__doc__,
    params={
        "segment_id": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Customer.io segment id",
            description="Mirror only this segment (set list_id too). Leave empty to mirror every pair of "
            "connectors.customerio.segments.mirror.",
        ),
        "list_id": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Brevo list id",
            description="The Brevo list that receives the segment (set segment_id too).",
        ),
        "include_attributes": Param(
            [],
            type="array",
            items={"type": "string", "minLength": 1},
            title="Attributes to export",
            description="Customer.io attributes written on the people added to the list, mapped through "
            "connectors.customerio.field_mapping, e.g. email, first_name, last_name, plan. Empty: identity only.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Report the adds and removes without writing anything to Brevo.",
        ),
        "force": Param(
            False,
            type="boolean",
            title="Force removals",
            description="Apply the removals even when they exceed connectors.customerio.segments.removal_brake.",
        ),
    },
) as dag:

    @task(multiple_outputs=True)
    def plan() -> dict[str, Any]:
        """The pairs of this run: the params' pair, or every configured pair."""
        from airflow_provider_customerio.sync.config import load_config
        from airflow_provider_customerio.sync.segments.plan import plan_pairs

        params = get_current_context()["params"]
        manual = params.get("segment_id") is not None or params.get("list_id") is not None
        config = None if manual else load_config().customerio
        if config is not None and not config.sync.segments:
            return {"pairs": [], "note": "connectors.customerio.sync.segments is false: nothing mirrored"}
        pairs = plan_pairs(
            segment_id=params.get("segment_id"),
            list_id=params.get("list_id"),
            include_attributes=params.get("include_attributes") or [],
            dry_run=params.get("dry_run", False),
            force=params.get("force", False),
            mirror=config.segments.mirror if config else None,
            lists=config.lists if config else None,
        )
        return {"pairs": pairs, "note": f"{len(pairs)} pair(s) to mirror"}

    @task(pool="customerio_app")
    def check_segments(pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The pairs whose segment is built. One call lists every segment's state; building ones are skipped."""
        from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
        from airflow_provider_customerio.pools import CUSTOMERIO_APP_POOL, rate_for
        from airflow_provider_customerio.sync.segments.plan import split_by_state

        if not pairs:
            return []
        hook = CustomerIOAppHook(rate_limit=rate_for(CUSTOMERIO_APP_POOL, CUSTOMERIO_APP_POOL))
        states = {int(s["id"]): str(s.get("state") or "") for s in hook.list_segments()}
        ready, building = split_by_state(pairs, states)
        for b in building:
            log.warning("Customer.io segment %s is still building (%s): skipped this run.", b["segment_id"], b["state"])
        return ready

    planned = plan()
    ready = check_segments(planned["pairs"])

    # [START howto_operator_customerio_segment_to_brevo_list]
    mirrored = CustomerIOSegmentToBrevoListOperator.partial(
        task_id="mirror_segment",
        pool="brevo",
        # mapped: the list ids are known at run time only, so the outlet names the account's lists
        outlets=[Asset(brevo_uri("brevo_default", "lists"))],
        map_index_template="segment {{ task.segment_id }} -> list {{ task.list_id }}",
    ).expand_kwargs(ready)
    # [END howto_operator_customerio_segment_to_brevo_list]

    @task(trigger_rule="all_done", multiple_outputs=False)
    def report(
        summaries: Sequence[dict[str, Any] | None] | None,
        pairs: Sequence[dict[str, Any]] | None,
        ready: Sequence[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """The run's result: people exported, removed, rejected, and the segments skipped while building."""
        from airflow_provider_customerio.sync.segments.plan import summarize_runs

        mirrored_pairs = {(p["segment_id"], p["list_id"]) for p in ready or []}
        building = [
            {**p, "state": "building"} for p in pairs or [] if (p["segment_id"], p["list_id"]) not in mirrored_pairs
        ]
        # index by position: iterating a lazy XCom sequence probes one past its end (a logged 404)
        done = [summaries[i] for i in range(len(summaries))] if summaries else []
        result = summarize_runs(done, building)
        log.info(
            "Exported %d people over %d pair(s); removed %d, rejected %d; skipped (building): %s.",
            result["exported"],
            result["mirrored"],
            result["removed"],
            result["rejected"],
            result["skipped_building"] or "none",
        )
        return result

    report(mirrored.output, planned["pairs"], ready)
