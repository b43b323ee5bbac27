"""Adapters of the segment mirror: :class:`BrevoListTarget`, the Brevo side of a run
(:class:`~airflow_provider_customerio.sync.segments.ports.ListTarget` over the Brevo hook and the imports component)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import BrevoImports
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import NotFoundError, ValidationError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.segments.model import MEMBERSHIP_LIMIT, SegmentMirrorError
from airflow_provider_customerio.sync.segments.ports import ContactWrite, ListChange

#: How far before "now" the import check starts reading modified contacts (clock skew with Brevo).
CLOCK_SKEW = timedelta(minutes=10)


class BrevoListTarget:
    """:class:`~airflow_provider_customerio.sync.segments.ports.ListTarget` over :class:`BrevoHook`: the Brevo side of a
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

    @property
    def imports(self) -> BrevoImports:
        """The imports component this target sends through (notices, the account's import slots)."""
        return BrevoImports(
            self.hook,
            notices=self.notices,
            slots=self.slots,
            slot_timeout=self.timeout,
            poll_interval=self.check_interval,
        )

    def start_import(self, rows: Sequence[Mapping[str, Any]], list_id: int) -> str:
        """Submit the import of rows into the list (in a slot, with its notice); the process id."""
        return self.imports.start(rows, list_ids=[list_id])

    def wait_import(self, process_id: str) -> ProcessState:
        """Block until the import ends (notices first, then polls) and free its slot; its state."""
        return self.imports.wait([process_id], timeout=self.timeout)[str(process_id)]

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


class CustomerIOSegmentSource:
    """:class:`~airflow_provider_customerio.sync.segments.ports.SegmentSource` over :class:`CustomerIOAppHook`: the
    Customer.io side of a segment mirror run."""

    def __init__(self, hook: CustomerIOAppHook) -> None:
        self.hook = hook

    def segment_state(self, segment_id: int) -> tuple[str, str]:
        """``(state, name)``; a clear error when the segment does not exist."""
        try:
            segment = self.hook.get_segment(segment_id)
        except NotFoundError:
            raise SegmentMirrorError(
                f"Customer.io segment {segment_id} does not exist (HTTP 404). Fix the segment_id param or "
                "connectors.customerio.segments.mirror (Segments page of Customer.io shows the ids)."
            ) from None
        return str(segment.get("state") or ""), str(segment.get("name") or "")

    def iter_members(self, segment_id: int) -> Iterator[Mapping[str, Any]]:
        """Every member's identifiers, 30 000 per page."""
        return self.hook.iter_segment_membership(segment_id, limit=MEMBERSHIP_LIMIT)

    def people_attributes(self, cio_ids: Sequence[str]) -> Iterable[Mapping[str, Any]]:
        """Profiles of up to 100 people by cio_id."""
        return self.hook.get_people_attributes(cio_ids, id_type="cio_id")
