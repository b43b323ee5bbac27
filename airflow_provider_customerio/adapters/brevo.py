"""Adapters of the Brevo hook to the sync ports (contacts, imports, objects, lists, events, processes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import (
    BrevoImports,
    import_process_state,
    process_state,
)
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import (
    AuthError,
    NotFoundError,
    ProcessFailedError,
    ValidationError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.transport import quote_path
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.mapping import BrevoAttribute
from airflow_provider_customerio.sync.objects import (
    BrevoRecord,
    ContactRef,
    TypeProbe,
)
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


#: Records sampled by the type probe (attribute keys seen on them are known to exist).
PROBE_LIMIT = 100


class BrevoObjectSink:
    """:class:`~airflow_provider_customerio.sync.objects.ObjectSink` over the Brevo hook.

    ``GET /objects/{type}/records`` has no hook method yet, so it goes through the hook's transport
    (:meth:`BrevoHook.request_json`: same auth, retries, rate limiting and logging).
    """

    def __init__(self, hook: BrevoHook) -> None:
        self.hook = hook

    def _records(self, object_type: str, page_num: int, limit: int) -> dict[str, Any]:
        return (
            self.hook.request_json(
                "GET",
                f"/objects/{quote_path(object_type)}/records",
                params={"limit": limit, "page_num": page_num, "sort": "desc"},
            )
            or {}
        )

    def probe_type(self, object_type: str) -> TypeProbe:
        # Brevo has no endpoint listing custom object types or their attributes: probe the records list, which
        # answers 404 (or 400 "invalid object_type") for a type that does not exist. See sync/objects.py.
        try:
            body = self._records(object_type, 1, PROBE_LIMIT)
        except NotFoundError as exc:
            return TypeProbe(exists=False, message=str(exc.message))
        except AuthError as exc:
            if exc.status == 403:
                return TypeProbe(exists=False, available=False, message=str(exc.message))
            raise
        except ValidationError as exc:
            if exc.status == 424:  # "primary attribute not found": the type exists
                return TypeProbe(exists=True, message=str(exc.message))
            if exc.status == 400 and "object" in (exc.message + exc.body_excerpt).lower():
                return TypeProbe(exists=False, message=str(exc.message))
            raise
        keys: set[str] = set()
        for rec in body.get("records") or []:
            keys |= set((rec.get("attributes") or {}).keys())
        count = body.get("count")
        return TypeProbe(exists=True, sample_keys=frozenset(keys), count=int(count) if isinstance(count, int) else None)

    def upsert(self, object_type: str, records: Sequence[Mapping[str, Any]]) -> str:
        return str(self.hook.upsert_object_records(object_type, [dict(r) for r in records]))

    def delete_records(self, object_type: str, ext_ids: Sequence[str]) -> str:
        return str(self.hook.delete_object_records(object_type, list(ext_ids)))

    def get_process(self, process_id: str) -> ProcessState:
        return process_state(process_id, self.hook.get_process(int(process_id)))

    def read_records(self, object_type: str, page_num: int, limit: int) -> list[Mapping[str, Any]]:
        return list(self._records(object_type, page_num, limit).get("records") or [])

    def find_contact(self, *, ext_id: str | None, email: str | None) -> ContactRef | None:
        if ext_id:
            if self.hook.find_contact(ext_id, identifier_type="ext_id") is not None:
                return ContactRef({"ext_id": ext_id})
        if email:
            contact = self.hook.find_contact(email.strip().lower(), identifier_type="email_id")
            if contact is not None and contact.get("id") is not None:
                return ContactRef({"id": int(contact["id"])})
        return None


class BrevoRecordSource:
    """:class:`~airflow_provider_customerio.sync.objects.RecordSource` over the Brevo hook (records pages of
    1000 with their associations; contacts by id)."""

    def __init__(self, hook: BrevoHook, page_limit: int = 1000) -> None:
        self.hook = hook
        self.page_limit = page_limit

    def iter_records(self, object_type: str) -> Iterator[BrevoRecord]:
        page = 1
        while True:
            body = (
                self.hook.request_json(
                    "GET",
                    f"/objects/{quote_path(object_type)}/records",
                    params={"limit": self.page_limit, "page_num": page, "sort": "asc", "association": "true"},
                )
                or {}
            )
            records = body.get("records") or []
            for rec in records:
                ids = rec.get("identifiers") or {}
                contacts: list[int] = []
                for assoc in rec.get("associations") or []:
                    if str(assoc.get("object_type", "")).lower() in ("contact", "contacts"):
                        contacts += [
                            int(r["identifiers"]["id"])
                            for r in assoc.get("records") or []
                            if (r.get("identifiers") or {}).get("id") is not None
                        ]
                yield BrevoRecord(
                    int(ids.get("id") or 0),
                    str(ids["ext_id"]) if ids.get("ext_id") else None,
                    dict(rec.get("attributes") or {}),
                    tuple(contacts),
                )
            if len(records) < self.page_limit:
                return
            page += 1

    def person_identifiers(self, contact_id: int) -> Mapping[str, str] | None:
        contact = self.hook.find_contact(contact_id, identifier_type="contact_id")
        if contact is None:
            return None
        ext_id = (contact.get("attributes") or {}).get("EXT_ID") or contact.get("ext_id")
        if ext_id:
            return {"id": str(ext_id)}
        if contact.get("email"):
            return {"email": str(contact["email"])}
        return None


__all__ = [
    "BrevoContactSink",
    "BrevoImportSink",
    "BrevoListTarget",
    "BrevoObjectSink",
    "BrevoRecordSource",
]
