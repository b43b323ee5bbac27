"""The Customer.io reporting-webhook receiver: a small FastAPI app, mounted on the Airflow api-server by
:mod:`airflow_provider_customerio.webhooks.plugin` (``POST /customerio/webhooks``).

Answers:

* **200** only once the event is durably stored (committed; a duplicate ``event_id`` is acknowledged and stored
  once);
* **401** for a missing/bad signature or a timestamp outside the replay window (5 minutes);
* **400** for a body that is not a JSON object with an ``event_id``;
* **413** for a body over ``max_body_bytes`` (checked on ``Content-Length`` and while streaming);
* **503** when the signing key is not configured or the store cannot be written (Customer.io retries later;
  nothing unstored is ever acknowledged).

Customer.io retries any webhook that gets no 2xx within 4 s "over a period of seven days with an exponential
backoff" and backlogs the later ones meanwhile; after a 400, 401, 402, 403, 404, 405, 410, 429, 500, 502 or 521
answer (or a refused / reset connection) it first waits one hour (https://docs.customer.io/api/webhooks/,
"Timeouts and failures"). Every failure answer is therefore retried; 503 (not in that list) is retried on the
short backoff, which is why a store outage answers 503 here, unlike Brevo's notice route
(:mod:`.brevo_notify`), which must answer 429 (Brevo discards every 5xx).

Customer.io waits 4 s for an answer and holds back every later event behind a failing one, so the receiver is
fast: concurrent requests share one database transaction (group commit, :class:`GroupCommitWriter`), which keeps
the per-event fsync cost low while still answering each request only after its commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from airflow_provider_customerio.store.inbox import EventStore, StoredEvent
from airflow_provider_customerio.sync.events.ports import SOURCE_WEBHOOK
from airflow_provider_customerio.sync.events.sources import MalformedEventError, validate_webhook_payload
from airflow_provider_customerio.webhooks.signature import (
    DEFAULT_TOLERANCE_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify_signature,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks"
ROUTE_NAME = "customerio_reporting_webhook"
#: Reporting-webhook bodies are small; ``*_sent`` events with ``with_content`` carry the message body.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class KeyNotConfiguredError(RuntimeError):
    """No signing key is available; the message says which connection to create."""


class GroupCommitWriter:
    """Serialises store writes on one thread and commits concurrent requests together.

    :meth:`submit` resolves once the event's transaction is committed, with ``True`` if it was new and ``False``
    for a duplicate. A failed transaction fails every request of its group (they are answered 503, and
    Customer.io delivers them again).

    :param store_factory: opens the store on first use (a mounted sub-app gets no lifespan events).
    :param max_group: events per transaction at most.
    """

    def __init__(self, store_factory: Callable[[], EventStore], *, max_group: int = 500) -> None:
        self._store_factory = store_factory
        self._store: EventStore | None = None
        self.max_group = max_group
        self._queue: queue.SimpleQueue[tuple[StoredEvent, concurrent.futures.Future[bool]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.commits = 0

    @property
    def store(self) -> EventStore:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="customerio-webhook-writer", daemon=True)
                self._thread.start()

    async def submit(self, event: StoredEvent) -> bool:
        """Store ``event``; return whether it was new. Raises what the store raised."""
        fut: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._ensure_thread()
        self._queue.put((event, fut))
        return await asyncio.wrap_future(fut)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            try:
                inserted = self.store.add([ev for ev, _ in group])
                self.commits += 1
            except BaseException as exc:
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for ev, fut in group:
                    if not fut.done():
                        # the first request of a duplicated id in one group reports "new"
                        fut.set_result(ev.event_id in inserted)
                        inserted.discard(ev.event_id)
            if stop:
                return

    def close(self) -> None:
        """Stop the writer thread after the queued events are written."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
        if self._store is not None:
            self._store.dispose()


@dataclass
class ReceiverSettings:
    """Settings of :func:`create_app`.

    :param keys: returns the signing key(s); raises :class:`KeyNotConfiguredError` when there is none.
    :param store_factory: opens the :class:`EventStore`.
    :param max_body_bytes: larger bodies get 413.
    :param tolerance_seconds: the replay window.
    :param counts_sink: adds the receiver's counters (stored, duplicate, refusals by reason) to a lasting store,
        called with the deltas at most every ``counts_interval`` seconds (the status page reads them).
    """

    keys: Callable[[], Sequence[str]]
    store_factory: Callable[[], EventStore]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    clock: Callable[[], float] = time.time
    counts_sink: Callable[[Mapping[str, int]], None] | None = None
    counts_interval: float = 2.0


class CounterFlusher:
    """Counts in memory and hands the deltas to ``sink`` in batches, from a background thread (never on the
    request's path). A failed flush keeps the deltas for the next one.

    :param sink: receives ``{name: delta}``.
    :param interval: seconds between flushes.
    """

    def __init__(self, sink: Callable[[Mapping[str, int]], None], interval: float = 2.0) -> None:
        self.sink = sink
        self.interval = interval
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._pending[name] = self._pending.get(name, 0) + n
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="customerio-webhook-counts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Hand the pending deltas to the sink now."""
        with self._lock:
            deltas, self._pending = self._pending, {}
        if not deltas:
            return
        try:
            self.sink(deltas)
        except Exception as exc:  # kept for the next flush: a counter is never worth a webhook
            log.warning("Could not store the webhook receiver's counters: %s", exc)
            with self._lock:
                for k, v in deltas.items():
                    self._pending[k] = self._pending.get(k, 0) + v


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class _MirroredCounters:
    """The receiver's in-process counters (``memory``), mirrored to the lasting store when there is a sink."""

    def __init__(self, memory: dict[str, int], flusher: CounterFlusher | None) -> None:
        self._memory = memory
        self._flusher = flusher

    def __getitem__(self, name: str) -> int:
        return self._memory.get(name, 0)

    def __setitem__(self, name: str, value: int) -> None:
        delta = value - self._memory.get(name, 0)
        self._memory[name] = value
        if self._flusher is not None and delta:
            self._flusher.add(name, delta)


def _refused(
    request: Request, body: bytes, settings: ReceiverSettings, counters: _MirroredCounters
) -> JSONResponse | None:
    """The answer to a request whose signature cannot be checked (503) or does not match (401); ``None`` when it
    is authentic."""
    try:
        keys = settings.keys()
    except KeyNotConfiguredError as exc:
        counters["unavailable"] += 1
        log.error("Customer.io webhook refused: %s", exc)
        return _error(503, "not_configured", "the receiver has no signing key configured")
    try:
        verify_signature(
            keys,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            tolerance_seconds=settings.tolerance_seconds,
            clock=settings.clock,
        )
    except SignatureError as exc:
        counters["unauthorized"] += 1
        counters[f"unauthorized.{exc.reason}"] += 1
        log.warning("Customer.io webhook refused (%s): %s", exc.reason, exc)
        return _error(401, exc.reason, str(exc))
    return None


async def _receive(
    request: Request, settings: ReceiverSettings, writer: GroupCommitWriter, counters: _MirroredCounters
) -> JSONResponse:
    """``POST /webhooks``: size, signature and payload checks, then the durable write (200 only once stored)."""
    try:
        body = await _read_body(request, settings.max_body_bytes)
    except _TooLarge:
        counters["too_large"] += 1
        return _error(
            413,
            "payload_too_large",
            f"the body is over {settings.max_body_bytes} bytes (raise max_body_bytes in the webhook "
            "connection's extra if Customer.io sends larger events, e.g. with_content)",
        )
    refused = _refused(request, body, settings, counters)
    if refused is not None:
        return refused
    try:
        text = body.decode("utf-8")
        payload: Any = json.loads(text)
        event_id, ts = validate_webhook_payload(payload)
    except (ValueError, MalformedEventError) as exc:
        counters["malformed"] += 1
        message = str(exc) if isinstance(exc, MalformedEventError) else f"the body is not valid UTF-8 JSON ({exc})"
        return _error(400, "malformed", message)
    event = StoredEvent(
        event_id=event_id, source=SOURCE_WEBHOOK, payload=text, event_ts=ts, received_at=settings.clock()
    )
    try:
        new = await writer.submit(event)
    except Exception as exc:
        counters["unavailable"] += 1
        log.error(
            "Customer.io webhook %s not stored (%s: %s); answered 503 so that Customer.io retries",
            event_id,
            type(exc).__name__,
            exc,
        )
        return _error(503, "store_unavailable", "the event could not be stored; retry later")
    counters["stored" if new else "duplicate"] += 1
    return JSONResponse({"status": "stored" if new else "duplicate", "event_id": event_id})


def create_app(settings: ReceiverSettings) -> FastAPI:
    """The receiver app (``POST /webhooks``, ``GET /webhooks/health``); ``app.state.writer`` is its writer."""
    app = FastAPI(title="Customer.io reporting webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    writer = GroupCommitWriter(settings.store_factory)
    app.state.writer = writer
    app.state.settings = settings
    app.state.counters = {
        "stored": 0,
        "duplicate": 0,
        "unauthorized": 0,
        "malformed": 0,
        "too_large": 0,
        "unavailable": 0,
    }
    flusher = CounterFlusher(settings.counts_sink, settings.counts_interval) if settings.counts_sink else None
    app.state.counts_flusher = flusher
    counters = _MirroredCounters(app.state.counters, flusher)

    @app.post(WEBHOOK_PATH, name=ROUTE_NAME)
    async def receive(request: Request) -> JSONResponse:
        return await _receive(request, settings, writer, counters)

    @app.get(f"{WEBHOOK_PATH}/health", name="customerio_webhook_health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "CounterFlusher",
    "GroupCommitWriter",
    "KeyNotConfiguredError",
    "ReceiverSettings",
    "ROUTE_NAME",
    "WEBHOOK_PATH",
    "create_app",
]
