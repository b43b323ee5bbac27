"""Operators of the workflow-state capability: where each person stands in their Customer.io journeys,
written to Brevo contact attributes.

Two tasks, one per API pool, sharing the run's staging in the sync state store (sync name ``workflow_state``):

* :class:`CustomerIOWorkflowStateOperator` (pool ``customerio_app``) reads ``/v1/messages`` for the window and the
  stored reporting-webhook events, derives each person's state and stages the people whose state changed;
* :class:`CustomerIOWorkflowStateToBrevoOperator` (pool ``brevo``) writes the staged people in Brevo import
  batches, one import at a time (waited for in the triggerer when deferrable), and records what was written only
  once each import completed (a killed task resumes).

Both are thin: the lifecycle is :class:`~.base.SyncOperator`'s, the logic :mod:`airflow_provider_customerio.sync.
workflow`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_customerio.adapters.workflow import BrevoAttributes, BrevoImportSink, webhook_events
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import declare_outlets
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.pools import BREVO_POOL
from airflow_provider_customerio.runs.context import data_interval
from airflow_provider_customerio.runs.settings import with_state_path
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.runs.values import as_optional_str
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.workflow.attributes import attribute_names, ensure_attributes, import_list_id
from airflow_provider_customerio.sync.workflow.job import DeriveJob, WriteJob
from airflow_provider_customerio.sync.workflow.window import lookback, message_window
from airflow_provider_customerio.sync.workflow.write import WorkflowStateWriter


class CustomerIOWorkflowStateOperator(SyncOperator):
    """Derive each person's journey state (last campaign, last action, last message state and its time) from the
    messages of the run's window and the stored reporting-webhook events, and stage the people whose state
    changed since it was last written to Brevo. Returns the counts and the staging key.

    :param lookback_hours: hours of messages re-read before the data interval (templated).
    :param attribute_names: Brevo attribute per state field (``campaign``, ``campaign_id``, ``action``, ``status``,
        ``at``); ``None`` turns a field off. Defaults: ``CIO_LAST_CAMPAIGN``, ``CIO_LAST_CAMPAIGN_ID``,
        ``CIO_LAST_ACTION``, ``CIO_LAST_MESSAGE_STATUS``, ``CIO_LAST_MESSAGE_AT``.
    :param use_webhook_events: also read the stored reporting-webhook events.
    :param webhook_store_conn_id: SQL connection of the event store; default ``connectors.customerio.events.
        webhook_store_conn_id``, else the sync store.
    :param state_path: the sync state database (templated).
    :param customerio_app_conn_id: Customer.io App API connection.
    :param customerio_app_hook_params: extra hook arguments (e.g. ``rate_limit``).

    ``config_path`` and ``sync_name`` (default ``workflow_state``, shared with the write task): see
    :class:`~.base.SyncOperator`.
    """

    capability = "workflow"
    config_switch = "workflow"
    default_sync_name = "workflow_state"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "lookback_hours",
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
        self.state_path = state_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.customerio_app_hook_params = dict(customerio_app_hook_params or {})

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(self.customerio_app_conn_id, **self.customerio_app_hook_params)

    def load_config(self) -> CustomerIOConfig:
        return with_state_path(super().load_config(), as_optional_str(self.state_path))

    def lease_name(self, run: SyncRun) -> str:
        return "workflow"

    def build_sync(self, run: SyncRun) -> DeriveJob:
        hours = lookback(self.lookback_hours)
        names = attribute_names({**run.config.workflow.attributes, **self.attribute_names})
        hook = self.app_hook
        events = webhook_events(run.config, self.webhook_store_conn_id, run.store) if self.use_webhook_events else None
        return DeriveJob(
            state=run.store.state(),
            ledger=run.store.ledger(run.dag_id, run.run_id, self.task_id),
            run_key=run.run_key,
            names=names,
            window=message_window(*data_interval(run.context), lookback_hours=hours),
            campaign_names=lambda: {str(c.get("id")): str(c.get("name") or "") for c in hook.list_campaigns()},
            messages=lambda start, end: hook.iter_messages(start_ts=start, end_ts=end),
            events=events,
            api_calls=self.take_api_calls,
        )


class CustomerIOWorkflowStateToBrevoOperator(SyncOperator):
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
    :param import_check_interval: first interval between polls of an import process (the base's ``poll_interval``).
    :param state_path: the sync state database (templated).
    :param brevo_conn_id: Brevo connection.
    :param brevo_hook_params: extra hook arguments (e.g. ``rate_limit``).

    ``dry_run`` (write nothing: the result's ``plan`` counts the people whose state would be written),
    ``deferrable`` (wait for each import in the triggerer), ``import_timeout``, ``config_path`` and ``sync_name``:
    see :class:`~.base.SyncOperator`.
    """

    capability = "workflow"
    config_switch = "workflow"
    default_sync_name = "workflow_state"
    template_fields: Sequence[str] = (*SyncOperator.template_fields, "list_id", "state_path", "brevo_conn_id")
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        attribute_names: Mapping[str, str | None] | None = None,
        list_id: int | str | None = None,
        create_missing_attributes: bool | None = None,
        import_max_bytes: int = 4_000_000,
        import_check_interval: float = 5.0,
        state_path: str | None = None,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(poll_interval=import_check_interval, **kwargs)
        self.attribute_names = dict(attribute_names or {})
        self.list_id = list_id
        self.create_missing_attributes = create_missing_attributes
        self.import_max_bytes = import_max_bytes
        self.import_check_interval = import_check_interval
        self.state_path = state_path
        self.brevo_conn_id = brevo_conn_id
        self.brevo_hook_params = dict(brevo_hook_params or {})
        declare_outlets(self, "workflow")

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return self.make_hook(BrevoHook, self.brevo_conn_id, self.brevo_hook_params, BREVO_POOL)

    def load_config(self) -> CustomerIOConfig:
        return with_state_path(super().load_config(), as_optional_str(self.state_path))

    def lease_name(self, run: SyncRun) -> str:
        return "workflow"

    def build_sync(self, run: SyncRun) -> WriteJob:
        config = run.config
        names = attribute_names({**config.workflow.attributes, **self.attribute_names})
        list_id = import_list_id(self.list_id, config.lists)
        create = self.create_missing_attributes
        if create is None:
            create = config.people.create_missing_attributes
        imports = run.brevo_imports(
            self.brevo_hook, hold_slots=True, slot_timeout=self.import_timeout, poll_interval=self.poll_interval
        )
        port = BrevoImportSink(
            self.brevo_hook,
            list_ids=[list_id],
            timeout=self.import_timeout,
            check_interval=self.poll_interval,
            notices=imports.notices,
            slots=run.slots,
        )
        ledger = run.store.ledger(run.dag_id, run.run_id, self.task_id)
        writer = WorkflowStateWriter(
            run.store.state(),
            port,
            run_key=run.run_key,
            rejects=ledger,
            max_bytes=self.import_max_bytes,
            dry_run=run.dry_run,
        )
        return WriteJob(
            writer,
            ledger=ledger,
            ensure_attributes=lambda: ensure_attributes(
                names, BrevoAttributes(self.brevo_hook), create=bool(create), log=self.log.info
            ),
            api_calls=self.take_api_calls,
        )


__all__ = ["CustomerIOWorkflowStateOperator", "CustomerIOWorkflowStateToBrevoOperator"]
