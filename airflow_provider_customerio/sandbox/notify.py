"""The sandbox's Brevo ``notifyUrl`` calls: when a background process ends, call the URL the request gave.

Brevo: "It returns the background process ID which on completion calls the notify URL that you have set in the
input" (https://developers.brevo.com/reference/import-contacts). Neither the HTTP method nor the body is
documented. ⚠ The sandbox sends ``POST`` with the JSON ``{"processId": <id>, "status": "completed"|"failed",
"name": "IMPORTUSER"}``; a client must not rely on more than the call itself (the provider reads the process
once it is notified).

Retries follow Brevo's published rules for webhooks and notify-URL calls (https://developers.brevo.com/docs/
retry-mechanism): a call the receiver does not answer (no connection, a timeout) or answers **429** is retried
4 times, 10 min, 1 h, 2 h and 8 h after the previous attempt (5 requests in all); **any other 4xx and any 5xx
discard it** at once (so a receiver that wants the call again answers 429). A 2xx ends it. The delays run on the
sandbox clock (:class:`~airflow_provider_customerio.sandbox.clock.SandboxClock`; ``POST /_sandbox/clock/advance``
brings a retry due), never on wall time.

Calls go out from one background thread, never under the state lock. The same thread drives background completion
(:meth:`tick`) while processes wait, so a client that waits for the notice instead of polling still sees its
process end (the sandbox otherwise runs due work only when a request arrives).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

log = logging.getLogger(__name__)

#: Delays (seconds) before the 1st..4th retry, each after the previous attempt (Brevo's retry mechanism).
RETRY_DELAYS: tuple[float, ...] = (600.0, 3600.0, 7200.0, 28800.0)
#: The only answer Brevo retries on; other 4xx and all 5xx discard the call.
RETRY_STATUS = 429
TIMEOUT_S = 10.0


def valid_notify_url(value: Any) -> bool:
    """``notifyUrl`` is a string URL (the spec's ``format: url``)."""
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 2048


@dataclass
class _Call:
    url: str
    body: dict[str, Any]
    due_at: float
    attempts: int = 0
    outcome: dict[str, Any] = field(default_factory=dict)


class Notifier:
    """Sends notices in the background and ticks the state's due work while any process waits.

    :param tick: called every ``interval`` seconds while :attr:`waiting` is positive (the state's ``run_due``).
    :param interval: seconds between ticks and retry checks (real time).
    :param clock: seconds on the sandbox clock, which the retry delays run on (wall time by default).
    :param background: send from a background thread (the default); ``False``: only :meth:`pump` sends (tests).
    """

    def __init__(
        self,
        tick: Callable[[], Any] | None = None,
        *,
        interval: float = 0.2,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        self._tick = tick
        self.interval = interval
        self.clock = clock
        self.background = background
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._calls: list[_Call] = []
        #: processes with a notifyUrl that have not ended (the thread ticks while this is positive)
        self.waiting = 0
        #: calls that ended: ``{"process_id", "status", "attempts", "result": "delivered" | "discarded" |
        #: "gave_up", "http_status" | "error"}`` (no URL: it holds a token)
        self.sent: list[dict[str, Any]] = []
        #: every request made: ``{"process_id", "attempt", "at" (sandbox clock), "http_status" | "error"}``
        self.attempts: list[dict[str, Any]] = []

    def expect(self) -> None:
        """A process with a notifyUrl started: keep ticking until it ends."""
        with self._lock:
            self.waiting += 1
        self._ensure_thread()

    def send(self, url: str, body: dict[str, Any]) -> None:
        """Queue the call of ``url`` (called under the state lock: no I/O here)."""
        with self._lock:
            self.waiting = max(0, self.waiting - 1)
        self._queue.put((url, body))
        self._ensure_thread()

    @property
    def pending(self) -> int:
        """Calls queued or waiting for a retry."""
        with self._lock:
            return self._queue.qsize() + len(self._calls)

    def clear(self) -> None:
        with self._lock:
            self.waiting = 0
            self.sent.clear()
            self.attempts.clear()
            self._calls.clear()
            while not self._queue.empty():
                self._queue.get_nowait()

    def _ensure_thread(self) -> None:
        if not self.background:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-brevo-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                url, body = self._queue.get(timeout=self.interval)
            except queue.Empty:
                if self.waiting and self._tick is not None:
                    try:
                        self._tick()
                    except Exception:  # a tick error must not end the thread
                        log.exception("sandbox background tick failed")
            else:
                with self._lock:
                    self._calls.append(_Call(url, body, self.clock()))
            try:
                self.pump()
            except Exception:  # a delivery error must not end the thread
                log.exception("sandbox notify delivery failed")

    def pump(self) -> int:
        """Make every call that is due on the sandbox clock (new ones, and retries whose delay has passed);
        returns how many requests were made."""
        now = self.clock()
        with self._lock:
            while not self._queue.empty():
                url, body = self._queue.get_nowait()
                self._calls.append(_Call(url, body, now))
            due = [c for c in self._calls if c.due_at <= now]
        for call in due:
            self._attempt(call, now)
        return len(due)

    def _attempt(self, call: _Call, now: float) -> None:
        call.attempts += 1
        outcome = {"process_id": call.body.get("processId"), "status": call.body.get("status")}
        answer: dict[str, Any] = {}
        try:
            resp = requests.post(
                call.url,
                data=json.dumps(call.body).encode(),
                headers={"Content-Type": "application/json"},
                timeout=TIMEOUT_S,
            )
        except requests.RequestException as exc:
            answer["error"] = type(exc).__name__  # no answer: retried
            retry = True
        else:
            answer["http_status"] = resp.status_code
            retry = resp.status_code == RETRY_STATUS
        self.attempts.append({**outcome, "attempt": call.attempts, "at": now, **answer})
        if 200 <= answer.get("http_status", 0) < 300:
            result = "delivered"
        elif not retry:
            result = "discarded"  # any 4xx but 429, any 5xx (and anything else): Brevo drops the call
        elif call.attempts > len(RETRY_DELAYS):
            result = "gave_up"
        else:
            call.due_at = now + RETRY_DELAYS[call.attempts - 1]
            return
        with self._lock:
            self._calls = [c for c in self._calls if c is not call]
            self.sent.append({**outcome, "attempts": call.attempts, "result": result, **answer})


__all__ = ["RETRY_DELAYS", "RETRY_STATUS", "Notifier", "valid_notify_url"]
