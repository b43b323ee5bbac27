"""Operator syncing Customer.io objects and their relationships into Brevo custom objects.

Thin: the constructor assigns, :meth:`CustomerIOObjectsToBrevoOperator.execute` builds the hooks, wraps them in
the ports of :mod:`airflow_provider_customerio.sync.objects` and delegates. The wait for Brevo's upsert processes
is deferrable (:class:`~airflow_provider_customerio.triggers.brevo.BrevoProcessTrigger`) with a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.brevo import BrevoObjectSink, BrevoRecordSource
from airflow_provider_customerio.adapters.brevo_imports import process_state
from airflow_provider_customerio.adapters.customerio_app import CustomerIOObjectSource
from airflow_provider_customerio.adapters.customerio_track import CustomerIOObjectWriter
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import skip
from airflow_provider_customerio.runs.context import run_task_ids
from airflow_provider_customerio.runs.lease import sync_lease
from airflow_provider_customerio.runs.settings import default_deferrable, load_customerio_config, open_sync_store
from airflow_provider_customerio.runs.summary import record_summary
from airflow_provider_customerio.runs.values import as_bool, as_ids
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.sync.objects import (
    ObjectSync,
    ReverseObjectSync,
)
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout, poll_delays
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class CustomerIOObjectsToBrevoOperator(LineageMixin, BaseOperator):
    """Sync Customer.io objects (companies, accounts, ...) and their relationships to people into Brevo custom
    objects associated with the right contacts.

    Types and field maps come from ``connectors.customerio.objects.types`` in the provider config; the task is
    skipped while ``connectors.customerio.sync.objects`` is false. Every configured Brevo object type must exist
    (Brevo creates them only in its UI): a missing one fails the task before anything is written, naming what to
    create. Relationships removed in Customer.io are unlinked in Brevo. Re-running gives the same end state; a
    killed task resumes from its checkpoint. Returns the run summary (read, created, updated, unchanged,
    rejected, links_added, links_removed, ledger, ...).

    :param object_type_ids: restrict to these Customer.io object type ids (templated; default all configured).
    :param object_filters: ``POST /v1/objects`` filter per type id (default: every object of the type).
    :param dry_run: read and compare only, write nothing (templated).
    :param config_path: the provider's YAML config (templated); default ``$CUSTOMERIO_PROVIDER_CONFIG`` or
        ``customerio_config.yaml`` in the DAGs folder.
    :param customerio_app_conn_id: Customer.io App API connection.
    :param brevo_conn_id: Brevo connection.
    :param state_path: the embedded SQLite store, used when the store connection does not exist (templated);
        default ``connectors.customerio.people.state_path``, else
        ``$AIRFLOW_HOME/customerio_sync/state.db``.
    :param max_records: records per Brevo upsert call (at most 1000).
    :param max_bytes: body bytes per Brevo upsert call (at most 1 MB).
    :param process_timeout: seconds to wait for the upsert processes before failing (records stay pending; a
        retry resumes the wait).
    :param poll_interval: first interval between process polls (``/processes`` has a 100/hour budget).
    :param deferrable: wait in the triggerer instead of holding a worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param app_hook_params: extra keyword arguments of the App hook (e.g. ``rate_limit``).
    :param brevo_hook_params: extra keyword arguments of the Brevo hook.
    """

    lineage_capability = "objects"
    template_fields: Sequence[str] = (
        "object_type_ids",
        "dry_run",
        "config_path",
        "state_path",
        "customerio_app_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        object_type_ids: Sequence[str] | str | None = None,
        object_filters: Mapping[str, Any] | None = None,
        dry_run: bool | str = False,
        config_path: str | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        state_path: str | None = None,
        max_records: int = 1000,
        max_bytes: int = 1024 * 1024,
        process_timeout: float = 3600.0,
        poll_interval: float = 10.0,
        deferrable: bool | None = None,
        app_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_type_ids = object_type_ids
        self.object_filters = dict(object_filters or {})
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.config_path = config_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.state_path = state_path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.process_timeout = process_timeout
        self.poll_interval = poll_interval
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.app_hook_params = dict(app_hook_params or {})
        self.brevo_hook_params = dict(brevo_hook_params or {})

        declare_outlets(self, "objects")

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(self.customerio_app_conn_id, **self.app_hook_params)

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return BrevoHook(self.brevo_conn_id, **self.brevo_hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        """Check, read, write; then wait (deferred or blocking) and finish."""
        sync, store = self._sync(context)
        with sync_lease(store, "objects:forward", context):
            dry_run = as_bool(self.dry_run, "dry_run")
            pending = sync.run(dry_run=dry_run)
            out = self._wait_or_finish(sync, pending, time.time() + self.process_timeout)
        record_summary(store, "objects", context, self.task_id, out)
        return out

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the trigger: handle the finished processes, defer again for resubmissions, or finish."""
        sync, store = self._sync(context)
        with sync_lease(store, "objects:forward", context):
            out = self._complete(sync, event)
        record_summary(store, "objects", context, self.task_id, out)
        return out

    def _complete(self, sync: ObjectSync, event: dict[str, Any]) -> dict[str, Any]:
        sync.attach()
        processes = event.get("processes") or {}
        pending = sync.complete(process_state(pid, body) for pid, body in processes.items())
        status = event.get("status")
        if status == "error":
            raise BrevoProcessTimeout(
                f"Waiting for Brevo object upserts failed: {event.get('message')}. The records stay "
                "pending: re-run the task to resume waiting."
            )
        end_time = float(event.get("end_time") or sync.checkpoint_value("end_time") or 0)
        if pending and (status == "timeout" or time.time() >= end_time):
            raise BrevoProcessTimeout(
                f"Brevo object upsert process(es) {', '.join(pending)} not finished after "
                f"{self.process_timeout:.0f} s. The records stay pending: re-run the task to resume "
                "waiting (raise process_timeout if Brevo is slow).",
                pending,
            )
        return self._wait_or_finish(sync, pending, end_time)

    # ------------------------------------------------------------------------------------------ helpers

    def _wait_or_finish(self, sync: ObjectSync, pending: list[str], end_time: float) -> dict[str, Any]:
        if pending and self.deferrable:
            sync.remember("end_time", end_time)
            sync.close_ledger()
            self.defer(
                trigger=BrevoProcessTrigger(
                    process_ids=pending,
                    brevo_conn_id=self.brevo_conn_id,
                    end_time=end_time,
                    poll_interval=self.poll_interval,
                    hook_params=self.brevo_hook_params,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=max(60.0, end_time - time.time() + 300)),
            )
        if pending:
            sync.wait(timeout=max(0.0, end_time - time.time()), delays=poll_delays(initial=self.poll_interval))
        result = sync.finish()
        self.log.info(
            "Object sync: %s",
            {
                k: result.get(k)
                for k in ("read", "created", "updated", "unchanged", "rejected", "links_added", "links_removed")
            },
        )
        return result

    def _sync(self, context: Context | Mapping[str, Any]) -> tuple[ObjectSync, SyncStore]:
        config = load_customerio_config(self.config_path)
        if not config.sync.objects:
            skip("connectors.customerio.sync.objects is false")
        store = open_sync_store(config, self.state_path)
        dag_id, run_id, task_id = run_task_ids(context, self.task_id)
        run_key = f"{dag_id}/{run_id}/{task_id}"
        state = store.state()
        cp = state.get_checkpoint(run_key)
        ledger = store.ledger(
            dag_id, run_id, task_id, truncate_to=int(cp["ledger_offset"]) if cp and "ledger_offset" in cp else None
        )
        sync = ObjectSync(
            config=config,
            source=CustomerIOObjectSource(self.app_hook, self.object_filters),
            sink=BrevoObjectSink(self.brevo_hook),
            state=state,
            objects=store.objects(),
            ledger=ledger,
            run_key=run_key,
            type_ids=as_ids(self.object_type_ids),
            max_records=int(self.max_records),
            max_bytes=int(self.max_bytes),
        )
        return sync, store


class BrevoObjectsToCustomerIOOperator(LineageMixin, BaseOperator):
    """The reverse direction: Brevo custom object records that come from elsewhere -> Customer.io objects, with
    their associated contacts as relationships (Track v2 object ``identify`` with ``cio_relationships``).

    Uses the types of ``connectors.customerio.objects.types`` with each ``field_mapping`` inverted; skipped while
    ``connectors.customerio.sync.objects`` is false. Records written by the Customer.io -> Brevo direction are
    skipped (no echo), and the objects written here are left alone by that direction. Relationships are only
    added (Brevo lists at most 5 associated contacts per record). Returns the run summary.

    :param object_type_ids: restrict to these Customer.io object type ids (templated).
    :param dry_run: count only, write nothing (templated).
    :param config_path: the provider's YAML config (templated).
    :param customerio_track_conn_id: Customer.io Track API connection.
    :param brevo_conn_id: Brevo connection.
    :param state_path: the embedded SQLite store (templated); default as for the forward direction.
    :param track_hook_params: extra keyword arguments of the Track hook (e.g. ``rate_limit``).
    :param brevo_hook_params: extra keyword arguments of the Brevo hook.
    """

    lineage_capability = "objects_reverse"
    template_fields: Sequence[str] = (
        "object_type_ids",
        "dry_run",
        "config_path",
        "state_path",
        "customerio_track_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        object_type_ids: Sequence[str] | str | None = None,
        dry_run: bool | str = False,
        config_path: str | None = None,
        customerio_track_conn_id: str = CustomerIOTrackHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        state_path: str | None = None,
        track_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_type_ids = object_type_ids
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.config_path = config_path
        self.customerio_track_conn_id = customerio_track_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.state_path = state_path
        self.track_hook_params = dict(track_hook_params or {})
        self.brevo_hook_params = dict(brevo_hook_params or {})

        declare_outlets(self, "objects_reverse")

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the Brevo records and write the new or changed ones to Customer.io."""
        config = load_customerio_config(self.config_path)
        if not config.sync.objects:
            skip("connectors.customerio.sync.objects is false")
        store = open_sync_store(config, self.state_path)
        dag_id, run_id, task_id = run_task_ids(context, self.task_id)
        sync = ReverseObjectSync(
            config=config,
            source=BrevoRecordSource(BrevoHook(self.brevo_conn_id, **self.brevo_hook_params)),
            writer=CustomerIOObjectWriter(CustomerIOTrackHook(self.customerio_track_conn_id, **self.track_hook_params)),
            state=store.state(),
            objects=store.objects(),
            ledger=store.ledger(dag_id, run_id, task_id),
            type_ids=as_ids(self.object_type_ids),
        )
        with sync_lease(store, "objects:reverse", context):
            result = sync.run(dry_run=as_bool(self.dry_run, "dry_run"))
        record_summary(store, "objects_reverse", context, self.task_id, result)
        self.log.info(
            "Reverse object sync: %s",
            {k: result.get(k) for k in ("read", "created", "updated", "unchanged", "echoes", "rejected")},
        )
        return result


__all__ = ["BrevoObjectsToCustomerIOOperator", "CustomerIOObjectsToBrevoOperator"]
