"""Fold messages and reporting-webhook events into one :class:`PersonState` per person: the person's last message
(latest ``created``), its campaign and action, and its latest state with that state's time.

Pure logic, no Airflow and no HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: Progress of a message, used only to order two states reached in the same second.
STATUS_ORDER: tuple[str, ...] = (
    "created",
    "drafted",
    "attempted",
    "deferred",
    "sent",
    "delivered",
    "opened",
    "human_opened",
    "clicked",
    "human_clicked",
    "converted",
    "replied",
    "suppressed",
    "undeliverable",
    "dropped",
    "failed",
    "bounced",
    "spammed",
    "unsubscribed",
    "topic_unsubscribed",
)
_RANK = {name: i for i, name in enumerate(STATUS_ORDER)}
#: Webhook ``object_type`` values that describe a message (``customer`` events do not).
MESSAGE_OBJECT_TYPES = frozenset({"email", "push", "in_app", "sms", "slack", "webhook", "whatsapp"})


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass
class _Delivery:
    delivery_id: str
    cio_id: str | None = None
    id: str | None = None
    email: str | None = None
    parent: tuple[str, str] | None = None  # (kind, id): ("campaign", "3"), ("newsletter", "5"), ...
    action_id: str | None = None
    created: int | None = None
    metrics: dict[str, int] = field(default_factory=dict)

    def merge_identity(self, identifiers: Mapping[str, Any]) -> None:
        self.cio_id = self.cio_id or _text(identifiers.get("cio_id"))
        self.id = self.id or _text(identifiers.get("id"))
        self.email = self.email or _text(identifiers.get("email"))

    def merge_metric(self, metric: str, ts: int) -> None:
        # the time a metric was first reached, as the messages feed reports it (a second open keeps the first)
        old = self.metrics.get(metric)
        if old is None or ts < old:
            self.metrics[metric] = ts

    @property
    def person_key(self) -> str | None:
        if self.cio_id:
            return self.cio_id
        if self.id:
            return f"id:{self.id}"
        if self.email:
            return f"email:{self.email.lower()}"
        return None

    @property
    def started(self) -> int | None:
        if self.created is not None:
            return self.created
        return min(self.metrics.values()) if self.metrics else None

    def latest_state(self) -> tuple[str, int] | None:
        items = [(m, t) for m, t in self.metrics.items() if m != "created"] or list(self.metrics.items())
        if not items:
            return None
        return max(items, key=lambda mt: (mt[1], _RANK.get(mt[0], -1), mt[0]))


def _parent(source: Mapping[str, Any]) -> tuple[str, str] | None:
    for kind in ("campaign", "newsletter", "broadcast", "transactional_message"):
        value = _text(source.get(f"{kind}_id"))
        if value is not None:
            return kind, value
    return None


@dataclass(frozen=True)
class PersonState:
    """A person's position: their last message and its latest state.

    :param person_key: ``cio_id`` (or ``id:<id>`` / ``email:<email>`` when Customer.io gave no cio_id).
    :param parent_kind: ``campaign``, ``newsletter``, ``broadcast`` or ``transactional_message``.
    :param parent_id: that object's id.
    :param action_id: the campaign action that sent the message.
    :param status: the latest metric reached (sent, delivered, opened, clicked, bounced, ...).
    :param at: unix seconds when ``status`` was reached.
    :param created: unix seconds when the message was created.
    """

    person_key: str
    cio_id: str | None
    id: str | None
    email: str | None
    delivery_id: str
    parent_kind: str | None
    parent_id: str | None
    action_id: str | None
    status: str
    at: int
    created: int

    def values(self, campaign_names: Mapping[str, str]) -> dict[str, str]:
        """Field -> attribute value (text)."""
        if self.parent_kind == "campaign" and self.parent_id is not None:
            name = campaign_names.get(self.parent_id) or f"campaign {self.parent_id}"
            ref = self.parent_id
        elif self.parent_kind is not None:
            name = f"{self.parent_kind.replace('_', ' ')} {self.parent_id}"
            ref = f"{self.parent_kind}:{self.parent_id}"
        else:
            name, ref = "", ""
        at = datetime.fromtimestamp(self.at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"campaign": name, "campaign_id": ref, "action": self.action_id or "", "status": self.status, "at": at}


class StateBuilder:
    """Folds deliveries and webhook events into one :class:`PersonState` per person.

    Memory holds one small record per delivery of the window (not the messages themselves).
    """

    def __init__(self) -> None:
        self._deliveries: dict[str, _Delivery] = {}
        self.messages_read = 0
        self.events_read = 0
        self.events_ignored = 0
        self.unidentified: list[dict[str, Any]] = []

    def _delivery(self, delivery_id: str) -> _Delivery:
        d = self._deliveries.get(delivery_id)
        if d is None:
            d = self._deliveries[delivery_id] = _Delivery(delivery_id)
        return d

    def add_message(self, message: Mapping[str, Any]) -> None:
        """One ``/v1/messages`` item."""
        self.messages_read += 1
        delivery_id = _text(message.get("id"))
        if delivery_id is None:
            self.unidentified.append({"source": "message", "item": {k: message.get(k) for k in ("created",)}})
            return
        d = self._delivery(delivery_id)
        idents = message.get("customer_identifiers")
        d.merge_identity(idents if isinstance(idents, Mapping) else {})
        if d.id is None:
            d.id = _text(message.get("customer_id"))
        d.parent = d.parent or _parent(message)
        d.action_id = d.action_id or _text(message.get("action_id"))
        d.created = _int(message.get("created")) if d.created is None else d.created
        metrics = message.get("metrics")
        if isinstance(metrics, Mapping):
            for metric, ts in metrics.items():
                t = _int(ts)
                if t is not None:
                    d.merge_metric(str(metric), t)

    def add_event(self, event: Mapping[str, Any]) -> None:
        """One stored reporting-webhook event (https://docs.customer.io/api/webhooks/). ``customer`` events carry
        no message state and are ignored (counted)."""
        self.events_read += 1
        raw_data = event.get("data")
        data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
        delivery_id = _text(data.get("delivery_id"))
        metric = _text(event.get("metric"))
        ts = _int(event.get("timestamp"))
        if event.get("object_type") not in MESSAGE_OBJECT_TYPES or delivery_id is None or metric is None or ts is None:
            self.events_ignored += 1
            return
        d = self._delivery(delivery_id)
        idents = data.get("identifiers")
        d.merge_identity(idents if isinstance(idents, Mapping) else {})
        if d.id is None:
            d.id = _text(data.get("customer_id"))
        d.parent = d.parent or _parent(data)
        d.action_id = d.action_id or _text(data.get("action_id"))
        d.merge_metric(metric, ts)

    def states(self) -> Iterator[PersonState]:
        """The last message's state of every person, ordered by person key."""
        # a delivery known only by id or email (e.g. a webhook event of a workspace without cio_id in its
        # identifiers) belongs to the person another delivery links to that id or email
        alias: dict[str, str] = {}
        for d in self._deliveries.values():
            if d.cio_id:
                if d.id:
                    alias.setdefault(f"id:{d.id}", d.cio_id)
                if d.email:
                    alias.setdefault(f"email:{d.email.lower()}", d.cio_id)
        best: dict[str, _Delivery] = {}
        for d in self._deliveries.values():
            key = d.person_key
            if key is not None and not d.cio_id:
                key = alias.get(key) or (alias.get(f"email:{d.email.lower()}") if d.email else None) or key
            started = d.started
            if key is None or started is None or d.latest_state() is None:
                if key is None:
                    self.unidentified.append({"source": "delivery", "delivery_id": d.delivery_id})
                continue
            cur = best.get(key)
            if cur is None or (started, d.delivery_id) > (cur.started or 0, cur.delivery_id):
                # identifiers seen on any delivery of the person complete the chosen one
                if cur is not None:
                    d.merge_identity({"cio_id": cur.cio_id, "id": cur.id, "email": cur.email})
                best[key] = d
            else:
                cur.merge_identity({"cio_id": d.cio_id, "id": d.id, "email": d.email})
        for key in sorted(best):
            d = best[key]
            status, at = d.latest_state() or ("", 0)
            yield PersonState(
                person_key=key,
                cio_id=d.cio_id,
                id=d.id,
                email=d.email,
                delivery_id=d.delivery_id,
                parent_kind=d.parent[0] if d.parent else None,
                parent_id=d.parent[1] if d.parent else None,
                action_id=d.action_id,
                status=status,
                at=at,
                created=d.started or at,
            )
