"""Adapters of the workflow-state capability: :class:`BrevoImportSink`, the Brevo imports of the write task
(:class:`~airflow_provider_customerio.sync.workflow.write.ImportSink` over the Brevo hook)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_customerio.adapters.brevo import import_process_state
from airflow_provider_customerio.adapters.brevo_notices import (
    BrevoImportNotices,
    in_slot,
    start_import,
    wait_options,
)
from airflow_provider_customerio.exceptions import ProcessFailedError
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

    def submit(self, rows: list[dict[str, Any]]) -> str:
        def send(notify_url: str | None) -> int:
            return self.hook.import_contacts(
                json_body=rows,
                list_ids=self.list_ids,
                update_existing_contacts=True,
                empty_contacts_attributes=False,
                notify_url=notify_url,
            )

        return str(in_slot(self.slots, self.timeout, lambda: start_import(send, self.notices)))

    def wait(self, process_id: str) -> ProcessState:
        try:
            process = self.hook.wait_for_process(
                int(process_id), timeout=self.timeout, check_interval=self.check_interval, **wait_options(self.notices)
            )
            state = import_process_state({**process, "id": process_id})
        except ProcessFailedError as exc:
            state = ProcessState(str(process_id), "failed", error=str(exc))
        if self.slots is not None:  # it ended: the account's next import may start
            self.slots.release([process_id])
        return state
