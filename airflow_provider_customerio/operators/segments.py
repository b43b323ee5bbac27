"""Operator mirroring one Customer.io segment into one Brevo list.

The operator is thin: it resolves its arguments, builds the two hooks, wraps them in the ports that
:mod:`airflow_provider_customerio.sync.segments` expects, and delegates. The diff, the removal brake, the dry run
and the chunking live in the sync module, free of Airflow and HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.brevo_imports import BrevoImports, import_process_state
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.adapters.customerio_app import CustomerIOSegmentSource
from airflow_provider_customerio.adapters.segments import BrevoListTarget
from airflow_provider_customerio.exceptions import ProcessTimeoutError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    as_bool,
    brevo_import_slots,
    default_deferrable,
    load_customerio_config,
    open_sync_store,
    pool_hook_params,
    record_summary,
    run_ids,
    skip,
    sync_lease,
    task_key,
)
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.segments.mirror import SegmentMirror
from airflow_provider_customerio.sync.segments.model import mirror_request
from airflow_provider_customerio.sync.segments.ports import ledger_sink
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class CustomerIOSegmentToBrevoListOperator(LineageMixin, BaseOperator):
    """Mirror a Customer.io segment into a Brevo list: add the missing people, remove the leavers.

    Segments still building are skipped (and reported); a run that would remove more than
    ``connectors.customerio.segments.removal_brake`` of the list fails unless ``force`` is set; ``dry_run``
    reports the adds and removes without writing. Returns a small summary (segment, list, added, removed,
    unchanged, skipped_building, rejected, dry_run, api_calls, ...).

    :param segment_id: Customer.io segment id (templated).
    :param list_id: Brevo list id (templated).
    :param include_attributes: Customer.io attributes written on added people, mapped through
        ``connectors.customerio.field_mapping`` (templated; a list or a comma-separated string).
    :param dry_run: report only, write nothing (templated).
    :param force: remove beyond the removal brake (templated).
    :param state_path: the embedded SQLite sync store, used when the store connection does not exist
        (templated); default ``connectors.customerio.people.state_path``, else
        ``$AIRFLOW_HOME/customerio_sync/state.db``.
    :param config_path: the provider's YAML config; default: ``$CUSTOMERIO_PROVIDER_CONFIG`` or
        ``customerio_config.yaml`` in the DAGs folder (templated).
    :param customerio_app_conn_id: Customer.io App API connection.
    :param brevo_conn_id: Brevo connection.
    :param import_timeout: seconds to wait for one Brevo import process.
    :param import_check_interval: first interval between polls of a Brevo import process.
    :param customerio_app_hook_params: keyword arguments of the App API hook (default: the rate this task's
        pool allows, see :mod:`airflow_provider_customerio.pools`).
    :param brevo_hook_params: keyword arguments of the Brevo hook (default: the rate of this task's pool).
    :param deferrable: wait for each Brevo import in the triggerer instead of in the worker (default: Airflow's
        ``[operators] default_deferrable``).
    """

    lineage_capability = "segments"
    template_fields: Sequence[str] = (
        "segment_id",
        "list_id",
        "include_attributes",
        "dry_run",
        "force",
        "config_path",
        "state_path",
        "customerio_app_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#7ed3c4"

    def __init__(
        self,
        *,
        segment_id: int | str,
        list_id: int | str,
        include_attributes: Sequence[str] | str | None = None,
        dry_run: bool | str = False,
        force: bool | str = False,
        config_path: str | None = None,
        state_path: str | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        import_timeout: float = 3600.0,
        import_check_interval: float = 5.0,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.segment_id = segment_id
        self.list_id = list_id
        self.include_attributes = include_attributes
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.force = force
        self.config_path = config_path
        self.state_path = state_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.import_timeout = import_timeout
        self.import_check_interval = import_check_interval
        self.customerio_app_hook_params = customerio_app_hook_params
        self.brevo_hook_params = brevo_hook_params

        declare_outlets(self, "segments")

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(
            self.customerio_app_conn_id,
            **pool_hook_params(self.customerio_app_hook_params, CUSTOMERIO_APP_POOL, self.pool),
        )

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return BrevoHook(self.brevo_conn_id, **pool_hook_params(self.brevo_hook_params, BREVO_POOL, self.pool))

    def execute(self, context: Context) -> dict[str, Any]:
        """Mirror the segment and return the run summary (may defer while Brevo processes an import)."""
        return self._mirror(context, None)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger reported the import process."""
        return self._mirror(context, event or {})

    def _mirror(self, context: Context, event: Mapping[str, Any] | None) -> dict[str, Any]:
        request = mirror_request(
            self.segment_id,
            self.list_id,
            self.include_attributes,
            dry_run=as_bool(self.dry_run, "dry_run"),
            force=as_bool(self.force, "force"),
        )
        config = load_customerio_config(self.config_path)
        if not config.enabled or not config.sync.segments:
            skip("connectors.customerio.enabled / sync.segments is false")
        dag_id, run_id, map_index = run_ids(context)
        task = task_key(f"segment_{request.segment_id}_to_list_{request.list_id}", map_index)
        store = open_sync_store(config, self.state_path)
        slots = brevo_import_slots(store, self.brevo_hook, f"{dag_id}/{run_id}/{task}")
        slots.finished = BrevoImports(self.brevo_hook).finished  # a retry frees what its killed attempt left running
        notices = BrevoImportNotices.for_hook(self.brevo_hook, store)
        target = BrevoListTarget(
            self.brevo_hook,
            timeout=self.import_timeout,
            check_interval=self.import_check_interval,
            notices=notices,
            slots=slots,
        )
        # truncate_to=0: every attempt re-derives all of its rejections from live state, so a retry replaces them
        # (a resumed attempt appends to what its deferred part recorded)
        with (
            sync_lease(store, f"segments:{request.segment_id}->{request.list_id}", context),
            store.ledger(dag_id, run_id, task, truncate_to=0 if event is None else None) as ledger,
            slots.kept_alive(),
        ):
            mirror = SegmentMirror(
                CustomerIOSegmentSource(self.app_hook),
                target,
                config.segments,
                reject=ledger_sink(ledger),
                field_mapping=config.field_mapping,
                log=self.log.info,
                check_lease=store.state().check_lease,  # before each Brevo write: a stalled try sends nothing
                state=store.state(),
                run_key=f"{dag_id}/{run_id}/{task}",
            )
            ids = mirror.start(request) if event is None else mirror.complete(self._event_states(event))
            while ids:
                if self.deferrable:
                    self._defer(ids, config, notices, slots)
                ids = mirror.complete([target.wait_import(pid) for pid in ids])
            result = mirror.finish()
        result.api_calls = self.app_hook.api_calls + self.brevo_hook.api_calls
        summary = result.summary()
        if ledger.total:
            summary["ledger"] = ledger.key
            self.log.warning("%d people not mirrored; reasons in the %s", ledger.total, ledger.location)
        self.log.info("Segment mirror summary: %s", {k: v for k, v in summary.items() if not k.startswith("sample_")})
        record_summary(store, "segments", context, self.task_id, summary)
        return summary

    def _defer(self, ids: list[str], config: Any, notices: BrevoImportNotices | None, slots: Any) -> None:
        """Wait for the import in the triggerer (raises ``TaskDeferred``); the run resumes from the store."""
        self.log.info("Waiting for Brevo import process(es) %s in the triggerer", ", ".join(ids))
        self.defer(
            trigger=BrevoProcessTrigger(
                process_ids=ids,
                brevo_conn_id=self.brevo_conn_id,
                end_time=time.time() + self.import_timeout,
                poll_interval=self.import_check_interval,
                hook_params=dict(self.brevo_hook_params or {}),
                notify=notices is not None,
                store_conn_id=config.store_conn_id,
                store_path=self.state_path or (str(config.people.state_path) if config.people.state_path else None),
                notice_deadline_s=notices.deadline_s if notices else None,
                slot_account=slots.account,
                slot_holder=slots.holder,
                slot_ttl=slots.ttl,
            ),
            method_name="execute_complete",
        )

    @staticmethod
    def _event_states(event: Mapping[str, Any]) -> list[ProcessState]:
        """The ended import of a trigger event; a failed or timed-out wait is an error (the import stays pending)."""
        if event.get("status") == "error":
            raise ProcessTimeoutError(
                f"Waiting for the Brevo import process failed: {event.get('message')}. The import stays pending; "
                "clear the task to resume waiting."
            )
        if event.get("status") == "timeout" and event.get("pending"):
            raise ProcessTimeoutError(
                f"Brevo import process(es) {', '.join(event['pending'])} not finished in time; clear the task to "
                "resume waiting (raise import_timeout if Brevo is slow)."
            )
        return [import_process_state(p) for p in (event.get("processes") or {}).values()]
