"""The people sync's adapters (Customer.io -> Brevo): the Customer.io App API hook as its
:class:`~airflow_provider_customerio.sync.people.ports.PeopleSource` and the Brevo hook as its
:class:`~airflow_provider_customerio.sync.people.ports.ContactSink`."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import BrevoImports, import_process_state
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.exceptions import NotFoundError, ProcessFailedError, ProcessTimeoutError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import MAX_EXPORT_FILTER_IDS, CustomerIOAppHook
from airflow_provider_customerio.sync.mapping import BrevoAttribute, Person
from airflow_provider_customerio.sync.people.ports import HYDRATE_CHUNK, Change
from airflow_provider_customerio.sync.processes import ProcessState

#: Activity types read from the feed (each read newest first, merged by time) and what they mean for Brevo.
CHANGE_ACTIVITY_TYPES: Mapping[str, str] = {
    "attribute_change": "upsert",
    "profile_create": "upsert",
    "profile_merge": "upsert",
    "profile_delete": "delete",
}


class CustomerIOPeopleSource:
    """:class:`~airflow_provider_customerio.sync.people.ports.PeopleSource` over :class:`CustomerIOAppHook`.

    :param hook: the App API hook.
    :param attributes: Customer.io attributes to export in full mode.
    :param export_timeout: seconds to wait for a people export.
    :param export_check_interval: seconds between polls of the export.
    """

    def __init__(
        self,
        hook: CustomerIOAppHook,
        *,
        attributes: Sequence[str],
        export_timeout: float = 3600.0,
        export_check_interval: float = 5.0,
    ) -> None:
        self.hook = hook
        self.attributes = [a for a in dict.fromkeys(attributes) if a not in ("id", "email", "cio_id")]
        self.export_timeout = export_timeout
        self.export_check_interval = export_check_interval

    def iter_changes(self, since: datetime, until: datetime) -> Iterator[Change]:
        """One typed feed scan per change type (server-side filter: events do not cost pages), each newest first
        and stopped at the first item older than ``since``; merged newest first."""
        # Activity times are whole seconds: floor the start so a change in the same second as a fractional window
        # start is not lost (re-reading it in two windows is harmless, the sync is idempotent).
        lo, hi = math.floor(since.timestamp()), until.timestamp()

        def scan(activity_type: str, kind: str) -> Iterator[Change]:
            for act in self.hook.iter_activities(type=activity_type, deleted=True):
                ts = int(act.get("timestamp") or 0)
                if ts >= hi:
                    continue
                if ts < lo:
                    return  # the feed is newest first: everything after is older still
                ids = act.get("customer_identifiers") or {}
                cio_id = ids.get("cio_id")
                if not cio_id:
                    continue
                yield Change(str(cio_id), kind, ts, ids.get("email") or None, ids.get("id") or None)
                merged = (act.get("data") or {}).get("merged") if activity_type == "profile_merge" else None
                if isinstance(merged, Mapping) and merged.get("cio_id"):
                    # the secondary profile of a merge is gone from Customer.io
                    yield Change(
                        str(merged["cio_id"]), "delete", ts, merged.get("email") or None, merged.get("id") or None
                    )

        scans = [scan(t, k) for t, k in CHANGE_ACTIVITY_TYPES.items()]
        yield from heapq.merge(*scans, key=lambda c: -c.timestamp)

    def hydrate(self, cio_ids: Sequence[str]) -> list[Person]:
        return [
            self.person_from_item(item) for item in self.hook.get_people_attributes(list(cio_ids), id_type="cio_id")
        ]

    def start_changed_export(self, cio_ids: Sequence[str]) -> dict[str, Any] | None:
        """Export exactly these people (``POST /v1/exports/customers`` with an ``or`` of ``cio_id`` ``eq``
        conditions, :data:`MAX_EXPORT_FILTER_IDS` per export, all created before waiting) and wait for them.

        Returns a JSON-safe token for :meth:`iter_export` with the App calls spent (``calls``: creation and polls,
        plus the link and file reads still to come) and the seconds waited, or ``None`` when an export failed
        (the caller reads the people through :meth:`hydrate` instead).
        """
        ids = list(dict.fromkeys(str(c) for c in cio_ids))
        if not ids:
            return None
        calls0, t0 = self.hook.api_calls, time.monotonic()
        try:
            export_ids = [
                self.hook.create_customer_export(
                    filters=self.hook.ids_filter(ids[i : i + MAX_EXPORT_FILTER_IDS]),
                    attributes=[*self.attributes, "unsubscribed"],
                )["id"]
                for i in range(0, len(ids), MAX_EXPORT_FILTER_IDS)
            ]
            for export_id in export_ids:
                self.hook.wait_for_export(
                    export_id, timeout=self.export_timeout, check_interval=self.export_check_interval
                )
        except (ProcessFailedError, ProcessTimeoutError, NotFoundError, KeyError) as exc:
            self.hook.log.warning("Filtered people export unavailable (%s); hydrating the changed people", exc)
            return None
        calls = self.hook.api_calls - calls0 + 2 * len(export_ids)  # + the link and the file of each
        return {"export_ids": export_ids, "calls": calls, "seconds": round(time.monotonic() - t0, 3)}

    def iter_export(self, token: Mapping[str, Any]) -> Iterator[Person]:
        """The people of :meth:`start_changed_export`'s exports, in file order (stable: resumable by position)."""
        for export_id in token.get("export_ids") or ():
            yield from self.iter_full({"export_id": export_id})

    @staticmethod
    def person_from_item(item: Mapping[str, Any]) -> Person:
        ids = item.get("identifiers") or {}
        attrs = dict(item.get("attributes") or {})
        times = {str(k): int(v) for k, v in (item.get("timestamps") or {}).items() if isinstance(v, (int, float))}
        return Person(
            cio_id=str(ids.get("cio_id") or attrs.get("cio_id")),
            id=ids.get("id") or None,
            email=ids.get("email") or None,
            attributes=attrs,
            unsubscribed=bool(item.get("unsubscribed")),
            timestamps=times,
        )

    def start_full(self) -> dict[str, Any]:
        """Create the people export and wait for it; fall back to search + hydrate when exports fail. The token
        also carries the App calls the export costs (creation, polls, link, file) and the seconds waited."""
        calls0, t0 = self.hook.api_calls, time.monotonic()
        try:
            export = self.hook.create_customer_export(attributes=[*self.attributes, "unsubscribed"])
            self.hook.wait_for_export(
                export["id"], timeout=self.export_timeout, check_interval=self.export_check_interval
            )
            calls = self.hook.api_calls - calls0 + 2
            return {"export_id": export["id"], "calls": calls, "seconds": round(time.monotonic() - t0, 3)}
        except (ProcessFailedError, ProcessTimeoutError, NotFoundError, KeyError) as exc:
            self.hook.log.warning("People export unavailable (%s); falling back to search + hydrate", exc)
            return {"search": True}

    def iter_full(self, token: Mapping[str, Any]) -> Iterator[Person]:
        if token.get("export_id") is not None:
            for row in self.hook.iter_export_rows(token["export_id"]):
                cio_id = row.get("cio_id")
                if not cio_id:
                    continue
                attrs = {k: v for k, v in row.items() if v not in (None, "") and k != "unsubscribed"}
                unsub = str(row.get("unsubscribed") or "").strip().lower() in ("true", "1")
                yield Person(
                    cio_id=str(cio_id),
                    id=row.get("id") or None,
                    email=row.get("email") or None,
                    attributes=attrs,
                    unsubscribed=unsub,
                )
            return
        chunk: list[str] = []
        for ident in self.hook.search_people():
            if ident.get("cio_id"):
                chunk.append(str(ident["cio_id"]))
            if len(chunk) >= HYDRATE_CHUNK:
                yield from self.hydrate(chunk)
                chunk = []
        if chunk:
            yield from self.hydrate(chunk)


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


__all__ = ["BrevoContactSink", "CHANGE_ACTIVITY_TYPES", "CustomerIOPeopleSource"]
