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
from airflow_provider_customerio.sync.events import (
    SOURCE_ID_PROPERTY,
    BatchRejected,
    DeliveryNotAttempted,
    DeliveryUncertain,
    forwarded_ids,
    reconcile_query,
)
from airflow_provider_customerio.sync.mapping import BrevoAttribute
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
]
