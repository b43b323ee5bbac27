"""Sandbox emitter of Customer.io reporting webhooks (https://docs.customer.io/api/webhooks/).

Sends signed reporting-webhook events at a receiver, as Customer.io would, plus the misbehaviours a receiver must
survive: duplicates (an at-least-once redelivery), replays (a captured request sent again later), bad
signatures, malformed JSON and oversized bodies.

:class:`WebhookSender` behaves like Customer.io's sender over time, as published (https://docs.customer.io/api/
webhooks/, "Timeouts and failures"): a 4 s timeout; no 2xx, retries with exponential backoff for up to 7 days, later
webhooks held back while one fails; after one of the listed answers (400, 401, 402, 403, 404, 405, 410, 429, 500,
502, 521) or a refused / reset connection, a wait of one hour first; then the redelivery storm after an outage and
at-least-once duplicates.

Use it directly (:func:`emit_webhooks`) or through the control plane: the sandbox core mounts
:mod:`.control.webhooks` under ``/_sandbox/webhooks``::

    POST /_sandbox/webhooks/emit   {"url": "http://127.0.0.1:8080/customerio/webhooks", "signing_key": "...",
                                    "count": 20, "duplicates": 3, "replays": 2, "bad_signatures": 2,
                                    "malformed": 1, "oversized": 1, "seed": 0, "concurrency": 4}
    GET  /_sandbox/webhooks/last   the report of the last emission

Only loopback URLs are accepted: the sandbox never sends anything off the machine.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_provider_customerio.sandbox.signing import cio_signed_headers

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: (object_type, metric) pairs emitted, weighted like a real email program.
METRICS: tuple[tuple[str, str], ...] = (
    ("email", "sent"),
    ("email", "sent"),
    ("email", "delivered"),
    ("email", "delivered"),
    ("email", "opened"),
    ("email", "clicked"),
    ("email", "converted"),
    ("email", "bounced"),
    ("email", "unsubscribed"),
    ("customer", "subscribed"),
    ("customer", "unsubscribed"),
    ("push", "delivered"),
    ("sms", "sent"),
)
#: Expected answer of a correct receiver per kind.
EXPECTED_STATUS = {
    "original": 200,
    "duplicate": 200,
    "replay": 401,
    "bad_signature": 401,
    "malformed": 400,
    "oversized": 413,
}
REPLAY_AGE_SECONDS = 600


def _ulid(rng: random.Random, ts: int) -> str:
    value = ((ts * 1000) << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def make_event(index: int, *, seed: int = 0, timestamp: int | None = None, people: int = 1000) -> dict[str, Any]:
    """One realistic reporting-webhook event (deterministic for ``(index, seed)``)."""
    rng = random.Random(seed * 1_000_003 + index)
    ts = int(timestamp if timestamp is not None else time.time())
    obj, metric = METRICS[rng.randrange(len(METRICS))]
    person = rng.randrange(1, people + 1)
    email = f"person{person}@example.com"
    identifiers = {"id": str(person), "email": email, "cio_id": f"cio{person:08x}"}
    data: dict[str, Any]
    if obj == "customer":
        data = {"customer_id": str(person), "email_address": email, "identifiers": identifiers}
    else:
        campaign = rng.randrange(1, 20)
        data = {
            "action_id": rng.randrange(1, 500),
            "campaign_id": campaign,
            "trigger_event_id": _ulid(rng, ts - 60),
            "customer_id": str(person),
            "delivery_id": f"RPIL{rng.getrandbits(48):012x}",
            "identifiers": identifiers,
            "recipient": email if obj == "email" else f"+3360000{person:04d}",
        }
        if obj == "email":
            data["subject"] = f"Campaign {campaign}"
        if metric == "clicked":
            data.update({"href": "https://example.com/offer", "link_id": rng.randrange(1, 50), "machine": False})
        if metric == "bounced":
            data["failure_message"] = "550 mailbox unavailable"
    # the id depends on (index, seed) only: a redelivery of the same event carries the same event_id
    event_id = _ulid(random.Random(f"{seed}:{index}"), 1_600_000_000 + index)
    return {"event_id": event_id, "object_type": obj, "metric": metric, "timestamp": ts, "data": data}


@dataclass
class EmitResult:
    """One request sent: its kind, event id, HTTP status (0 when no answer) and the expected status."""

    kind: str
    event_id: str | None
    status: int
    expected: int
    error: str | None = None


@dataclass
class EmitReport:
    """Everything an emission sent; ``events`` are the distinct valid events (originals) by id."""

    results: list[EmitResult] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for r in self.results:
            out.setdefault(r.kind, Counter())[str(r.status)] += 1
        return {k: dict(v) for k, v in out.items()}

    @property
    def unexpected(self) -> list[EmitResult]:
        """Requests whose answer differs from what a correct receiver gives."""
        return [r for r in self.results if r.status != r.expected]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": len(self.results),
            "distinct_events": len(self.events),
            "counts": self.counts,
            "unexpected": [r.__dict__ for r in self.unexpected],
            "seconds": round(self.seconds, 3),
            "event_ids": sorted(self.events),
        }


def check_url(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(
            f"url: {url!r} must be an http(s) URL on a loopback host (127.0.0.1); the sandbox sends "
            "nothing off the machine"
        )
    return url


def _plan(
    count: int,
    *,
    duplicates: int,
    replays: int,
    bad_signatures: int,
    malformed: int,
    oversized: int,
    seed: int,
    now: int,
    oversized_bytes: int,
) -> Iterator[tuple[str, dict[str, Any] | None, bytes, int, bool]]:
    """(kind, event, body, timestamp, sign_correctly) in sending order."""
    events = [make_event(i, seed=seed, timestamp=now) for i in range(count)]
    bodies = [json.dumps(ev, separators=(",", ":")).encode() for ev in events]
    for ev, body in zip(events, bodies):
        yield "original", ev, body, now, True
    for i in range(duplicates):
        j = i % max(1, count)
        if count:
            yield "duplicate", events[j], bodies[j], now, True
    for i in range(replays):
        j = (i * 7) % max(1, count)
        if count:
            yield "replay", events[j], bodies[j], now - REPLAY_AGE_SECONDS, True
    for i in range(bad_signatures):
        ev = make_event(count + 1000 + i, seed=seed, timestamp=now)
        yield "bad_signature", ev, json.dumps(ev).encode(), now, False
    for i in range(malformed):
        yield "malformed", None, b'{"event_id": "01BROKEN' + str(i).encode() + b'", "metric": ', now, True
    for i in range(oversized):
        ev = make_event(count + 2000 + i, seed=seed, timestamp=now)
        ev["data"]["content"] = "x" * oversized_bytes
        yield "oversized", ev, json.dumps(ev).encode(), now, True


class _Poster:
    """Signs and POSTs planned items, one ``httpx.Client`` per sending thread."""

    def __init__(self, url: str, signing_key: str, timeout: float) -> None:
        self.url = url
        self.signing_key = signing_key
        self.timeout = timeout
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        c: httpx.Client | None = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = httpx.Client(timeout=self.timeout)
            with self._lock:
                self._clients.append(c)
        return c

    def send(self, item: tuple[str, dict[str, Any] | None, bytes, int, bool]) -> EmitResult:
        kind, ev, body, stamp, good = item
        key = self.signing_key if good else self.signing_key + "-wrong"
        headers = cio_signed_headers(key, stamp, body)
        try:
            resp = self._client().post(self.url, content=body, headers=headers)
            status, error = resp.status_code, None
        except httpx.HTTPError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
        return EmitResult(kind, ev["event_id"] if ev else None, status, EXPECTED_STATUS[kind], error)

    def close(self) -> None:
        for c in self._clients:
            c.close()


def emit_webhooks(
    url: str,
    signing_key: str,
    count: int = 10,
    *,
    duplicates: int = 0,
    replays: int = 0,
    bad_signatures: int = 0,
    malformed: int = 0,
    oversized: int = 0,
    seed: int = 0,
    concurrency: int = 1,
    timeout: float = 4.0,
    oversized_bytes: int = 2 * 1024 * 1024,
    now: int | None = None,
) -> EmitReport:
    """Send ``count`` signed events and the requested misbehaviours at ``url``; return what each got.

    Duplicates and replays reuse bodies of the originals. Requests of one kind are sent in order; with
    ``concurrency > 1`` the originals are spread over that many connections (as Customer.io does).
    """
    check_url(url)
    ts = int(now if now is not None else time.time())
    plan = list(
        _plan(
            count,
            duplicates=duplicates,
            replays=replays,
            bad_signatures=bad_signatures,
            malformed=malformed,
            oversized=oversized,
            seed=seed,
            now=ts,
            oversized_bytes=oversized_bytes,
        )
    )
    report = EmitReport()
    for kind, ev, _, _, _ in plan:
        if kind == "original" and ev is not None:
            report.events[ev["event_id"]] = ev
    poster = _Poster(url, signing_key, timeout)
    send = poster.send
    started = time.perf_counter()
    try:
        originals = [p for p in plan if p[0] == "original"]
        others = [p for p in plan if p[0] != "original"]
        if concurrency > 1 and len(originals) > 1:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                report.results.extend(pool.map(send, originals))
        else:
            report.results.extend(send(p) for p in originals)
        report.results.extend(send(p) for p in others)  # after the originals: a duplicate follows its original
    finally:
        report.seconds = time.perf_counter() - started
        poster.close()
    return report


# ------------------------------------------------------------------------------------------------ sender

#: Waits (s) after the 1st, 2nd, ... failed attempt of a webhook; the last one repeats until it is 7 days old.
SENDER_BACKOFF: tuple[float, ...] = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
SENDER_MAX_AGE = 7 * 86400.0
#: Customer.io's timeout of one webhook call (seconds).
SENDER_TIMEOUT = 4.0
#: Answers after which Customer.io waits one hour before the retry (the published list).
HOUR_WAIT_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 410, 429, 500, 502, 521})
HOUR_WAIT = 3600.0


@dataclass
class Delivery:
    """One webhook in the sender's queue (a redelivery carries the same body and event id)."""

    event_id: str
    body: bytes
    first_at: float
    next_at: float
    attempts: int = 0
    redelivery: bool = False
    #: the last attempt got an answer after which Customer.io waits one hour
    hour_wait: bool = False


@dataclass
class SenderStats:
    """What the sender did: requests, deliveries, failures, webhooks held back, redeliveries, abandoned ones."""

    requests: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    held_back: int = 0
    redelivered: int = 0
    abandoned: int = 0
    latencies: list[float] = field(default_factory=list)

    def p99(self) -> float:
        """99th percentile of the request latencies (s), 0 when nothing was sent."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class WebhookSender:
    """Customer.io's reporting-webhook sender, on a virtual clock (:meth:`advance`, never a real wait).

    * Failed deliveries (non-2xx, no answer within :data:`SENDER_TIMEOUT`) are retried with a growing backoff
      (:data:`SENDER_BACKOFF`) for up to 7 days, then abandoned; after an answer of :data:`HOUR_WAIT_STATUSES` or a
      connection refused / reset, the next retry waits at least one hour.
    * The endpoint's queue is ordered: while its oldest webhook fails, the later ones are **held back**.
    * When the oldest one gets through, the backlog that is due goes out at once over ``concurrency`` connections:
      the **redelivery storm** after an outage.
    * Delivery is at-least-once: ``duplicate_rate`` of the delivered webhooks are delivered again later (an answer
      lost on the way back), with the same body and event id.

    :param url: the receiver (loopback only).
    :param signing_key: the webhook signing key; each attempt is signed at the (wall) time it is sent.
    """

    def __init__(
        self,
        url: str,
        signing_key: str,
        *,
        seed: int = 0,
        duplicate_rate: float = 0.0,
        concurrency: int = 8,
        timeout: float = SENDER_TIMEOUT,
    ) -> None:
        self.url = check_url(url)
        self.signing_key = signing_key
        self.rng = random.Random(seed)
        self.duplicate_rate = duplicate_rate
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.now = 0.0
        self.queue: list[Delivery] = []
        self.stats = SenderStats()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def enqueue(self, events: list[dict[str, Any]]) -> None:
        """Queue reporting events, oldest first."""
        for ev in events:
            body = json.dumps(ev, separators=(",", ":")).encode()
            self.queue.append(Delivery(ev["event_id"], body, self.now, self.now))

    def advance(self, seconds: float) -> None:
        """Let time pass on the sender's clock."""
        self.now += seconds

    def _client(self) -> httpx.Client:
        c = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = httpx.Client(timeout=self.timeout)
            with self._lock:
                self._clients.append(c)
        return c

    def _send(self, d: Delivery) -> bool:
        """One attempt; a failure sets the delivery's ``hour_wait`` (the published one-hour answers)."""
        stamp = int(time.time())
        headers = cio_signed_headers(self.signing_key, stamp, d.body)
        started = time.perf_counter()
        try:
            status = self._client().post(self.url, content=d.body, headers=headers).status_code
            ok, d.hour_wait = 200 <= status < 300, status in HOUR_WAIT_STATUSES
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):  # refused, EOF, reset
            ok, d.hour_wait = False, True
        except httpx.HTTPError:  # a timeout: the plain backoff
            ok, d.hour_wait = False, False
        with self._lock:
            self.stats.latencies.append(time.perf_counter() - started)
        return ok

    def _failed(self, d: Delivery) -> None:
        self.stats.failed_attempts += 1
        d.attempts += 1
        wait = SENDER_BACKOFF[min(d.attempts, len(SENDER_BACKOFF)) - 1]
        d.next_at = self.now + (max(HOUR_WAIT, wait) if d.hour_wait else wait)

    def pump(self) -> int:
        """Send what is due now; returns how many webhooks were delivered."""
        delivered = 0
        while self.queue:
            head = self.queue[0]
            if self.now - head.first_at > SENDER_MAX_AGE:
                self.queue.pop(0)
                self.stats.abandoned += 1
                continue
            if head.next_at > self.now:
                break
            self.stats.requests += 1
            if not self._send(head):
                self._failed(head)
                self.stats.held_back += len(self.queue) - 1
                break
            self.queue.pop(0)
            self._delivered([head])
            delivered += 1
            due = [d for d in self.queue if d.next_at <= self.now]
            if not due:
                continue
            # the head got through: the due backlog goes out at once (the storm)
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                results = list(pool.map(self._send, due))
            self.stats.requests += len(due)
            done = {id(d) for d, ok in zip(due, results) if ok}
            for d, ok in zip(due, results):
                if not ok:
                    self._failed(d)
            self.queue = [d for d in self.queue if id(d) not in done]
            ok_items = [d for d, ok in zip(due, results) if ok]
            self._delivered(ok_items)
            delivered += len(ok_items)
        return delivered

    def _delivered(self, items: list[Delivery]) -> None:
        """Count deliveries and queue the at-least-once redeliveries."""
        self.stats.delivered += len(items)
        for d in items:
            if not d.redelivery and self.rng.random() < self.duplicate_rate:
                self.queue.append(Delivery(d.event_id, d.body, self.now, self.now, redelivery=True))
                self.stats.redelivered += 1

    def close(self) -> None:
        for c in self._clients:
            c.close()


__all__ = [
    "EXPECTED_STATUS",
    "HOUR_WAIT",
    "HOUR_WAIT_STATUSES",
    "SENDER_TIMEOUT",
    "SENDER_BACKOFF",
    "EmitReport",
    "EmitResult",
    "WebhookSender",
    "emit_webhooks",
    "make_event",
]
