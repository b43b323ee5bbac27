"""A task run's summary: kept in the sync store (the status page reads it), put on the task's asset events and kept
for OpenLineage."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_customerio.runs.context import run_ids, task_key
from airflow_provider_customerio.store.sync_store import SyncStore

log = logging.getLogger(__name__)


def record_summary(
    store: SyncStore, capability: str, context: Mapping[str, Any], task_id: str, summary: Mapping[str, Any]
) -> None:
    """Keep the task run's summary in the store (the status page reads it), put it on the task's asset events
    (``extra``) and keep it for OpenLineage; never fails the task."""
    from airflow_provider_customerio.lineage import SUMMARY_ATTR, emit_asset_events

    dag_id, run_id, map_index = run_ids(context)
    summary = {**summary, "capability": capability} if "capability" not in summary else summary
    if "duration_s" not in summary:
        start = getattr(context.get("ti") if isinstance(context, Mapping) else None, "start_date", None)
        if isinstance(start, datetime):
            start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
            summary = {**summary, "duration_s": round((datetime.now(timezone.utc) - start).total_seconds(), 1)}
    try:
        store.record_summary(capability, dag_id, run_id, task_key(task_id, map_index), summary)
    except Exception as exc:  # the sync itself succeeded: a summary is not worth failing it
        import logging

        logging.getLogger(__name__).warning("Could not record the run summary in the sync store: %s", exc)
    if isinstance(context, Mapping):
        emit_asset_events(context, summary)
        task = context.get("task")
        if task is not None:
            with contextlib.suppress(Exception):
                setattr(task, SUMMARY_ATTR, dict(summary))


__all__ = ["record_summary"]
