"""Adapters of the Customer.io App API hook to the sync ports (people, objects, segments)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_customerio.exceptions import (
    NotFoundError,
    ProcessFailedError,
    ProcessTimeoutError,
)
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.sync.mapping import Person
from airflow_provider_customerio.sync.people.ports import HYDRATE_CHUNK, Change
from airflow_provider_customerio.sync.segments.model import MEMBERSHIP_LIMIT, SegmentMirrorError


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
        """Create the people export and wait for it; fall back to search + hydrate when exports fail."""
        try:
            export = self.hook.create_customer_export(attributes=[*self.attributes, "unsubscribed"])
            self.hook.wait_for_export(
                export["id"], timeout=self.export_timeout, check_interval=self.export_check_interval
            )
            return {"export_id": export["id"]}
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


__all__ = ["CustomerIOPeopleSource", "CustomerIOSegmentSource"]
