"""The forwarding run: drains the outbox into Brevo with the delivery guarantee of the package docstring."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.store.inbox import PENDING, REJECTED, SENT, SKIPPED
from airflow_provider_customerio.sync.batching import Batch, Oversize
from airflow_provider_customerio.sync.events.mapping import EventMapper, event_packer
from airflow_provider_customerio.sync.events.ports import (
    BatchRejected,
    DeliveryNotAttempted,
    DeliveryUncertain,
    EventSink,
    LedgerPort,
    OutboxPort,
    Rejection,
)
from airflow_provider_customerio.sync.events.sources import source_event

_TRANSIENT = re.compile(r"temporar|retry|try again|timeout|unavailable", re.IGNORECASE)


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
