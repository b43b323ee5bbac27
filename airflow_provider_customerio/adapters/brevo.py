"""Adapters of the Brevo hook to the sync ports (contacts, imports, objects, lists, events, processes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import (
    BrevoImports,
    import_process_state,
)
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import (
    NotFoundError,
    ProcessFailedError,
    ValidationError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.mapping import BrevoAttribute
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.segments import (
    ContactWrite,
    ImportOutcome,
    ListChange,
)


class BrevoImportSink:
    """:class:`~airflow_provider_customerio.sync.workflow.ImportSink` on the Brevo hook.

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

    def wait(self, process_id: str) -> Mapping[str, Any]:
        state = self.imports.wait([process_id], timeout=self.timeout)[str(process_id)]
        return {
            "status": state.status,
            "succeeded": state.succeeded,
            "error": state.error,
            "info": {"import": dict(state.report.counts)},
        }


#: How far before "now" the import check starts reading modified contacts (clock skew with Brevo).
CLOCK_SKEW = timedelta(minutes=10)


class BrevoListTarget:
    """:class:`~airflow_provider_customerio.sync.segments.ListTarget` over :class:`BrevoHook`: the Brevo side of a
    segment mirror run.

    :param hook: the Brevo hook.
    :param timeout: seconds to wait for one import process.
    :param check_interval: first polling interval of an import process.
    :param slots: the account's import slots: an import waits for one and frees it when it ends.
    """

    def __init__(
        self,
        hook: BrevoHook,
        *,
        timeout: float = 3600.0,
        check_interval: float = 5.0,
        notices: BrevoImportNotices | None = None,
        slots: ImportSlots | None = None,
    ) -> None:
        self.hook = hook
        self.timeout = timeout
        self.check_interval = check_interval
        self.notices = notices
        self.slots = slots

    def lists(self) -> Iterable[tuple[int, str]]:
        """Every list as ``(id, name)``."""
        return [(int(item["id"]), str(item.get("name") or "")) for item in self.hook.iter_lists()]

    def create_list(self, name: str, folder_id: int) -> int:
        """Create a list in a folder."""
        return self.hook.create_list(name, folder_id)

    def list_attributes(self) -> Iterable[Mapping[str, Any]]:
        """The account's contact attributes."""
        return self.hook.list_attributes()

    def iter_list_contacts(self, list_id: int, modified_since: str | None = None) -> Iterator[Mapping[str, Any]]:
        """A list's contacts, 500 per page."""
        return self.hook.iter_list_contacts(list_id, limit=500, modified_since=modified_since)

    def clock_mark(self) -> str:
        """Now minus :data:`CLOCK_SKEW`, in Brevo's ``YYYY-MM-DDTHH:mm:ss.SSSZ`` form."""
        mark = datetime.now(timezone.utc) - CLOCK_SKEW
        return mark.strftime("%Y-%m-%dT%H:%M:%S.") + f"{mark.microsecond // 1000:03d}Z"

    def import_contacts(self, rows: Sequence[Mapping[str, Any]], list_id: int) -> ImportOutcome:
        """Import rows into the list and wait for the process (a failed process raises the hook's error)."""

        imports = BrevoImports(
            self.hook,
            notices=self.notices,
            slots=self.slots,
            slot_timeout=self.timeout,
            poll_interval=self.check_interval,
        )
        process_id = imports.start(rows, list_ids=[list_id])
        state = imports.wait([process_id], timeout=self.timeout)[process_id]
        if not state.succeeded:
            raise ProcessFailedError(
                f"Brevo process {process_id} ended '{state.status}': {state.error or 'no reason given'}"
            )
        return ImportOutcome(
            process_id=int(process_id), status=state.status, problems=dict(state.report.counts), succeeded=True
        )

    def upsert_by_ext_id(self, ext_id: str, attributes: Mapping[str, Any], list_id: int) -> ContactWrite:
        """``PUT /contacts/{ext_id}`` adding the list (``listIds`` adds, it never replaces); when Brevo has no
        such contact, ``POST /contacts`` with ``ext_id`` (no ``updateEnabled``: it would overwrite ``listIds``)."""
        body: dict[str, Any] = {"listIds": [list_id]}
        if attributes:
            body["attributes"] = dict(attributes)
        try:
            self.hook.update_contact(ext_id, identifier_type="ext_id", **body)
            return ContactWrite(calls=1)
        except NotFoundError:
            pass
        except ValidationError as exc:
            return ContactWrite(calls=1, error=exc.message)
        try:
            self.hook.create_contact(ext_id=ext_id, attributes=dict(attributes) or None, list_ids=[list_id])
        except ValidationError as exc:
            return ContactWrite(calls=2, error=exc.message)
        return ContactWrite(calls=2)

    def remove_from_list(self, list_id: int, *, contact_ids: Sequence[int]) -> ListChange:
        """Remove contacts by Brevo contact id."""
        result = self.hook.remove_contacts_from_list(list_id, ids=list(contact_ids))
        return ListChange(success=list(result["success"]), failure=list(result["failure"]))

    def update_attributes(self, identifier: str | int, identifier_type: str, attributes: Mapping[str, Any]) -> None:
        """Update one contact's attributes."""
        self.hook.update_contact(identifier, identifier_type=identifier_type, attributes=dict(attributes))


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
    "BrevoImportSink",
    "BrevoListTarget",
]
