"""Event forwarding logic: Customer.io events -> Brevo events, and events -> Customer.io Track.

Pure: no Airflow and no HTTP imports. The operator wires the ports (the outbox store, Brevo) to real objects.

Customer.io side:

* a **reporting webhook** (https://docs.customer.io/api/webhooks/) is named ``<object_type>_<metric>``
  (``email_opened``, ``customer_subscribed``), the event names of the reporting-webhook configuration
  (https://docs.customer.io/api/app/); its dedupe key is its ``event_id``;
* a **behavioural event** from the App API activity feed (type ``event``,
  https://docs.customer.io/api/app/#operation/listActivities) keeps its own name (``purchase_completed``); its
  dedupe key is ``activity:<activity id>``.

Brevo side (https://developers.brevo.com/reference/create-event):
``event_name`` (``[A-Za-z0-9_-]``, <= 255), ``identifiers`` (``email_id`` and/or
``ext_id``; the people sync stores the Customer.io ``id`` as the contact's ext_id), ``event_date`` (ISO-8601, kept
from the source), ``event_properties`` (<= 50 KB) including ``campaign_id``, ``delivery_id`` and
``cio_event_id``, the source event id. ``POST /events/batch`` takes <= 200 events and <= 512 KB.

Delivery guarantee (:class:`EventForwarder`): Brevo has no idempotency key for events, so an outbox is used.
Rows are durably marked ``in_flight`` (with the exact payload) before the call and ``sent``/``rejected`` after it.
A crash or an ambiguous failure (timeout, 5xx, connection reset) between the two leaves rows ``in_flight``; the
next run asks Brevo (``GET /events``) which of them it holds, by ``event_properties.cio_event_id``, marks those
``sent`` and resends only the others. Brevo therefore ends with each event once, **provided Brevo lists an
accepted event within the grace period** (``reconcile_grace_seconds``, default 60 s; Brevo queues batch events
before processing them). An event still queued inside Brevo after that grace period would be resent: that is
the one residual duplicate window, and it is documented rather than hidden.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from airflow_provider_customerio.store.inbox import PENDING, REJECTED, SENT, SKIPPED
from airflow_provider_customerio.sync._time import parse_iso, to_epoch
from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.mapping import ConversionError, normalise_email
from airflow_provider_customerio.sync.ports import RejectSink

# ------------------------------------------------------------------------------------------- constants

SOURCE_WEBHOOK = "webhook"
SOURCE_ACTIVITY = "activity"
ACTIVITY_KEY_PREFIX = "activity:"

MAX_EVENTS_PER_BATCH = 200
MAX_BATCH_BYTES = 512 * 1024
MAX_EVENT_PROPERTIES_BYTES = 50 * 1024
MAX_EVENT_ID_LENGTH = 191
#: ``{"events":[`` + ``]}`` around the items of a batch body (compact JSON, as the hook sends it).
BATCH_OVERHEAD_BYTES = len('{"events":[]}')
BREVO_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_KEY_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")
#: Key of ``event_properties`` that carries the source event id (used to reconcile with ``GET /events``).
SOURCE_ID_PROPERTY = "cio_event_id"
#: Webhook ``data`` fields not forwarded (identifiers go to ``identifiers``; bodies and headers are bulky).
_WEBHOOK_DATA_EXCLUDED = frozenset({"identifiers", "customer_id", "content", "headers"})
_TRANSIENT = re.compile(r"temporar|retry|try again|timeout|unavailable", re.IGNORECASE)

#: Ledger reason codes used by the event forwarding (in addition to the shared ones in ``sync.ledger``).
EVENT_REASONS: Mapping[str, str] = {
    "unmapped_event": "the event is not in event_mapping and events.unmapped is `skip`",
    "invalid_event_name": "the event name is not a valid Brevo event name and is not mapped",
    "malformed_event": "the stored event cannot be read (no metric/name, not JSON)",
    "missing_identifier": "the event names no person by email or id",
    "oversized_record": "the event properties are over Brevo's 50 KB limit",
    "vendor_rejected": "Brevo rejected the event",
}


class MalformedEventError(ValueError):
    """A webhook body is not a usable reporting-webhook event; the message names the field and the fix."""


# ------------------------------------------------------------------------------------- source events
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


def _str_or_none(value: Any) -> str | None:
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
    email = _str_or_none(ident.get("email")) or _str_or_none(data.get("email_address"))
    if email is None and obj == "email" and "@" in str(data.get("recipient") or ""):
        email = _str_or_none(data.get("recipient"))
    person_id = _str_or_none(ident.get("id")) or _str_or_none(data.get("customer_id"))
    props = _clean_props(data, _WEBHOOK_DATA_EXCLUDED)
    if _str_or_none(ident.get("cio_id")):
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
    if _str_or_none(ident.get("cio_id")):
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
        email=_str_or_none(ident.get("email")),
        person_id=_str_or_none(ident.get("id")) or _str_or_none(activity.get("customer_id")),
        properties={k: v for k, v in props.items() if v is not None},
    )


def activity_in_window(activity: Mapping[str, Any], start: int | None, end: int | None) -> bool:
    """True for an ``event`` activity with ``start <= timestamp < end`` (an open bound matches everything)."""
    if activity.get("type") != "event":
        return False
    ts = activity.get("timestamp")
    if not isinstance(ts, (int, float)):
        return False
    return (start is None or ts >= start) and (end is None or ts < end)


def iter_window_activities(
    activities: Iterable[Mapping[str, Any]], start: int | None, end: int | None, *, stop_after_older: int = 100
) -> Iterator[Mapping[str, Any]]:
    """Filter a newest-first activity feed to the window ``[start, end)``.

    The feed is ordered by arrival, and a backdated event keeps its arrival position, so reading stops only after
    ``stop_after_older`` consecutive items older than ``start`` (not at the first one).
    """
    older = 0
    for act in activities:
        ts = act.get("timestamp")
        if start is not None and isinstance(ts, (int, float)) and ts < start:
            older += 1
            if older >= stop_after_older:
                return
            continue
        older = 0
        if activity_in_window(act, start, end):
            yield act


# ----------------------------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class Rejection:
    """An event that is not forwarded: ``reason`` is a ledger reason code; ``skipped`` when by configuration."""

    event_id: str
    reason: str
    message: str
    skipped: bool = False
    identifiers: Mapping[str, Any] = field(default_factory=dict)


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


# --------------------------------------------------------------------------------- forwarding (ports)
class DeliveryNotAttempted(Exception):
    """The batch certainly did not reach Brevo (refused connection, 401, 429 after retries): safe to resend."""


class DeliveryUncertain(Exception):
    """The batch may have reached Brevo (timeout, reset, 5xx): it must be reconciled before any resend."""


class BatchRejected(Exception):
    """Brevo refused the whole batch (a 4xx such as 400): nothing was stored; the message says why."""


class OutboxPort(Protocol):
    """The store (:class:`airflow_provider_customerio.store.inbox.EventStore` satisfies it)."""

    def fetch(self, status: str, limit: int = 1000) -> list[Any]: ...
    def in_flight(self) -> dict[str, list[Any]]: ...
    def mark_in_flight(self, outbound: Mapping[str, Mapping[str, Any]], batch_id: str) -> None: ...
    def mark(self, changes: Mapping[str, tuple[str, str | None]]) -> None: ...


class EventSink(Protocol):
    """Brevo's event endpoints, as the forwarder needs them."""

    def send_batch(self, events: list[dict[str, Any]]) -> dict[int, str]:
        """``POST /events/batch``; return ``{index: message}`` of rejected events (207), ``{}`` when all accepted.

        :raises DeliveryNotAttempted | DeliveryUncertain | BatchRejected:
        """
        ...

    def find_forwarded(self, events: list[dict[str, Any]]) -> set[str]:
        """The ``cio_event_id`` values of ``events`` that Brevo already holds (``GET /events``)."""
        ...


class LedgerPort(RejectSink, Protocol):
    def flush(self) -> int: ...


def reconcile_query(events: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any]:
    """``GET /events`` parameters covering ``events``: their names, and a date window (whole days, one day of
    margin either side) from the oldest ``event_date`` to today."""
    names = sorted({str(e["event_name"]) for e in events})
    dates: list[datetime] = [datetime.fromtimestamp(now, tz=timezone.utc)]
    for e in events:
        raw = e.get("event_date")
        if isinstance(raw, str):
            try:
                dates.append(parse_iso(raw))
            except ValueError:
                continue
    start = (min(dates) - timedelta(days=1)).date().isoformat()
    end = (max(dates) + timedelta(days=1)).date().isoformat()
    return {"event_name": names, "startDate": start, "endDate": end}


def forwarded_ids(brevo_events: Iterable[Mapping[str, Any]], wanted: set[str]) -> set[str]:
    """The ``cio_event_id`` values among ``wanted`` found in Brevo's ``GET /events`` items."""
    found: set[str] = set()
    for item in brevo_events:
        props = item.get("event_properties")
        if isinstance(props, str):  # tolerate a JSON-encoded properties string
            try:
                props = json.loads(props)
            except ValueError:
                props = None
        if isinstance(props, Mapping):
            key = props.get(SOURCE_ID_PROPERTY)
            if isinstance(key, str) and key in wanted:
                found.add(key)
    return found


@dataclass
class ForwardStats:
    """Counters of one forwarding run (the operator's XCom summary is built from them)."""

    drained: int = 0
    forwarded: int = 0
    skipped: int = 0
    rejected: int = 0
    requeued: int = 0
    batches: int = 0
    reconciled_sent: int = 0
    reconciled_resent: int = 0
    in_flight_deferred: int = 0
    rejects_by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def events_per_call(self) -> float:
        return round(self.forwarded / self.batches, 1) if self.batches else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}
        out["events_per_call"] = self.events_per_call
        return out


def source_event(row: Any) -> SourceEvent:
    """The source event of a stored row (a reporting webhook, or an activity-feed event)."""
    payload = row.payload_json()
    if row.source == SOURCE_ACTIVITY:
        if isinstance(payload, Mapping):
            return from_activity(payload)
        return SourceEvent(row.event_id, SOURCE_ACTIVITY, None, None, None, None, {})
    return from_webhook(row.event_id, payload)


@dataclass
class ForwardPlan:
    """What a forwarding run would do (dry run): nothing is sent, marked or ledgered.

    :param send: events that would be sent to Brevo.
    :param batches: ``POST /events/batch`` calls they would take.
    :param by_event: events to send per Brevo event name.
    :param skip: events that would be skipped, per reason (``unmapped_event``...).
    :param reject: events that would be rejected, per reason.
    :param in_flight: events of interrupted sends that would be reconciled first.
    :param sample: up to 50 ids of events that would be sent.
    """

    send: int = 0
    batches: int = 0
    by_event: Counter[str] = field(default_factory=Counter)
    skip: Counter[str] = field(default_factory=Counter)
    reject: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    sample: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


def plan_forwarding(rows: Iterable[Any], mapper: EventMapper, *, in_flight: int = 0) -> ForwardPlan:
    """The plan of forwarding ``rows`` (pending outbox rows): mapped and packed as :class:`EventForwarder` would,
    with no side effect."""
    plan = ForwardPlan(in_flight=in_flight)
    packer = event_packer()

    def count(outs: Iterable[Batch[tuple[str, dict[str, Any]]] | Oversize[tuple[str, dict[str, Any]]]]) -> None:
        for out in outs:
            if isinstance(out, Oversize):
                plan.reject["oversized_record"] += 1
            else:
                plan.batches += 1
                for eid, ev in out.items:
                    plan.send += 1
                    plan.by_event[str(ev.get("event_name"))] += 1
                    if len(plan.sample) < 50:
                        plan.sample.append(eid)

    for row in rows:
        mapped = mapper.map(source_event(row))
        if isinstance(mapped, Rejection):
            (plan.skip if mapped.skipped else plan.reject)[mapped.reason] += 1
            continue
        count(packer.add((row.event_id, mapped)))
    count(packer.flush())
    return plan


class EventForwarder:
    """Drains the outbox into Brevo with the delivery guarantee described in the module docstring.

    :param store: the outbox.
    :param brevo: the Brevo port.
    :param ledger: the run's rejected-records ledger.
    :param mapper: names and builds the Brevo events.
    :param page_size: rows read from the store at a time (each page is packed and sent completely).
    :param reconcile_grace_seconds: ``in_flight`` rows younger than this are left for a later run (Brevo may still
        be queueing them), unless the rest of their grace is at most ``in_flight_wait_seconds``.
    :param in_flight_wait_seconds: wait up to this long for young ``in_flight`` rows to reach their grace, then
        reconcile them (a retry right after a try killed mid-send ends with its events resolved); ``0``: no wait.
    :param max_attempts: sends of an event whose 207 error says it is temporary, before it goes to the ledger.
    """

    def __init__(
        self,
        store: OutboxPort,
        brevo: EventSink,
        ledger: LedgerPort,
        mapper: EventMapper,
        *,
        page_size: int = 2000,
        reconcile_grace_seconds: float = 60.0,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
        in_flight_wait_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.brevo = brevo
        self.ledger = ledger
        self.mapper = mapper
        self.page_size = page_size
        self.grace = reconcile_grace_seconds
        self.max_attempts = max_attempts
        self.clock = clock
        self.log = log or (lambda _msg: None)
        self.stats = ForwardStats()
        self.in_flight_wait = in_flight_wait_seconds
        self.sleep = sleep

    # ------------------------------------------------------------------------------------- reconcile
    def reconcile(self) -> None:
        """Resolve rows left ``in_flight``: those Brevo holds become ``sent``, the others ``pending`` again.

        A failure to ask Brevo propagates and leaves the rows ``in_flight``: nothing is resent unconfirmed.
        """
        for batch_id, rows in self.store.in_flight().items():
            age = self._waited(batch_id, len(rows), self.clock() - max(float(r.status_at) for r in rows))
            if age < self.grace:
                self.stats.in_flight_deferred += len(rows)
                self.log(
                    f"batch {batch_id}: {len(rows)} events in flight for {age:.0f} s (< grace "
                    f"{self.grace:.0f} s); left for the next run"
                )
                continue
            outbound = {r.event_id: r.outbound_json() for r in rows}
            sent_events = [ev for ev in outbound.values() if ev]
            found = self.brevo.find_forwarded(sent_events) if sent_events else set()
            changes: dict[str, tuple[str, str | None]] = {}
            for eid in outbound:
                if eid in found:
                    changes[eid] = (SENT, "confirmed by GET /events after an interrupted send")
                else:
                    changes[eid] = (PENDING, None)
            self.store.mark(changes)
            n_found = sum(1 for s, _ in changes.values() if s == SENT)
            self.stats.reconciled_sent += n_found
            self.stats.reconciled_resent += len(changes) - n_found
            self.log(
                f"batch {batch_id}: {n_found} of {len(changes)} interrupted events already in Brevo; "
                f"{len(changes) - n_found} will be sent again"
            )

    def _waited(self, batch_id: str, n: int, age: float) -> float:
        """Wait for a young batch to reach its grace when that takes at most ``in_flight_wait_seconds``; its age
        then, by the forwarder's clock (a clock that did not move leaves the batch for a later run)."""
        rest = self.grace - age
        if not 0 < rest <= self.in_flight_wait:
            return age
        self.log(f"batch {batch_id}: {n} events in flight for {age:.0f} s; waiting {rest:.0f} s for Brevo to list them")
        start = self.clock()
        self.sleep(rest)
        return age + (self.clock() - start)

    # --------------------------------------------------------------------------------------- forward
    def forward(self) -> ForwardStats:
        """Reconcile, then send every ``pending`` row; return the counters (of this call)."""
        self.stats = ForwardStats()
        self.reconcile()
        while True:
            rows = self.store.fetch(PENDING, self.page_size)
            if not rows:
                break
            self._page(rows)
        return self.stats

    def _reject(self, rej: Rejection, stage: str, detail: Mapping[str, Any] | None = None) -> None:
        self.ledger.reject(
            record_id=rej.event_id,
            reason=rej.reason,
            message=rej.message,
            stage=stage,
            identifiers=rej.identifiers,
            detail=detail,
        )
        self.stats.rejects_by_reason[rej.reason] += 1
        if rej.skipped:
            self.stats.skipped += 1
        else:
            self.stats.rejected += 1

    def _page(self, rows: list[Any]) -> None:
        self.stats.drained += len(rows)
        terminal: dict[str, tuple[str, str | None]] = {}
        packer = event_packer()
        ready: list[Batch[tuple[str, dict[str, Any]]]] = []
        attempts = {r.event_id: int(getattr(r, "attempts", 0) or 0) for r in rows}
        for row in rows:
            mapped = self.mapper.map(source_event(row))
            if isinstance(mapped, Rejection):
                self._reject(mapped, "map")
                terminal[row.event_id] = (SKIPPED if mapped.skipped else REJECTED, mapped.reason)
                continue
            for out in packer.add((row.event_id, mapped)):
                self._collect(out, ready, terminal)
        for out in packer.flush():
            self._collect(out, ready, terminal)
        if terminal:
            self.ledger.flush()  # the ledger line exists before the row leaves the outbox
            self.store.mark(terminal)
        for batch in ready:
            self._send(batch.items, attempts)

    def _collect(
        self,
        out: Batch[tuple[str, dict[str, Any]]] | Oversize[tuple[str, dict[str, Any]]],
        ready: list[Batch[tuple[str, dict[str, Any]]]],
        terminal: dict[str, tuple[str, str | None]],
    ) -> None:
        if isinstance(out, Oversize):
            eid, ev = out.item
            self._reject(
                Rejection(
                    eid, "oversized_record", f"{out.message} of a Brevo batch", identifiers=ev.get("identifiers", {})
                ),
                "pack",
            )
            terminal[eid] = (REJECTED, "oversized_record")
        else:
            ready.append(out)

    def _send(self, items: list[tuple[str, dict[str, Any]]], attempts: dict[str, int]) -> None:
        batch_id = uuid.uuid4().hex
        ids = [eid for eid, _ in items]
        events = [ev for _, ev in items]
        self.store.mark_in_flight(dict(items), batch_id)  # durable BEFORE the call
        try:
            self.stats.batches += 1
            failed = self.brevo.send_batch(events)
        except DeliveryNotAttempted:
            self.store.mark(dict.fromkeys(ids, (PENDING, None)))
            raise
        except DeliveryUncertain:
            self.log(
                f"batch {batch_id}: outcome unknown; {len(ids)} events stay in flight and are reconciled "
                "with GET /events by the next run"
            )
            raise
        except BatchRejected as exc:
            if len(items) > 1:  # isolate the culprit(s); nothing of this batch was stored by Brevo
                self.store.mark(dict.fromkeys(ids, (PENDING, None)))
                half = len(items) // 2
                self._send(items[:half], attempts)
                self._send(items[half:], attempts)
                return
            eid, ev = items[0]
            self._reject(
                Rejection(
                    eid, "vendor_rejected", f"Brevo refused the event: {exc}", identifiers=ev.get("identifiers", {})
                ),
                "send",
            )
            self.ledger.flush()
            self.store.mark({eid: (REJECTED, "vendor_rejected")})
            return
        changes: dict[str, tuple[str, str | None]] = {}
        for index, (eid, ev) in enumerate(items):
            message = failed.get(index)
            if message is None:
                changes[eid] = (SENT, None)
                self.stats.forwarded += 1
            elif _TRANSIENT.search(message) and attempts.get(eid, 0) + 1 < self.max_attempts:
                changes[eid] = (PENDING, f"temporary: {message}")  # picked up again by the next page
                self.stats.requeued += 1
            else:
                self._reject(
                    Rejection(
                        eid,
                        "vendor_rejected",
                        f"Brevo rejected the event (207): {message}",
                        identifiers=ev.get("identifiers", {}),
                    ),
                    "send",
                    {"batch_id": batch_id},
                )
                changes[eid] = (REJECTED, "vendor_rejected")
        if any(s == REJECTED for s, _ in changes.values()):
            self.ledger.flush()
        self.store.mark(changes)


# --------------------------------------------------------------------------- the other direction: Track
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def deterministic_event_id(
    *, name: str, identifier: str | None, anonymous_id: str | None, timestamp: int | None, data: Mapping[str, Any]
) -> str:
    """A ULID derived from the event's content: its time part is the event timestamp (ms), its random part a
    SHA-256 of the canonical content. The same event always gets the same id, so Customer.io drops a replay."""
    canonical = json.dumps(
        {"name": name, "identifier": identifier, "anonymous_id": anonymous_id, "timestamp": timestamp, "data": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    rand = int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:10], "big")
    ms = (int(timestamp) * 1000 if timestamp else 0) & ((1 << 48) - 1)
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


@dataclass(frozen=True)
class TrackEvent:
    """An event for Customer.io Track: person event when ``identifier`` is set, anonymous otherwise."""

    name: str
    event_id: str
    identifier: str | None = None
    anonymous_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    timestamp: int | None = None


def _to_unix(value: Any, where: str) -> int:
    """Unix seconds of an event time: milliseconds are recognised by size; strings go through ``to_epoch``."""
    if isinstance(value, bool):
        raise ValueError(f"{where}.timestamp: {value!r} is not a time; use unix seconds or ISO-8601")
    if isinstance(value, (int, float)):
        return int(value / 1000) if value > 10_000_000_000 else int(value)
    try:
        seconds = to_epoch(value, f"{where}.timestamp")
    except ValueError:
        seconds = None
    if seconds is None:
        text = str(value).strip()
        raise ValueError(f"{where}.timestamp: {text[:40]!r} is not a time; use unix seconds or ISO-8601")
    return seconds


def parse_track_event(obj: Any, index: int) -> TrackEvent | Rejection:
    """Validate one input event for Customer.io Track.

    Accepted keys: ``name`` (required); the person as ``identifier``, ``customer_id``, ``email`` or ``cio_id``, or
    ``anonymous_id`` for an anonymous event; ``data`` (object); ``timestamp`` (unix seconds or ISO-8601); ``id``
    (kept when given, else a deterministic ULID is derived).
    """
    where = f"events[{index}]"
    if not isinstance(obj, Mapping):
        return Rejection(
            where, "malformed_event", f'{where} must be an object like {{"name": ..., "customer_id": ...}}'
        )
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return Rejection(where, "malformed_event", f"{where}.name is missing: every event needs a name")
    identifier = None
    for key in ("identifier", "customer_id", "email"):
        if _str_or_none(obj.get(key)):
            identifier = str(obj[key]).strip()
            break
    if identifier is None and _str_or_none(obj.get("cio_id")):
        identifier = f"cio_{str(obj['cio_id']).strip()}"
    anonymous_id = _str_or_none(obj.get("anonymous_id"))
    if identifier is None and anonymous_id is None:
        return Rejection(
            where,
            "missing_identifier",
            f"{where} names no person: add `customer_id`, `email`, `cio_id` or `anonymous_id`",
        )
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        return Rejection(where, "malformed_event", f"{where}.data must be an object, got {type(data).__name__}")
    timestamp = None
    if obj.get("timestamp") not in (None, ""):
        try:
            timestamp = _to_unix(obj["timestamp"], where)
        except ValueError as exc:
            return Rejection(where, "malformed_event", str(exc))
    given_id = _str_or_none(obj.get("id")) or _str_or_none(obj.get("event_id"))
    event_id = given_id or deterministic_event_id(
        name=name.strip(), identifier=identifier, anonymous_id=anonymous_id, timestamp=timestamp, data=data
    )
    return TrackEvent(
        name=name.strip(),
        event_id=event_id,
        identifier=identifier,
        anonymous_id=anonymous_id,
        data=dict(data),
        timestamp=timestamp,
    )


__all__ = [
    "EVENT_REASONS",
    "BatchRejected",
    "EventSink",
    "DeliveryNotAttempted",
    "DeliveryUncertain",
    "EventForwarder",
    "EventMapper",
    "ForwardStats",
    "MalformedEventError",
    "Rejection",
    "SourceEvent",
    "TrackEvent",
    "activity_event_key",
    "deterministic_event_id",
    "event_packer",
    "forwarded_ids",
    "from_activity",
    "from_webhook",
    "iter_window_activities",
    "parse_track_event",
    "reconcile_query",
    "validate_webhook_payload",
    "webhook_event_name",
]
