"""The sandbox's Brevo ``notifyUrl`` calls: when a background process ends, call the URL the request gave.

Brevo: "It returns the background process ID which on completion calls the notify URL that you have set in the
input" (https://developers.brevo.com/reference/import-contacts). Neither the HTTP method nor the body is
documented. ⚠ The sandbox sends ``POST`` with the JSON ``{"processId": <id>, "status": "completed"|"failed",
"name": "IMPORTUSER"}``; a client must not rely on more than the call itself (the provider reads the process
once it is notified).

Calls go out from one background thread, never under the state lock, with up to :data:`ATTEMPTS` tries. The same
thread drives background completion (:meth:`tick`) while processes wait, so a client that waits for the notice
instead of polling still sees its process end (the sandbox otherwise runs due work only when a request arrives).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

log = logging.getLogger(__name__)

ATTEMPTS = 3
TIMEOUT_S = 10.0


def valid_notify_url(value: Any) -> bool:
    """``notifyUrl`` is a string URL (the spec's ``format: url``)."""
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 2048


class Notifier:
    """Sends notices in the background and ticks the state's due work while any process waits.

    :param tick: called every ``interval`` seconds while :attr:`waiting` is positive (the state's ``run_due``).
    :param interval: seconds between ticks (real time).
    """

    def __init__(self, tick: Callable[[], Any] | None = None, *, interval: float = 0.2) -> None:
        self._tick = tick
        self.interval = interval
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: processes with a notifyUrl that have not ended (the thread ticks while this is positive)
        self.waiting = 0
        #: what was sent: ``{"process_id", "status", "http_status" | "error", "attempts"}`` (no URL: it holds a token)
        self.sent: list[dict[str, Any]] = []

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

    def clear(self) -> None:
        with self._lock:
            self.waiting = 0
            self.sent.clear()

    def _ensure_thread(self) -> None:
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
                continue
            self.sent.append(self._deliver(url, body))

    @staticmethod
    def _deliver(url: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        outcome: dict[str, Any] = {"process_id": body.get("processId"), "status": body.get("status")}
        for attempt in range(1, ATTEMPTS + 1):
            outcome["attempts"] = attempt
            try:
                resp = requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_S)
            except requests.RequestException as exc:
                outcome["error"] = type(exc).__name__
            else:
                outcome["http_status"] = resp.status_code
                if resp.status_code < 500:
                    return outcome
            time.sleep(0.5 * attempt)
        return outcome


__all__ = ["Notifier", "valid_notify_url"]
