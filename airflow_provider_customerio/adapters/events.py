"""Adapters of event forwarding: the Brevo hook as the forwarder's
:class:`~airflow_provider_customerio.sync.events.ports.EventSink`, and the Customer.io activity feed copied into the
event store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from airflow_provider_customerio.exceptions import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.sync.events.ports import (
    SOURCE_ACTIVITY,
    SOURCE_ID_PROPERTY,
    BatchRejected,
    DeliveryNotAttempted,
    DeliveryUncertain,
)
from airflow_provider_customerio.sync.events.reconcile import forwarded_ids, reconcile_query
from airflow_provider_customerio.sync.events.sources import activity_event_key
from airflow_provider_customerio.sync.events.track import TrackEvent
from airflow_provider_customerio.sync.events.windows import iter_window_activities


def _never_connected(cause: BaseException | None) -> bool:
    """True when the request certainly never reached the server (connect timeout or refused connection)."""
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    text = repr(cause)
    return isinstance(cause, requests.exceptions.ConnectionError) and (
        "NewConnectionError" in text or "Connection refused" in text
    )


class BrevoEventSink:
    """:class:`~airflow_provider_customerio.sync.events.ports.EventSink` over :class:`BrevoHook`: classifies failures as
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


class CustomerIOActivityFeed:
    """:class:`~airflow_provider_customerio.sync.events.run.ActivityFeed` over :class:`CustomerIOAppHook`: the
    ``event`` items of the activity feed (newest first), copied into the event store or previewed for a dry run."""

    def __init__(self, hook: CustomerIOAppHook, *, chunk: int = 500) -> None:
        self.hook = hook
        self.chunk = chunk

    def _window(self, start: int | None, end: int | None) -> Iterator[Mapping[str, Any]]:
        return iter_window_activities(self.hook.iter_activities(type="event"), start, end)

    def ingest(self, store: EventStore, start: int | None, end: int | None) -> tuple[int, int]:
        """Copy the ``event`` activities of ``[start, end)`` into the store (deduplicated). Returns (read, new)."""
        read = new = 0
        rows: list[StoredEvent] = []
        for act in self._window(start, end):
            read += 1
            rows.append(_row(act))
            if len(rows) >= self.chunk:
                new += len(store.add(rows))
                rows = []
        new += len(store.add(rows))
        return read, new

    def unseen(self, store: EventStore, start: int, end: int, known: set[str]) -> list[StoredEvent]:
        """Rows of the window's activities neither in ``known`` nor in the store; nothing is written."""
        rows: list[StoredEvent] = []
        for act in self._window(start, end):
            key = activity_event_key(act)
            if key not in known and store.get(key) is None:
                known.add(key)
                rows.append(_row(act))
        return rows


def _row(act: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(
        event_id=activity_event_key(act),
        source=SOURCE_ACTIVITY,
        payload=json.dumps(act, separators=(",", ":"), ensure_ascii=False),
        event_ts=int(act["timestamp"]),
    )


class CustomerIOTrackEventSink:
    """:class:`~airflow_provider_customerio.sync.events.track.TrackSink` over :class:`CustomerIOTrackHook`: a
    person's event (``/api/v1/customers/{id}/events``) or an anonymous one (``/api/v1/events``), each with its
    deterministic id; a 4xx refusal is returned as its message."""

    def __init__(self, hook: CustomerIOTrackHook) -> None:
        self.hook = hook

    def send(self, event: TrackEvent) -> str | None:
        try:
            if event.identifier is not None:
                self.hook.track_event(
                    event.identifier, event.name, dict(event.data), event_id=event.event_id, timestamp=event.timestamp
                )
            else:
                self.hook.track_anonymous_event(
                    event.name,
                    anonymous_id=event.anonymous_id,
                    data=dict(event.data),
                    event_id=event.event_id,
                    timestamp=event.timestamp,
                )
        except ValidationError as exc:
            return exc.message
        return None


__all__ = ["BrevoEventSink", "CustomerIOActivityFeed", "CustomerIOTrackEventSink"]
