"""The other direction: events for Customer.io Track from a file or XCom, validated, each with a deterministic
id so that a replay is deduplicated by Customer.io."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_customerio.sync._time import to_epoch
from airflow_provider_customerio.sync.events.ports import Rejection
from airflow_provider_customerio.sync.events.sources import str_or_none
from airflow_provider_customerio.sync.ports import RejectSink

log = logging.getLogger(__name__)

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
        if str_or_none(obj.get(key)):
            identifier = str(obj[key]).strip()
            break
    if identifier is None and str_or_none(obj.get("cio_id")):
        identifier = f"cio_{str(obj['cio_id']).strip()}"
    anonymous_id = str_or_none(obj.get("anonymous_id"))
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
    given_id = str_or_none(obj.get("id")) or str_or_none(obj.get("event_id"))
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


def read_events_input(events: Any, path: str | None) -> Iterator[Any]:
    """Events from XCom (a list, or JSON text of a list) or from a file (a JSON array, or JSON Lines)."""
    if (events is None) == (not path):
        raise ValueError("give exactly one of `events` (a list, e.g. from XCom) or `events_path` (a file)")
    if events is not None:
        if isinstance(events, str):
            try:
                events = json.loads(events)
            except ValueError:
                raise ValueError("events: the text is not JSON; pass a list of event objects") from None
        if isinstance(events, Mapping):
            events = [events]
        if not isinstance(events, Iterable):
            raise ValueError(f"events: expected a list of event objects, got {type(events).__name__}")
        yield from events
        return
    p = Path(str(path))
    if not p.is_file():
        raise ValueError(f"events_path: {p} does not exist; write the events there (JSON array or JSON Lines)")
    with p.open(encoding="utf-8") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        fh.seek(0)
        if head == "[":
            yield from json.load(fh)
            return
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                yield {"__invalid_line__": n}


class TrackSink(Protocol):
    """Customer.io Track's event endpoints (:class:`airflow_provider_customerio.adapters.events.
    CustomerIOTrackEventSink` satisfies it)."""

    def send(self, event: TrackEvent) -> str | None:
        """Send one event (a person's, or an anonymous one); Customer.io's refusal message, ``None`` when sent."""
        ...


@dataclass
class TrackResult:
    """Counts of one Track run: events read, sent, and rejected (ledgered)."""

    read: int = 0
    sent: int = 0
    rejected: int = 0


def send_track_events(
    events: Iterable[Any], sink: TrackSink, ledger: RejectSink, *, events_path: str | None = None
) -> TrackResult:
    """Parse and send every event of ``events`` (see :func:`read_events_input`); an invalid event or one Customer.io
    refuses goes to the ledger instead."""
    result = TrackResult()
    for index, raw in enumerate(events):
        result.read += 1
        if isinstance(raw, Mapping) and "__invalid_line__" in raw:
            line = raw["__invalid_line__"]
            parsed: TrackEvent | Rejection = Rejection(
                f"line {line}", "malformed_event", f"line {line} of {events_path} is not JSON"
            )
        else:
            parsed = parse_track_event(raw, index)
        if isinstance(parsed, Rejection):
            ledger.reject(record_id=parsed.event_id, reason=parsed.reason, message=parsed.message, stage="parse")
            result.rejected += 1
            continue
        refused = sink.send(parsed)
        if refused is None:
            result.sent += 1
            continue
        ledger.reject(
            record_id=parsed.event_id,
            reason="vendor_rejected",
            message=f"Customer.io refused the event: {refused}",
            stage="send",
            identifiers={"id": parsed.identifier, "anonymous_id": parsed.anonymous_id},
            detail={"name": parsed.name},
        )
        result.rejected += 1
    return result


class _Discard:
    """A ledger of a dry run: counts, keeps nothing."""

    def reject(self, **_row: Any) -> None:
        pass


class _WouldSend:
    """The sink of a dry run: every valid event would be sent."""

    def send(self, event: TrackEvent) -> str | None:
        return None


class TrackJob:
    """A Track run in the steps of the sync lifecycle: :meth:`run` sends every input event (it starts no Brevo
    process); :meth:`finish` returns ``{read, sent, rejected, ledger, api_calls}``. A dry run parses and counts
    (``plan.sends``: the events that would be sent) and sends and ledgers nothing.

    :param events: the input events (see :func:`read_events_input`).
    :param sink: Customer.io Track.
    :param ledger: opens the run's ledger (a real run only).
    :param events_path: the input file, named in the ledger lines of its invalid lines.
    """

    #: The task's summary is its XCom only (a Track run is not one of the syncs the status page follows).
    records_summary = False

    def __init__(
        self,
        events: Iterable[Any],
        sink: TrackSink,
        *,
        ledger: Callable[[], Any],
        events_path: str | None = None,
        dry_run: bool = False,
        api_calls: Callable[[], int] = lambda: 0,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.events = events
        self.sink = sink
        self.ledger = ledger
        self.events_path = events_path
        self.dry_run = dry_run
        self.api_calls = api_calls
        self.on_close = on_close
        self.out: dict[str, Any] = {}

    def run(self) -> Sequence[str]:
        if self.dry_run:
            result = send_track_events(self.events, _WouldSend(), _Discard(), events_path=self.events_path)
            self.out = {"read": result.read, "sent": 0, "rejected": result.rejected, "ledger": None}
            self.out.update({"dry_run": True, "plan": {"sends": result.sent}})
            return []
        ledger = self.ledger()
        try:
            result = send_track_events(self.events, self.sink, ledger, events_path=self.events_path)
        finally:
            ledger.close()
        self.out = {
            "read": result.read,
            "sent": result.sent,
            "rejected": result.rejected,
            "ledger": ledger.key if result.rejected else None,
            "location": ledger.location if result.rejected else "-",
        }
        return []

    def resume(self) -> None:
        """Nothing to pick up: a Track run never waits."""

    def complete(self, states: Sequence[Any]) -> Sequence[str]:
        return []

    def save(self) -> None:
        """Nothing to keep: Customer.io deduplicates a replay by the events' ids."""

    def finish(self) -> Mapping[str, Any]:
        location = self.out.pop("location", "-")
        out = {**self.out, "api_calls": self.api_calls()}
        log.info(
            "Sent %d of %d events to Customer.io Track; %d rejected (ledger %s)",
            out["sent"],
            out["read"],
            out["rejected"],
            location,
        )
        return out

    def close(self) -> None:
        self.on_close()
