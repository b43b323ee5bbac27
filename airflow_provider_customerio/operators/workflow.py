"""Operators of the workflow-state capability: where each person stands in their Customer.io journeys,
written to Brevo contact attributes.

Two tasks, one per API pool, sharing the run's staging in the sync state store:

* :class:`CustomerIOWorkflowStateOperator` (pool ``customerio_app``) reads ``/v1/messages`` for the window and the
  stored reporting-webhook events, derives each person's state and stages the people whose state changed;
* :class:`CustomerIOWorkflowStateToBrevoOperator` (pool ``brevo``) writes the staged people in Brevo import
  batches and records what was written only once each import completed (a killed task resumes).

Both are thin: the logic is in :mod:`airflow_provider_customerio.sync.workflow`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.brevo_imports import import_process_state
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.adapters.workflow import BrevoImportSink
from airflow_provider_customerio.exceptions import ProcessTimeoutError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    as_bool,
    brevo_import_slots,
    data_interval,
    default_deferrable,
    iter_webhook_events,
    load_connector_config,
    open_sync_store,
    open_webhook_store,
    record_summary,
    run_ids,
    skip,
    sync_lease,
    workflow_run_key,
)
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.workflow.attributes import attribute_names, ensure_attributes, import_list_id
from airflow_provider_customerio.sync.workflow.derive import STAGED_KIND, WORKFLOW_DIRECTION, derive_changes
from airflow_provider_customerio.sync.workflow.fold import StateBuilder
from airflow_provider_customerio.sync.workflow.window import lookback, message_window
from airflow_provider_customerio.sync.workflow.write import WorkflowStateWriter
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)


class CustomerIOWorkflowStateOperator(BaseOperator):
    """Derive each person's journey state (last campaign, last action, last message state and its time) from the
    messages of the run's window and the stored reporting-webhook events, and stage the people whose state
    changed since it was last written to Brevo. Returns the counts and the staging key.

    :param lookback_hours: hours of messages re-read before the data interval (templated).
    :param attribute_names: Brevo attribute per state field (``campaign``, ``campaign_id``, ``action``, ``status``,
        ``at``); ``None`` turns a field off. Defaults: ``CIO_LAST_CAMPAIGN``, ``CIO_LAST_CAMPAIGN_ID``,
        ``CIO_LAST_ACTION``, ``CIO_LAST_MESSAGE_STATUS``, ``CIO_LAST_MESSAGE_AT``.
    :param use_webhook_events: also read the stored reporting-webhook events.
    :param webhook_store_conn_id: SQL connection of the event store; default ``connectors.customerio.events.
        webhook_store_conn_id``, else the events capability's SQLite file when it exists.
    :param config_path: the provider's YAML config (templated).
    :param state_path: the sync state database (templated).
    :param customerio_app_conn_id: Customer.io App API connection.
    :param customerio_app_hook_params: extra hook arguments (e.g. ``rate_limit``).
    """

    template_fields: Sequence[str] = (
        "lookback_hours",
        "config_path",
        "state_path",
        "customerio_app_conn_id",
        "webhook_store_conn_id",
    )
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        lookback_hours: float | str = 24,
        attribute_names: Mapping[str, str | None] | None = None,
        use_webhook_events: bool = True,
        webhook_store_conn_id: str | None = None,
        config_path: str | None = None,
        state_path: str | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lookback_hours = lookback_hours
        self.attribute_names = dict(attribute_names or {})
        self.use_webhook_events = use_webhook_events
        self.webhook_store_conn_id = webhook_store_conn_id
        self.config_path = config_path
        self.state_path = state_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.customerio_app_hook_params = dict(customerio_app_hook_params or {})

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(self.customerio_app_conn_id, **self.customerio_app_hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        """Derive and stage; return the counts."""
        hours = lookback(self.lookback_hours)
        config = load_connector_config(self.config_path)
        if not config.enabled or not config.sync.workflow:
            skip("connectors.customerio.enabled / sync.workflow is false")
        names = attribute_names({**config.workflow.attributes, **self.attribute_names})
        start_ts, end_ts, manual = message_window(*data_interval(context), lookback_hours=hours)
        run_key = workflow_run_key(context)
        dag_id, run_id, _ = run_ids(context)
        campaign_names = {str(c.get("id")): str(c.get("name") or "") for c in self.app_hook.list_campaigns()}
        builder = StateBuilder()
        for message in self.app_hook.iter_messages(start_ts=start_ts, end_ts=end_ts):
            builder.add_message(message)
        sync_store = open_sync_store(config, self.state_path)
        events = open_webhook_store(config, self.webhook_store_conn_id, sync_store) if self.use_webhook_events else None
        if events is not None:
            for event in iter_webhook_events(events, start_ts, end_ts):
                builder.add_event(event)
        with (
            sync_lease(sync_store, "workflow", context),
            sync_store.state() as state,
            sync_store.ledger(dag_id, run_id, self.task_id) as ledger,
        ):
            result = derive_changes(
                builder.states(),
                names=names,
                campaign_names=campaign_names,
                stored_tokens=lambda keys: state.get_hashes(WORKFLOW_DIRECTION, list(keys)),
            )
            for r in result.rejected:
                ledger.reject(
                    record_id=r.person_key,
                    reason=r.reason,
                    message=r.message,
                    stage="derive",
                    identifiers=r.identifiers,
                )
            for item in builder.unidentified:
                ledger.reject(
                    record_id=item.get("delivery_id"),
                    reason="missing_identifier",
                    message="a message or webhook event names no person (no cio_id, id or email)",
                    stage="derive",
                    detail=item,
                )
            staged = state.stage_items(
                run_key, [(key, STAGED_KIND, {"token": token, "row": row}) for key, token, row in result.changes]
            )
            ledger_path = ledger.key if ledger.total else None
        out = {
            **result.counts(),
            "staged": staged,
            "messages": builder.messages_read,
            "webhook_events": builder.events_read,
            "window": {"start_ts": start_ts, "end_ts": end_ts, "manual": manual},
            "run_key": run_key,
            "ledger": ledger_path,
            "api_calls": self.app_hook.api_calls,
        }
        log.info(
            "Workflow state: %d people from %d messages and %d webhook events; %d new, %d changed, %d "
            "unchanged, %d stale, %d rejected; %d staged for Brevo.",
            result.people,
            builder.messages_read,
            builder.events_read,
            result.new,
            result.changed,
            result.unchanged,
            result.stale,
            len(result.rejected),
            staged,
        )
        return out


class CustomerIOWorkflowStateToBrevoOperator(LineageMixin, BaseOperator):
    """Write the people staged by :class:`CustomerIOWorkflowStateOperator` to Brevo attributes, in import batches.

    Checks first that the attributes exist (Brevo silently drops unknown ones on import); creates them when
    ``create_missing_attributes`` is on. Each batch's state is recorded as written only after its import process
    completed; a failed import is re-submitted once, then its people go to the ledger and are re-sent next run.

    :param attribute_names: as for :class:`CustomerIOWorkflowStateOperator` (give both tasks the same).
    :param list_id: the Brevo list the imports name (Brevo requires one); default
        ``connectors.customerio.lists.all_contacts``, the list the people sync fills (templated).
    :param create_missing_attributes: create missing attributes (text); default
        ``connectors.customerio.people.create_missing_attributes``.
    :param import_max_bytes: byte budget of one import body (Brevo's limit is 10 MB).
    :param import_timeout: seconds to wait for one import process.
    :param import_check_interval: first interval between polls of an import process.
    :param config_path: the provider's YAML config (templated).
    :param state_path: the sync state database (templated).
    :param brevo_conn_id: Brevo connection.
    :param brevo_hook_params: extra hook arguments (e.g. ``rate_limit``).
    :param dry_run: write nothing (no attribute created, no import): the result's ``plan`` counts the people whose
        state would be written (templated).
    :param deferrable: wait for each Brevo import in the triggerer instead of in the worker (default: Airflow's
        ``[operators] default_deferrable``).
    """

    lineage_capability = "workflow"
    template_fields: Sequence[str] = ("list_id", "config_path", "state_path", "brevo_conn_id", "dry_run")
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        attribute_names: Mapping[str, str | None] | None = None,
        list_id: int | str | None = None,
        create_missing_attributes: bool | None = None,
        import_max_bytes: int = 4_000_000,
        import_timeout: float = 3600.0,
        import_check_interval: float = 5.0,
        config_path: str | None = None,
        state_path: str | None = None,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        brevo_hook_params: Mapping[str, Any] | None = None,
        dry_run: bool | str = False,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.attribute_names = dict(attribute_names or {})
        self.list_id = list_id
        self.create_missing_attributes = create_missing_attributes
        self.import_max_bytes = import_max_bytes
        self.import_timeout = import_timeout
        self.import_check_interval = import_check_interval
        self.config_path = config_path
        self.state_path = state_path
        self.brevo_conn_id = brevo_conn_id
        self.brevo_hook_params = dict(brevo_hook_params or {})

        declare_outlets(self, "workflow")

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return BrevoHook(self.brevo_conn_id, **self.brevo_hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        """Import the staged rows; return the counts (may defer while Brevo processes an import)."""
        return self._write(context, None)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger reported the import processes."""
        return self._write(context, event or {})

    def _write(self, context: Context, event: Mapping[str, Any] | None) -> dict[str, Any]:
        config = load_connector_config(self.config_path)
        if not config.enabled or not config.sync.workflow:
            skip("connectors.customerio.enabled / sync.workflow is false")
        names = attribute_names({**config.workflow.attributes, **self.attribute_names})
        run_key = workflow_run_key(context)
        dry_run = as_bool(self.dry_run, "dry_run")
        dag_id, run_id, _ = run_ids(context)
        sync_store = open_sync_store(config, self.state_path)
        with sync_lease(sync_store, "workflow", context), sync_store.state() as state:
            pending = state.count_staged(run_key) + len(state.pending_processes(run_key))
            created: list[str] = []
            list_id = import_list_id(self.list_id, config.lists)
            if pending and not dry_run and event is None:
                create = self.create_missing_attributes
                if create is None:
                    create = config.people.create_missing_attributes
                created = ensure_attributes(names, self.brevo_hook, create=create, log=log.info)
            with sync_store.ledger(dag_id, run_id, self.task_id) as ledger:
                slots = brevo_import_slots(sync_store, self.brevo_hook, run_key)
                notices = BrevoImportNotices.for_hook(self.brevo_hook, sync_store)
                port = BrevoImportSink(
                    self.brevo_hook,
                    list_ids=[list_id],
                    timeout=self.import_timeout,
                    check_interval=self.import_check_interval,
                    notices=notices,
                    slots=slots,
                )
                writer = WorkflowStateWriter(
                    state, port, run_key=run_key, rejects=ledger, max_bytes=self.import_max_bytes, dry_run=dry_run
                )
                with slots.kept_alive():
                    ids = writer.start() if event is None else writer.complete(self._event_states(event))
                    while ids:
                        if self.deferrable:
                            self._defer(ids, config, notices, slots)
                        ids = writer.complete([port.wait(pid) for pid in ids])
                    result = writer.finish()
                ledger_path = ledger.key if ledger.total else None
        log.info(
            "Workflow state written for %d people in %d import(s) (%d re-submitted); %d rejected.",
            result.written,
            result.imports,
            result.resubmitted,
            result.rejected,
        )
        out: dict[str, Any] = {
            **result.as_dict(),
            "attributes_created": created,
            "run_key": run_key,
            "ledger": ledger_path,
            "api_calls": self.brevo_hook.api_calls,
        }
        if dry_run:
            out["dry_run"] = True
            out["plan"] = {
                "creates": 0,
                "updates": writer.planned,
                "deletes": 0,
                "list_adds": 0,
                "list_removals": 0,
                "updates_items": writer.planned_keys,
            }
        record_summary(sync_store, "workflow", context, self.task_id, out)
        return out

    def _defer(self, ids: list[str], config: Any, notices: BrevoImportNotices | None, slots: Any) -> None:
        """Wait for the import in the triggerer (raises ``TaskDeferred``); the run resumes from the store."""
        log.info("Waiting for Brevo import process(es) %s in the triggerer", ", ".join(ids))
        self.defer(
            trigger=BrevoProcessTrigger(
                process_ids=ids,
                brevo_conn_id=self.brevo_conn_id,
                end_time=time.time() + self.import_timeout,
                poll_interval=self.import_check_interval,
                hook_params=dict(self.brevo_hook_params),
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
        """The ended imports of a trigger event; a failed or timed-out wait is an error (the imports stay pending)."""
        status = event.get("status")
        if status == "error":
            raise ProcessTimeoutError(
                f"Waiting for the Brevo import processes failed: {event.get('message')}. The imports stay pending; "
                "clear the task to resume waiting."
            )
        states = [import_process_state(p) for p in (event.get("processes") or {}).values()]
        if status == "timeout" and event.get("pending"):
            raise ProcessTimeoutError(
                f"Brevo import process(es) {', '.join(event['pending'])} not finished in time; clear the task to "
                "resume waiting (raise import_timeout if Brevo is slow)."
            )
        return states


__all__ = ["CustomerIOWorkflowStateOperator", "CustomerIOWorkflowStateToBrevoOperator"]
