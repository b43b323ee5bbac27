"""Adapters of the workflow-state capability: :class:`BrevoImportSink`, the Brevo imports of the write task
(:class:`~airflow_provider_customerio.sync.workflow.write.ImportSink` over the imports component)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import BrevoImports
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.processes import ProcessState


class BrevoImportSink:
    """:class:`~airflow_provider_customerio.sync.workflow.write.ImportSink` on the Brevo hook.

    :param slots: the account's import slots: a submission waits for one, a finished wait frees it.
    """

    def __init__(
        self,
        hook: BrevoHook,
        *,
        list_ids: Sequence[int],
        timeout: float,
        check_interval: float,
        notices: BrevoImportNotices | None = None,
        slots: ImportSlots | None = None,
    ) -> None:
        self.hook = hook
        self.list_ids = list(list_ids)
        self.timeout = timeout
        self.check_interval = check_interval
        self.notices = notices
        self.slots = slots

    @property
    def imports(self) -> BrevoImports:
        """The imports component this sink sends through."""
        return BrevoImports(
            self.hook,
            notices=self.notices,
            slots=self.slots,
            slot_timeout=self.timeout,
            poll_interval=self.check_interval,
        )

    def submit(self, rows: list[dict[str, Any]]) -> str:
        return self.imports.start(rows, list_ids=self.list_ids)

    def wait(self, process_id: str) -> ProcessState:
        return self.imports.wait([process_id], timeout=self.timeout)[str(process_id)]
