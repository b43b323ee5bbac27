"""Adapters of the reverse people sync (Brevo -> Customer.io): the Brevo hook as its
:class:`~airflow_provider_customerio.sync.reverse.ports.ContactSource`, the Customer.io Track and App hooks as its
:class:`~airflow_provider_customerio.sync.reverse.ports.PeopleWriter`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_customerio.adapters.people import CustomerIOPeopleSource
from airflow_provider_customerio.exceptions import NotFoundError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.sync.mapping import BrevoAttribute
from airflow_provider_customerio.sync.reverse.ports import BatchError, BrevoContact, Profile, format_brevo_time


class BrevoContactSource:
    """:class:`~airflow_provider_customerio.sync.reverse.ports.ContactSource` over :class:`BrevoHook`: the Brevo
    side of a reverse run (read only)."""

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


class CustomerIOPeopleWriter:
    """:class:`~airflow_provider_customerio.sync.reverse.ports.PeopleWriter` over the Track hook (v2 batches) and the
    App hook (profiles, only to check conflicts): the Customer.io side of a reverse run."""

    def __init__(self, track: CustomerIOTrackHook, app: CustomerIOAppHook) -> None:
        self.track = track
        self.app = app

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[BatchError]:
        """``POST /api/v2/batch``; the 207 per-operation errors."""
        result = self.track.batch([dict(op) for op in operations])
        return [
            BatchError(
                index=int(e.get("index", -1)),
                reason=str(e.get("reason") or "invalid"),
                message=str(e.get("message") or ""),
                field=str(e.get("field") or ""),
            )
            for e in result.errors
        ]

    def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
        """Profiles by cio_id (≤ 100 per call), built as the people sync builds them, with the latest attribute
        timestamp (for ``newest_wins``)."""
        out = []
        for item in self.app.get_people_attributes(list(cio_ids), id_type="cio_id"):
            times = {
                str(k): int(v)
                for k, v in (item.get("timestamps") or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            out.append(
                Profile(
                    CustomerIOPeopleSource.person_from_item(item),
                    max(times.values()) if times else None,
                    field_times=times,
                )
            )
        return out


__all__ = ["BrevoContactSource", "CustomerIOPeopleWriter"]
