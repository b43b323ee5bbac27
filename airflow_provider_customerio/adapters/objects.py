"""Adapters of the vendor hooks to the object sync's ports (:mod:`airflow_provider_customerio.sync.objects.ports`).

Customer.io -> Brevo: :class:`CustomerIOObjectSource` (App API) and :class:`BrevoObjectSink`. Brevo ->
Customer.io: :class:`BrevoRecordSource` and :class:`CustomerIOObjectWriter` (Track API).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import process_state
from airflow_provider_customerio.exceptions import AuthError, NotFoundError, ValidationError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.hooks.transport import quote_path
from airflow_provider_customerio.sync.objects.ports import (
    BrevoRecord,
    CioObject,
    ContactRef,
    RelatedPerson,
    TypeProbe,
)
from airflow_provider_customerio.sync.processes import ProcessState

# ------------------------------------------------------------------------------------------ Customer.io


class CustomerIOObjectSource:
    """:class:`~airflow_provider_customerio.sync.objects.ports.ObjectSource` over the Customer.io App API hook.

    :param filters: optional ``POST /v1/objects`` filter per Customer.io type id (default: every object).
    """

    def __init__(self, hook: CustomerIOAppHook, filters: Mapping[str, Any] | None = None) -> None:
        self.hook = hook
        self.filters = {str(k): v for k, v in (filters or {}).items()}

    def list_object_types(self) -> list[Mapping[str, Any]]:
        return list(self.hook.list_object_types())

    def iter_object_ids(self, type_id: str) -> Iterator[str]:
        for ident in self.hook.iter_objects(type_id, self.filters.get(type_id)):
            if ident.get("object_id") not in (None, ""):
                yield str(ident["object_id"])

    def get_object(self, type_id: str, object_id: str) -> CioObject | None:
        try:
            obj = self.hook.get_object_attributes(type_id, object_id)
        except NotFoundError:
            return None
        ids = obj.get("identifiers") or {}
        return CioObject(object_id, dict(obj.get("attributes") or {}), ids.get("cio_object_id"))

    def iter_related_people(self, type_id: str, object_id: str) -> Iterator[RelatedPerson]:
        for rel in self.hook.iter_object_relationships(type_id, object_id):
            ids = rel.get("identifiers") or {}
            pid = str(ids["id"]) if ids.get("id") not in (None, "") else None
            email = str(ids["email"]) if ids.get("email") not in (None, "") else None
            key = ids.get("cio_id") or (f"id:{pid}" if pid else f"email:{email}" if email else None)
            if key:
                yield RelatedPerson(cio_id=str(key), id=pid, email=email)


class CustomerIOObjectWriter:
    """:class:`~airflow_provider_customerio.sync.objects.ports.ObjectWriter` over the Track hook."""

    def __init__(self, hook: CustomerIOTrackHook) -> None:
        self.hook = hook

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        result = self.hook.batch([dict(op) for op in operations])
        return [(int(e["index"]), str(e.get("message") or e.get("reason") or "rejected")) for e in result.errors]


# ------------------------------------------------------------------------------------------ Brevo


#: Records sampled by the type probe (attribute keys seen on them are known to exist).
PROBE_LIMIT = 100


class BrevoObjectSink:
    """:class:`~airflow_provider_customerio.sync.objects.ports.ObjectSink` over the Brevo hook.

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
        # answers 404 (or 400 "invalid object_type") for a type that does not exist. See sync/objects/plan.py.
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
    """:class:`~airflow_provider_customerio.sync.objects.ports.RecordSource` over the Brevo hook (records pages of
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
