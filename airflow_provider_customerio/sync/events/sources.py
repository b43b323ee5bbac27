"""Customer.io events as stored in the outbox, read back as :class:`SourceEvent`: reporting webhooks (checked
when received) and behavioural events of the App API activity feed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_customerio.sync.events.ports import SOURCE_ACTIVITY, SOURCE_ID_PROPERTY, SOURCE_WEBHOOK

ACTIVITY_KEY_PREFIX = "activity:"
MAX_EVENT_ID_LENGTH = 191
_KEY_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")
#: Webhook ``data`` fields not forwarded (identifiers go to ``identifiers``; bodies and headers are bulky).
_WEBHOOK_DATA_EXCLUDED = frozenset({"identifiers", "customer_id", "content", "headers"})


class MalformedEventError(ValueError):
    """A webhook body is not a usable reporting-webhook event; the message names the field and the fix."""


def validate_webhook_payload(payload: Any) -> tuple[str, int | None]:
    """Check the minimum a webhook body needs to be stored: a JSON object with a string ``event_id``.

    Anything else is kept as received and judged when forwarding (a 400 here would make Customer.io hold back
    every later event for an hour, so only unusable bodies are refused).

    :return: ``(event_id, timestamp or None)``.
    :raises MalformedEventError: naming the field.
    """
    if not isinstance(payload, dict):
        raise MalformedEventError("the body must be a JSON object (one reporting-webhook event)")
    event_id = payload.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise MalformedEventError("field `event_id` is missing or not a non-empty string")
    if len(event_id) > MAX_EVENT_ID_LENGTH:
        raise MalformedEventError(f"field `event_id` is longer than {MAX_EVENT_ID_LENGTH} characters")
    if event_id.startswith(ACTIVITY_KEY_PREFIX):
        raise MalformedEventError(f"field `event_id` must not start with {ACTIVITY_KEY_PREFIX!r}")
    ts = payload.get("timestamp")
    timestamp = int(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None
    return event_id, timestamp


def activity_event_key(activity: Mapping[str, Any]) -> str:
    """Dedupe key of an activity-feed event."""
    return f"{ACTIVITY_KEY_PREFIX}{activity.get('id')}"


def webhook_event_name(payload: Mapping[str, Any]) -> str | None:
    """``<object_type>_<metric>`` (``email_opened``); ``cio_subscription_preferences_changed`` on a customer becomes
    ``customer_subscription_preferences_changed`` as in the webhook configuration. ``None`` without a metric."""
    metric = payload.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        return None
    metric = metric.strip()
    if metric.startswith("cio_"):
        metric = metric[4:]
    obj = payload.get("object_type") or payload.get("object_type_type")  # spec quirk, docs/vendor-behaviour.md
    return f"{obj}_{metric}" if isinstance(obj, str) and obj.strip() else metric


@dataclass(frozen=True)
class SourceEvent:
    """A Customer.io event, whatever its source, ready to be mapped.

    :param event_id: the dedupe key (the value of ``cio_event_id`` in Brevo).
    :param name: the Customer.io event name.
    :param timestamp: unix seconds, when known.
    :param email: the person's email, when known.
    :param person_id: the person's Customer.io ``id`` (Brevo ext_id), when known.
    :param properties: properties to forward (source metadata included).
    """

    event_id: str
    source: str
    name: str | None
    timestamp: int | None
    email: str | None
    person_id: str | None
    properties: dict[str, Any]


def str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _clean_props(data: Any, excluded: frozenset[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(data, Mapping):
        return out
    for key, value in data.items():
        if key in excluded or value is None:
            continue
        name = _KEY_BAD_CHARS.sub("_", str(key))[:255] or "_"
        out.setdefault(name, value)
    return out


def from_webhook(event_id: str, payload: Any) -> SourceEvent:
    """A stored reporting-webhook body as a :class:`SourceEvent` (a non-object payload gives ``name=None``)."""
    if not isinstance(payload, Mapping):
        return SourceEvent(event_id, SOURCE_WEBHOOK, None, None, None, None, {})
    raw_data = payload.get("data")
    data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
    raw_ident = data.get("identifiers")
    ident: Mapping[str, Any] = raw_ident if isinstance(raw_ident, Mapping) else {}
    obj = payload.get("object_type") or payload.get("object_type_type")
    email = str_or_none(ident.get("email")) or str_or_none(data.get("email_address"))
    if email is None and obj == "email" and "@" in str(data.get("recipient") or ""):
        email = str_or_none(data.get("recipient"))
    person_id = str_or_none(ident.get("id")) or str_or_none(data.get("customer_id"))
    props = _clean_props(data, _WEBHOOK_DATA_EXCLUDED)
    if str_or_none(ident.get("cio_id")):
        props.setdefault("cio_id", str(ident["cio_id"]))
    props.update(
        {
            SOURCE_ID_PROPERTY: event_id,
            "cio_source": "reporting_webhook",
            "cio_event": webhook_event_name(payload),
            "cio_object_type": obj,
            "cio_metric": payload.get("metric"),
        }
    )
    ts = payload.get("timestamp")
    return SourceEvent(
        event_id=event_id,
        source=SOURCE_WEBHOOK,
        name=webhook_event_name(payload),
        timestamp=int(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None,
        email=email,
        person_id=person_id,
        properties={k: v for k, v in props.items() if v is not None},
    )


def from_activity(activity: Mapping[str, Any]) -> SourceEvent:
    """An App API activity of type ``event`` as a :class:`SourceEvent`."""
    key = activity_event_key(activity)
    raw_ident = activity.get("customer_identifiers")
    ident: Mapping[str, Any] = raw_ident if isinstance(raw_ident, Mapping) else {}
    props = _clean_props(activity.get("data"))
    if activity.get("delivery_id"):
        props.setdefault("delivery_id", activity["delivery_id"])
    if str_or_none(ident.get("cio_id")):
        props.setdefault("cio_id", str(ident["cio_id"]))
    props.update(
        {
            SOURCE_ID_PROPERTY: key,
            "cio_source": "activity",
            "cio_event": activity.get("name"),
            "cio_activity_id": str(activity.get("id")),
        }
    )
    ts = activity.get("timestamp")
    name = activity.get("name")
    return SourceEvent(
        event_id=key,
        source=SOURCE_ACTIVITY,
        name=name.strip() if isinstance(name, str) and name.strip() else None,
        timestamp=int(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None,
        email=str_or_none(ident.get("email")),
        person_id=str_or_none(ident.get("id")) or str_or_none(activity.get("customer_id")),
        properties={k: v for k, v in props.items() if v is not None},
    )


def source_event(row: Any) -> SourceEvent:
    """The source event of a stored row (a reporting webhook, or an activity-feed event)."""
    payload = row.payload_json()
    if row.source == SOURCE_ACTIVITY:
        if isinstance(payload, Mapping):
            return from_activity(payload)
        return SourceEvent(row.event_id, SOURCE_ACTIVITY, None, None, None, None, {})
    return from_webhook(row.event_id, payload)
