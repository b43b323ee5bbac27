"""Adapters of the Brevo hook to the sync ports (contacts, imports, objects, lists, events, processes)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import requests

from airflow_provider_customerio.adapters.brevo_imports import (
    BrevoImports,
    import_process_state,
    process_state,
)
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.transport import quote_path
from airflow_provider_customerio.sync.events import (
    SOURCE_ID_PROPERTY,
    BatchRejected,
    DeliveryNotAttempted,
    DeliveryUncertain,
    forwarded_ids,
    reconcile_query,
)
from airflow_provider_customerio.sync.mapping import BrevoAttribute
from airflow_provider_customerio.sync.objects import (
    BrevoRecord,
    ContactRef,
    TypeProbe,
)
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.reverse import (
    BrevoContact,
    format_brevo_time,
)


class BrevoContactSource:
    """:class:`~airflow_provider_customerio.sync.reverse.ContactSource` over :class:`BrevoHook`: the Brevo side of a
    reverse run (read only)."""

    def __init__(self, hook: BrevoHook) -> None:
        self.hook = hook

    def list_attributes(self) -> list[BrevoAttribute]:
        """The account's contact attributes."""
        return [BrevoAttribute.from_api(a) for a in self.hook.list_attributes()]

    def iter_modified(self, since: datetime | None) -> Iterator[BrevoContact]:
        """``GET /contacts?modifiedSince=…&sort=asc``, 1000 per page. Brevo's filter is "modified after", so the
        mark is moved back one millisecond to include a contact changed exactly at ``since``."""
        mark = format_brevo_time(since - timedelta(milliseconds=1)) if since is not None else None
        for item in self.hook.iter_contacts(modified_since=mark, limit=1000, sort="asc"):
            yield BrevoContact.from_api(item)

    def contact_exists(self, contact_id: int) -> bool:
        """``GET /contacts/{id}``: False on 404."""
        try:
            self.hook.get_contact(str(int(contact_id)), identifier_type="contact_id")
        except NotFoundError:
            return False
        return True


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


def _never_connected(cause: BaseException | None) -> bool:
    """True when the request certainly never reached the server (connect timeout or refused connection)."""
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    text = repr(cause)
    return isinstance(cause, requests.exceptions.ConnectionError) and (
        "NewConnectionError" in text or "Connection refused" in text
    )


class BrevoEventSink:
    """:class:`~airflow_provider_customerio.sync.events.EventSink` over :class:`BrevoHook`: classifies failures as
    certainly not delivered, uncertain, or refused, and reads ``GET /events`` to reconcile."""

    def __init__(self, hook: BrevoHook, *, page_size: int = 500) -> None:
        self.hook = hook
        self.page_size = page_size

    def send_batch(self, events: list[dict[str, Any]]) -> dict[int, str]:
        try:
            result = self.hook.create_events_batch(events)
        except (AuthError, RateLimitError) as exc:
            raise DeliveryNotAttempted(str(exc)) from exc
        except ValidationError as exc:
            raise BatchRejected(exc.message) from exc
        except NotFoundError as exc:
            raise DeliveryNotAttempted(f"{exc} (is the Brevo connection's host right?)") from exc
        except ServerError as exc:
            if exc.status == 0 and _never_connected(exc.__cause__):
                raise DeliveryNotAttempted(str(exc)) from exc
            raise DeliveryUncertain(str(exc)) from exc
        except ApiError as exc:  # e.g. a redirect: not processed
            raise DeliveryNotAttempted(str(exc)) from exc
        return {int(e["index"]): str(e.get("message", "")) for e in result.errors}

    def find_forwarded(self, events: list[dict[str, Any]]) -> set[str]:
        wanted = {str((ev.get("event_properties") or {}).get(SOURCE_ID_PROPERTY)) for ev in events}
        params = reconcile_query(events, time.time())
        found: set[str] = set()
        for item in self.hook.iter_events(
            event_names=params["event_name"],
            start_date=params["startDate"],
            end_date=params["endDate"],
            limit=self.page_size,
        ):
            found |= forwarded_ids([item], wanted)
            if found >= wanted:
                break
        return found


__all__ = [
    "BrevoContactSink",
    "BrevoContactSource",
    "BrevoEventSink",
    "BrevoObjectSink",
    "BrevoRecordSource",
]
