"""Receivers answer so that the sender retries, and the sandbox's senders follow each vendor's published rules.

* Brevo retries a webhook or a ``notifyUrl`` call only when it gets no answer or a **429**; any other 4xx and any
  5xx discard it; retries 10 min, 1 h, 2 h and 8 h after the previous attempt
  (https://developers.brevo.com/docs/retry-mechanism). The provider's notice route answers 429 when the store is
  down.
* Customer.io retries a reporting webhook that gets no 2xx within 4 s with exponential backoff for up to 7 days,
  holding later webhooks back; after a 400, 401, 402, 403, 404, 405, 410, 429, 500, 502 or 521 answer, or a refused
  / reset connection, it first waits one hour (https://docs.customer.io/api/webhooks/, "Timeouts and failures").

Real HTTP on 127.0.0.1; the senders' clocks are virtual (the sandbox clock, or an injected one): nothing waits for
a retry delay in real time.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from airflow_provider_customerio.sandbox.brevo.standalone import build_standalone_app
from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from airflow_provider_customerio.sandbox.notify import RETRY_DELAYS, Notifier
from airflow_provider_customerio.sandbox.webhook_emitter import SENDER_BACKOFF, WebhookSender, make_event
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.webhooks.brevo_notify import create_notify_app, notice_url
from tests.serve import ThreadedServer

pytestmark = pytest.mark.integration

KEY = "sandbox-brevo-retry-key"


def _until(fn: Any, deadline_s: float = 60.0) -> Any:
    """Readiness wait (not a timing assertion): the sandbox's background thread sends on its own."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the condition never held")


def free_port() -> int:
    """A loopback port nothing listens on (a connection to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_url(path: str = "/hook") -> str:
    return f"http://127.0.0.1:{free_port()}{path}"


class Scripted:
    """A receiver answering the statuses of ``script`` in turn (then the last one), recording what it got."""

    def __init__(self, *script: int, port: int = 0) -> None:
        self.script = list(script)
        self.got: list[bytes] = []

        async def hook(request: Request) -> JSONResponse:
            self.got.append(await request.body())
            status = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            return JSONResponse({"status": status}, status_code=status)

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        server = ThreadedServer(app)
        server.server.config.port = port
        self.server = server.start()
        self.url = f"{self.server.base_url}/hook"


@pytest.fixture
def scripted() -> Iterator[Any]:
    made: list[Scripted] = []

    def make(*script: int, port: int = 0) -> Scripted:
        made.append(Scripted(*script, port=port))
        return made[-1]

    yield make
    for s in made:
        s.server.stop()


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


# --------------------------------------------------------------------------------- the provider's notice route


class FlakyNotices:
    """The store's notices, unavailable while ``down`` (every record raises, as a dead database does)."""

    def __init__(self, store: SyncStore) -> None:
        self.inner = store.notices()
        self.down = False
        self.stored = 0

    def notices(self) -> FlakyNotices:
        return self

    def record(self, token: str, body: bytes) -> bool:
        if self.down:
            raise ConnectionError("the sync store is unavailable")
        self.stored += 1
        return self.inner.record(token, body)


def test_notice_route_answers_429_while_the_store_is_down_and_brevos_retry_lands_once(tmp_path: Path) -> None:
    store = SyncStore.at(tmp_path / "store.db")
    flaky = FlakyNotices(store)
    state = BrevoState(KEY)
    state.seed(random.Random(0))
    brevo = ThreadedServer(build_standalone_app(state)).start()
    notify = ThreadedServer(create_notify_app(lambda: flaky)).start()  # type: ignore[arg-type,return-value]
    try:
        notices = store.notices()
        token = notices.issue("import")
        flaky.down = True
        body = {"jsonBody": [{"email": "ann@example.com"}], "listIds": [12]}
        body["notifyUrl"] = notice_url(notify.base_url, token)
        resp = requests.post(
            f"{brevo.base_url}/brevo/v3/contacts/import", json=body, headers={"api-key": KEY}, timeout=30
        )
        assert resp.status_code == 202, resp.text
        pid = resp.json()["processId"]
        notices.bind(token, pid)

        (first,) = _until(lambda: state.notifier.attempts)
        assert first["http_status"] == 429  # not a 5xx: Brevo discards those
        assert notices.received([pid]) == {} and state.notifier.pending == 1  # kept for a retry, not dropped

        flaky.down = False
        state.sandbox_clock.advance(RETRY_DELAYS[0])  # Brevo's first retry, 10 minutes later
        got = _until(lambda: notices.received([pid]))
        assert got[pid]["body"]["processId"] == pid
        _until(lambda: state.notifier.sent)
        assert [a.get("http_status") for a in state.notifier.attempts] == [429, 200]
        assert state.notifier.sent == [
            {"process_id": pid, "status": "completed", "attempts": 2, "result": "delivered", "http_status": 200}
        ]
        assert flaky.stored == 1 and state.notifier.pending == 0
    finally:
        brevo.stop()
        notify.stop()


# --------------------------------------------------------------------------------- the sandbox's Brevo sender


def _drive(notifier: Notifier, clock: Clock, hours: float = 12.0, step: float = 60.0) -> None:
    """Let ``hours`` pass on the notifier's clock, pumping every ``step`` seconds."""
    end = clock.t + hours * 3600
    notifier.pump()
    while clock.t < end:
        clock.t += step
        notifier.pump()


def test_brevo_sender_retries_a_429_on_the_published_schedule_then_gives_up(scripted: Any) -> None:
    receiver, clock = scripted(429), Clock()
    notifier = Notifier(clock=clock.now, background=False)
    start = clock.t
    notifier.send(receiver.url, {"processId": 7, "status": "completed"})
    _drive(notifier, clock, hours=12)
    offsets = [a["at"] - start for a in notifier.attempts]
    assert offsets == [0, 600, 600 + 3600, 600 + 3600 + 7200, 600 + 3600 + 7200 + 28800]  # 5 requests in all
    assert len(receiver.got) == 5 and notifier.sent[0]["result"] == "gave_up" and notifier.pending == 0


def test_brevo_sender_retries_when_nobody_answers_and_delivers_on_the_next_try(scripted: Any) -> None:
    clock, port = Clock(), free_port()
    notifier = Notifier(clock=clock.now, background=False)
    notifier.send(f"http://127.0.0.1:{port}/hook", {"processId": 8, "status": "completed"})
    notifier.pump()
    assert notifier.attempts[0]["error"] == "ConnectionError" and notifier.pending == 1
    clock.t += RETRY_DELAYS[0] - 1
    assert notifier.pump() == 0  # Brevo pauses 10 minutes after a receiver that does not answer
    scripted(429, 200, port=port)  # the receiver is up again, on the same address
    _drive(notifier, clock, hours=2)
    assert [a.get("http_status") for a in notifier.attempts] == [None, 429, 200]
    assert notifier.sent[0]["result"] == "delivered" and notifier.sent[0]["attempts"] == 3


@pytest.mark.parametrize("status", [400, 401, 404, 409, 500, 502, 503])
def test_brevo_sender_discards_any_other_4xx_and_any_5xx_at_once(scripted: Any, status: int) -> None:
    receiver, clock = scripted(status, 200), Clock()
    notifier = Notifier(clock=clock.now, background=False)
    notifier.send(receiver.url, {"processId": 9, "status": "completed"})
    _drive(notifier, clock, hours=12)
    assert len(receiver.got) == 1  # never called again, even though the receiver would answer 200 now
    assert notifier.sent == [
        {"process_id": 9, "status": "completed", "attempts": 1, "result": "discarded", "http_status": status}
    ]


# --------------------------------------------------------------------------------- the sandbox's Customer.io sender


def _attempt_times(sender: WebhookSender, hours: float, step: float = 5.0) -> list[float]:
    times: list[float] = []
    end = sender.now + hours * 3600
    while sender.now <= end and sender.queue:
        before = sender.stats.requests
        sender.pump()
        if sender.stats.requests > before:
            times.append(sender.now)
        sender.advance(step)
    return times


def test_customerio_sender_backs_off_exponentially_after_a_503_holding_later_webhooks(scripted: Any) -> None:
    receiver = scripted(503, 503, 503, 200)
    sender = WebhookSender(receiver.url, "k", seed=1)
    sender.enqueue([make_event(i) for i in range(3)])
    try:
        times = _attempt_times(sender, hours=1)
        assert times[:4] == [0.0, SENDER_BACKOFF[0], SENDER_BACKOFF[0] + SENDER_BACKOFF[1], sum(SENDER_BACKOFF[:3])]
        assert sender.stats.delivered == 3 and len(receiver.got) == 6  # 4 tries of the first, then the 2 held back
        assert sender.stats.held_back == 3 * 2
    finally:
        sender.close()


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 502])
def test_customerio_sender_waits_an_hour_after_the_listed_answers(scripted: Any, status: int) -> None:
    receiver = scripted(status, status, 200)
    sender = WebhookSender(receiver.url, "k", seed=1)
    sender.enqueue([make_event(0), make_event(1)])
    try:
        times = _attempt_times(sender, hours=3, step=60.0)
        assert times[:3] == [0.0, 3600.0, 7200.0]
        assert sender.stats.delivered == 2 and len(receiver.got) == 4
    finally:
        sender.close()


def test_customerio_sender_waits_an_hour_after_a_refused_connection_and_times_out_at_4_s() -> None:
    sender = WebhookSender(dead_url("/customerio/webhooks"), "k")
    sender.enqueue([make_event(0)])
    try:
        assert _attempt_times(sender, hours=2.5, step=60.0) == [0.0, 3600.0, 7200.0]
        assert sender.timeout == 4.0
    finally:
        sender.close()
