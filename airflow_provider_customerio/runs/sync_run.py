"""What a sync needs from its Airflow run, resolved once per execution: :class:`SyncRun` (the operators' base hands
it to :meth:`~airflow_provider_customerio.operators.base.SyncOperator.build_sync`)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import BrevoImports
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import CustomerIOProviderError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.runs.context import run_ids, task_key
from airflow_provider_customerio.runs.lease import brevo_import_slots
from airflow_provider_customerio.runs.settings import open_sync_store
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.import_slots import ImportSlots


class SyncWaitError(CustomerIOProviderError):
    """Waiting for Brevo's processes failed in the triggerer; what they carry stays pending."""


class SyncRun:
    """What a sync needs from its Airflow run, resolved once per execution.

    :param context: the task's Airflow context.
    :param config: the ``connectors.customerio`` config.
    :param sync_name: the run's name among the syncs of its DAG run (tasks that share it share the run's state).
    :param dry_run: read and count, write nothing.
    """

    def __init__(
        self,
        context: Mapping[str, Any],
        config: CustomerIOConfig,
        *,
        sync_name: str,
        dry_run: bool,
        default_dag_id: str = "adhoc",
    ) -> None:
        self.context = context
        self.config = config
        self.dry_run = dry_run
        self.dag_id, self.run_id, self.map_index = run_ids(
            context, default_dag_id=default_dag_id, default_run_id="manual"
        )
        self.sync_name = task_key(sync_name, self.map_index)
        #: The key of the run's checkpoint, staging and pending processes in the store: ``dag/run/sync_name``.
        self.run_key = f"{self.dag_id}/{self.run_id}/{self.sync_name}"
        #: The Brevo imports the run waits for (set by :meth:`brevo_imports`); ``None``: it starts none.
        self.imports: BrevoImports | None = None
        #: The account's import slots the run holds (kept alive while the task runs); ``None``: none.
        self.slots: ImportSlots | None = None

    @cached_property
    def store(self) -> SyncStore:
        """The shared sync store (the connection ``store_conn_id``, else the embedded SQLite file)."""
        return open_sync_store(self.config)

    def ledger(self, *, truncate_to: int = 0) -> Any:
        """The run's rejected-records ledger (a resumed run cuts it back to its last checkpoint)."""
        return self.store.ledger(self.dag_id, self.run_id, self.sync_name, truncate_to=truncate_to)

    def brevo_imports(
        self, hook: BrevoHook, *, hold_slots: bool, slot_timeout: float = 3600.0, poll_interval: float = 5.0
    ) -> BrevoImports:
        """The imports component of this run on ``hook`` (with the connection's notices), and the account's import
        slots held by the run. ``hold_slots``: the component takes a slot per import itself (else the sync binds
        :attr:`slots` to its pending processes)."""
        notices = BrevoImportNotices.for_hook(hook, self.store)
        self.slots = brevo_import_slots(self.store, hook, self.run_key)
        self.imports = BrevoImports(
            hook,
            notices=notices,
            slots=self.slots if hold_slots else None,
            slot_timeout=slot_timeout,
            poll_interval=poll_interval,
        )
        return self.imports


__all__ = ["SyncRun", "SyncWaitError"]
