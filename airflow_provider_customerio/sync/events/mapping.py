"""Customer.io events -> Brevo events through ``event_mapping``, and the packer of ``POST /events/batch``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_customerio.sync.batching import Packer, json_size
from airflow_provider_customerio.sync.events.ports import Rejection
from airflow_provider_customerio.sync.events.sources import SourceEvent
from airflow_provider_customerio.sync.mapping import ConversionError, normalise_email

MAX_EVENTS_PER_BATCH = 200
MAX_BATCH_BYTES = 512 * 1024
MAX_EVENT_PROPERTIES_BYTES = 50 * 1024
#: ``{"events":[`` + ``]}`` around the items of a batch body (compact JSON, as the hook sends it).
BATCH_OVERHEAD_BYTES = len('{"events":[]}')
BREVO_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def iso_date(ts: int) -> str:
    """Unix seconds as ISO-8601 UTC with offset (``2024-01-24T17:39:57+00:00``), Brevo's ``event_date`` form."""
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).isoformat()


class EventMapper:
    """Turns :class:`SourceEvent` into Brevo events through ``event_mapping``.

    :param event_mapping: Customer.io event name -> Brevo event name (config ``connectors.customerio.event_mapping``).
    :param unmapped: ``skip`` (default) or ``passthrough`` (forward under the Customer.io name when it is a valid
        Brevo name; otherwise reject with ``invalid_event_name``).
    """

    def __init__(self, event_mapping: Mapping[str, str], unmapped: str = "skip") -> None:
        if unmapped not in ("skip", "passthrough"):
            raise ValueError(
                f"connectors.customerio.events.unmapped: {unmapped!r} is not allowed; use `skip` or `passthrough`."
            )
        for src, dst in event_mapping.items():
            if not isinstance(dst, str) or not BREVO_NAME_RE.match(dst):
                raise ValueError(
                    f"connectors.customerio.event_mapping.{src}: {dst!r} is not a valid Brevo event name; use "
                    "letters, digits, `-` and `_` (at most 255 characters), e.g. ORDER_PLACED."
                )
        self.event_mapping = dict(event_mapping)
        self.unmapped = unmapped

    def brevo_name(self, src: SourceEvent) -> str | Rejection:
        name = src.name
        if name is None:
            return Rejection(
                src.event_id, "malformed_event", "the stored event has no metric/name; it cannot be named in Brevo"
            )
        if name in self.event_mapping:
            return self.event_mapping[name]
        if self.unmapped == "skip":
            return Rejection(
                src.event_id,
                "unmapped_event",
                f"`{name}` is not in connectors.customerio.event_mapping (events.unmapped is `skip`): "
                "add it to event_mapping to forward it",
                skipped=True,
            )
        if not BREVO_NAME_RE.match(name):
            return Rejection(
                src.event_id,
                "invalid_event_name",
                f"`{name[:80]}` is not a valid Brevo event name (letters, digits, `-`, `_`, <= 255): "
                "map it to a valid name in connectors.customerio.event_mapping",
            )
        return name

    def map(self, src: SourceEvent) -> dict[str, Any] | Rejection:
        """The Brevo event for ``src``, or why it is not forwarded."""
        name = self.brevo_name(src)
        if isinstance(name, Rejection):
            return Rejection(
                name.event_id, name.reason, name.message, name.skipped, {"email": src.email, "id": src.person_id}
            )
        identifiers: dict[str, Any] = {}
        bad_email: str | None = None
        if src.email:
            try:
                identifiers["email_id"] = normalise_email(src.email)
            except ConversionError as exc:
                bad_email = str(exc)
        if src.person_id:
            identifiers["ext_id"] = src.person_id
        if not identifiers:
            detail = f" ({bad_email})" if bad_email else ""
            return Rejection(
                src.event_id,
                "missing_identifier",
                f"the event names no person by a valid email or an id{detail}; Brevo needs one",
                identifiers={"email": src.email},
            )
        props = src.properties
        props_size = json_size(props, compact=True)
        if props_size > MAX_EVENT_PROPERTIES_BYTES:
            biggest = max(props, key=lambda k: json_size(props[k], compact=True))
            return Rejection(
                src.event_id,
                "oversized_record",
                f"event_properties are {props_size} bytes, over Brevo's {MAX_EVENT_PROPERTIES_BYTES}-byte "
                f"limit (largest property `{biggest}`); shrink that data in Customer.io",
                identifiers={"email": src.email, "id": src.person_id},
            )
        event: dict[str, Any] = {"event_name": name, "identifiers": identifiers}
        if src.timestamp is not None:
            event["event_date"] = iso_date(src.timestamp)
        event["event_properties"] = props
        return event


def event_packer() -> Packer[tuple[str, dict[str, Any]]]:
    """The shared packer configured for ``POST /events/batch`` (<= 200 events, <= 512 KB body)."""
    return Packer(
        max_bytes=MAX_BATCH_BYTES,
        max_count=MAX_EVENTS_PER_BATCH,
        size_of=lambda item: json_size(item[1], compact=True),
        overhead_bytes=BATCH_OVERHEAD_BYTES,
        separator_bytes=1,
    )
