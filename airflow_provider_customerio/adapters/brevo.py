"""Adapters of the Brevo hook to the sync ports (contacts, imports, objects, lists, events, processes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import (
    BrevoImports,
    import_process_state,
)
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import (
    NotFoundError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.sync.mapping import BrevoAttribute
from airflow_provider_customerio.sync.processes import ProcessState


class BrevoContactSink:
    """:class:`~airflow_provider_customerio.sync.people.ports.ContactSink` over :class:`BrevoHook`.

    :param notices: Brevo's end-of-import notices (the connection extra ``notify_url``), or ``None`` to poll.
    """

    def __init__(self, hook: BrevoHook, *, notices: BrevoImportNotices | None = None) -> None:
        self.hook = hook
        self.notices = notices

    def list_attributes(self) -> list[BrevoAttribute]:
        return [BrevoAttribute.from_api(a) for a in self.hook.list_attributes()]

    def create_attribute(self, name: str, type: str) -> None:
        self.hook.create_attribute(name, type)

    def start_import(self, rows: Sequence[Mapping[str, Any]], *, list_ids: Sequence[int], email_blacklist: bool) -> str:
        return BrevoImports(self.hook, notices=self.notices).start(
            rows, list_ids=list_ids, email_blacklist=email_blacklist
        )

    def get_process(self, process_id: str) -> ProcessState:
        return import_process_state(self.hook.get_process(int(process_id)))

    def delete_contact(self, identifier: str, identifier_type: str) -> bool:
        return self.hook.delete_contact(identifier, identifier_type=identifier_type)

    def blacklist_contact(self, identifier: str, identifier_type: str) -> bool:
        try:
            self.hook.update_contact(identifier, identifier_type=identifier_type, emailBlacklisted=True)
        except NotFoundError:
            return False
        return True


__all__ = [
    "BrevoContactSink",
]
