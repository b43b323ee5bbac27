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
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.brevo import BrevoImportSink
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    iter_webhook_events,
    message_window,
    open_webhook_store,
    workflow_run_key,
)
from airflow_provider_customerio.runs.context import run_ids
from airflow_provider_customerio.runs.lease import brevo_import_slots, sync_lease
from airflow_provider_customerio.runs.settings import load_connector_config, open_sync_store
from airflow_provider_customerio.runs.summary import record_summary
from airflow_provider_customerio.runs.values import as_bool
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.workflow import (
    STAGED_KIND,
    WORKFLOW_DIRECTION,
    StateBuilder,
    WorkflowStateWriter,
    attribute_names,
    derive_changes,
    missing_attributes,
)

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
        try:
            lookback = float(self.lookback_hours)
        except (TypeError, ValueError):
            raise ConfigError(f"lookback_hours: {self.lookback_hours!r} is not a number of hours.") from None
        config = load_connector_config(self.config_path)
        names = attribute_names({**config.workflow.attributes, **self.attribute_names})
        start_ts, end_ts, manual = message_window(context, lookback_hours=lookback)
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
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
        """Import the staged rows; return the counts."""
        config = load_connector_config(self.config_path)
        names = attribute_names({**config.workflow.attributes, **self.attribute_names})
        run_key = workflow_run_key(context)
        dry_run = as_bool(self.dry_run, "dry_run")
        dag_id, run_id, _ = run_ids(context)
        sync_store = open_sync_store(config, self.state_path)
        with sync_lease(sync_store, "workflow", context), sync_store.state() as state:
            pending = state.count_staged(run_key) + len(state.pending_processes(run_key))
            created: list[str] = []
            list_id = self._list_id(config)
            if pending and not dry_run:
                created = self._ensure_attributes(names, config)
            with sync_store.ledger(dag_id, run_id, self.task_id) as ledger:
                slots = brevo_import_slots(sync_store, self.brevo_hook, run_key)
                port = BrevoImportSink(
                    self.brevo_hook,
                    list_ids=[list_id],
                    timeout=self.import_timeout,
                    check_interval=self.import_check_interval,
                    notices=BrevoImportNotices.for_hook(self.brevo_hook, sync_store),
                    slots=slots,
                )
                writer = WorkflowStateWriter(
                    state, port, run_key=run_key, rejects=ledger, max_bytes=self.import_max_bytes, dry_run=dry_run
                )
                with slots.kept_alive():
                    result = writer.run()
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

    def _list_id(self, config: CustomerIOConfig) -> int:
        value = self.list_id if self.list_id not in (None, "", "None") else config.lists.get("all_contacts")
        if value is None:
            raise ConfigError(
                "Brevo imports must name a list: set connectors.customerio.lists.all_contacts (the list the people "
                "sync fills) or the task's list_id to a Brevo list id (Contacts > Lists)."
            )
        try:
            number = int(str(value).strip())
        except ValueError:
            number = 0
        if number < 1:
            raise ConfigError(f"list_id: {value!r} is not a Brevo list id; use the number shown in Contacts > Lists.")
        return number

    def _ensure_attributes(self, names: Mapping[str, str], config: CustomerIOConfig) -> list[str]:
        missing = missing_attributes(names, (a.get("name", "") for a in self.brevo_hook.list_attributes()))
        if not missing:
            return []
        create = self.create_missing_attributes
        if create is None:
            create = config.people.create_missing_attributes
        if not create:
            listed = ", ".join(f"{n} ({t})" for n, t in missing)
            raise ConfigError(
                f"Brevo has no contact attribute {listed}: imports would silently drop these values. Create them "
                "in Brevo (Contacts > Settings > Contact attributes), or set create_missing_attributes=True on the "
                "task (or connectors.customerio.people.create_missing_attributes), or rename them with "
                "attribute_names."
            )
        for name, typ in missing:
            self.brevo_hook.create_attribute(name, typ)
            log.info("Created the Brevo attribute %s (%s).", name, typ)
        return [n for n, _ in missing]


__all__ = ["CustomerIOWorkflowStateOperator", "CustomerIOWorkflowStateToBrevoOperator"]
