"""Brevo events (``/events``, ``/events/batch``): validation, storage, read lag and listing."""

from __future__ import annotations

from typing import Any

from airflow_provider_customerio.sandbox.brevo.base import BrevoBase, locked
from airflow_provider_customerio.sandbox.brevo.errors import (
    BrevoError,
    InvalidParameter,
    OutOfRange,
)
from airflow_provider_customerio.sandbox.brevo.models import (
    EVENT_NAME_RE,
    MAX_BATCH_EVENTS,
    MAX_BATCH_EVENTS_BYTES,
    MAX_EVENT_PROPERTIES_BYTES,
    Contact,
    is_valid_email,
    iso_ms,
    json_size,
    parse_datetime_ms,
)


class EventsMixin(BrevoBase):
    """Events: one or a batch (partial 207 faults), stored per contact, listed with filters."""

    # ---------------------------------------------------------------------------------------------- events

    def _validate_event(self, event: Any) -> str | None:
        if not isinstance(event, dict):
            return "event must be a JSON object"
        name = event.get("event_name")
        if name is None:
            return "event_name is required"
        if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
            return "event_name must be 1-255 characters among letters, digits, '-' and '_'"
        identifiers = event.get("identifiers")
        if not isinstance(identifiers, dict) or not identifiers:
            return (
                "identifiers is required with at least one of email_id, ext_id, contact_id, phone_id, whatsapp_id, "
                "landline_number_id"
            )
        for key, value in identifiers.items():
            if key == "contact_id":
                if not isinstance(value, int) or isinstance(value, bool):
                    return "identifiers.contact_id must be an integer"
            elif key in ("email_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id"):
                if not isinstance(value, str) or not value:
                    return f"identifiers.{key} must be a non-empty string"
                if key == "email_id" and not is_valid_email(value):
                    return "identifiers.email_id is not a valid email address"
            else:
                return f"identifiers.{key} is not a supported identifier"
        if "event_date" in event and event["event_date"] is not None:
            if not isinstance(event["event_date"], str):
                return "event_date must be an ISO-8601 string"
            try:
                parse_datetime_ms(event["event_date"], "event_date")
            except InvalidParameter as exc:
                return exc.message
        props = event.get("event_properties")
        if props is not None:
            if not isinstance(props, dict):
                return "event_properties must be an object"
            for key in props:
                if not EVENT_NAME_RE.match(str(key)):
                    return f"event_properties key {key!r} must be 1-255 characters among letters, digits, '-' and '_'"
            if json_size(props) > MAX_EVENT_PROPERTIES_BYTES:
                return "event_properties exceeds the 50 KB limit"
        cprops = event.get("contact_properties")
        if cprops is not None:
            if not isinstance(cprops, dict):
                return "contact_properties must be an object"
            for key, value in cprops.items():
                if not isinstance(value, (str, int, float, bool)):
                    return f"contact_properties.{key} must be a string, number or boolean"
        obj = event.get("object")
        if obj is not None and (not isinstance(obj, dict) or not isinstance(obj.get("type"), str)):
            return "object must be an object with type and identifiers"
        return None

    def _store_event(self, event: dict[str, Any], source: str) -> None:
        identifiers = event["identifiers"]
        contact: Contact | None = None
        # contact_id takes priority over the other identifiers (https://developers.brevo.com/reference/create-event)
        for key, itype in (
            ("contact_id", "contact_id"),
            ("email_id", "email_id"),
            ("ext_id", "ext_id"),
            ("phone_id", "phone_id"),
            ("whatsapp_id", "whatsapp_id"),
            ("landline_number_id", "landline_number_id"),
        ):
            if key in identifiers:
                try:
                    contact = self.resolve(str(identifiers[key]), itype)
                except BrevoError:
                    contact = None
                break
        # Whether an unknown identifier auto-creates a contact is undocumented (docs/vendor-behaviour.md): the
        # sandbox stores the event
        # and creates nothing. contact_properties update an existing contact's attributes.
        if contact is not None and event.get("contact_properties"):
            props = self._upper_attrs(event["contact_properties"])
            self._apply_attrs(contact, props, from_csv=False, empty_clears=False)
            self._touch(contact)
        self.events.append(
            {
                "event_name": event["event_name"],
                "identifiers": identifiers,
                "event_date": event.get("event_date"),
                "contact_properties": event.get("contact_properties"),
                "event_properties": event.get("event_properties"),
                "object": event.get("object"),
                "contact_id": contact.id if contact else None,
                "received_at": iso_ms(self._now()),
                "source": source,
                "_visible_at": self.sandbox_clock.now() + self.lag["events"],
            }
        )

    @locked
    def list_events(
        self,
        *,
        event_names: list[str],
        contact_ids: list[int],
        start: str | None,
        end: str | None,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        """``GET /events``: custom events, newest first, optionally filtered by name, contact and a date window
        (both bounds or neither; ``YYYY-MM-DD`` bounds cover whole days).

        https://developers.brevo.com/reference/get-events
        """
        if (start is None) != (end is None):
            raise InvalidParameter("startDate and endDate must be given together")

        def bound(value: str, field: str, upper: bool) -> int:
            if len(value) == 10:  # a date: the whole day, in the account's time zone (filter_time_ms)
                value += "T23:59:59.999" if upper else "T00:00:00.000"
            return self.filter_time_ms(value, field)

        lo = bound(start, "startDate", False) if start else None
        hi = bound(end, "endDate", True) if end else None
        selected = []
        now = self.sandbox_clock.now()
        for event in reversed(self.events):
            if event.get("_visible_at", 0.0) > now:
                continue  # accepted, not yet readable (read lag)
            try:
                when_ms = parse_datetime_ms(str(event.get("event_date") or event["received_at"]), "event_date")
            except BrevoError:
                when_ms = parse_datetime_ms(event["received_at"], "received_at")
            when_norm = iso_ms(when_ms)
            if event_names and event["event_name"] not in event_names:
                continue
            if contact_ids and event.get("contact_id") not in contact_ids:
                continue
            if lo is not None and hi is not None and not lo <= when_ms <= hi:
                continue
            selected.append(
                {
                    "contact_id": event.get("contact_id"),
                    "event_date": when_norm,
                    "event_name": event["event_name"],
                    "object_type": (event.get("object") or {}).get("type"),
                    "event_properties": event.get("event_properties") or {},
                    "contact_properties": event.get("contact_properties") or {},
                }
            )
        return {"events": selected[offset : offset + limit], "count": len(selected)}

    @locked
    def create_event(self, event: Any) -> None:
        """``POST /events`` (204)."""
        problem = self._validate_event(event)
        if problem:
            raise InvalidParameter(problem)
        self._store_event(event, "single")
        self._bump()

    @locked
    def create_events_batch(self, body: Any, raw_size: int) -> tuple[int, dict[str, Any]]:
        """``POST /events/batch`` → (status, body): 202 all queued, or 207 with per-index errors.

        https://developers.brevo.com/reference/create-batch-events
        """
        if raw_size > MAX_BATCH_EVENTS_BYTES:
            raise OutOfRange("Batch body exceeds 512 KB; send at most 200 events and 512 KB per request")
        # Accept {"events": [...]} (SDK5) and a bare array (SDK 4.x), docs/vendor-behaviour.md.
        events = body.get("events") if isinstance(body, dict) else body
        if not isinstance(events, list):
            raise InvalidParameter('Body must be {"events": [ ... ]} (or a JSON array of events)')
        if not 1 <= len(events) <= MAX_BATCH_EVENTS:
            raise OutOfRange(f"events must contain between 1 and {MAX_BATCH_EVENTS} events (got {len(events)})")
        inject = self.take_fault("events_partial_207")
        errors: dict[str, list[int]] = {}
        ok = 0
        for index, event in enumerate(events):
            problem = self._validate_event(event)
            if problem is None and inject and index % 2 == 0:
                problem = "Temporary failure: event could not be queued, retry it"
            if problem:
                errors.setdefault(problem, []).append(index)
                continue
            self._store_event(event, "batch")
            ok += 1
        self._bump()
        if not errors:
            message = "Batch accepted. Valid events have been added to the processing queue."
            return 202, {"message": message, "count": ok}
        # BatchEventsResponse (changelog 2026-03-03, SDK5). ⚠ The "status" strings are not documented; chosen here.
        return 207, {
            "status": "partial_success" if ok else "failed",
            "total_events": len(events),
            "successful_events": ok,
            "failed_events": len(events) - ok,
            "errors": [{"eventIndex": idx, "message": msg} for msg, idx in errors.items()],
        }

    @locked
    def stored_events(self) -> list[dict[str, Any]]:
        """Control plane: every accepted event, in arrival order (readable or not yet)."""
        return [{k: v for k, v in e.items() if k != "_visible_at"} for e in self.events]
