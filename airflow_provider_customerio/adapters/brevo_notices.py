"""Brevo imports that end with a notice instead of polls: the ``notifyUrl`` per import, the notices per wait.

When the Brevo connection has the extra ``notify_url`` (the public base URL of the provider's plugin on the
api-server, ``https://<api-server>/customerio``), every import carries ``notifyUrl=<notify_url>/brevo/processes/
<token>`` with a fresh token registered in the shared sync store, and the waits read the notices from that store
(a database read) instead of spending Brevo's "all other endpoints" budget, 100 requests per hour on the General
plan, on ``GET /processes/{id}`` (https://developers.brevo.com/docs/api-limits). A notice only says "look now":
the notified process is fetched once to read its outcome, so a replayed or forged notice costs one poll and
nothing else. With no notice by ``notify_deadline`` seconds (default :data:`DEFAULT_NOTICE_DEADLINE_S`) a wait
falls back to polling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.store.notices import ProcessNotices, notice_url
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.import_slots import certainly_not_started

log = logging.getLogger(__name__)

#: Seconds a wait trusts the notices alone before it polls a process that has sent none.
DEFAULT_NOTICE_DEADLINE_S = 900.0
#: How long an import waits for the notice of an earlier identical request whose answer was lost, and how far back
#: such requests are looked for. A retry runs minutes after its killed try (Airflow's heartbeat timeout), so the
#: notice of an import Brevo applied has usually arrived; a request that never reached Brevo costs this wait.
LOST_ANSWER_WAIT_S = 60.0
LOST_ANSWER_HORIZON_S = 24 * 3600.0
LOST_ANSWER_POLL_S = 2.0


class BrevoImportNotices:
    """The notice side of Brevo imports: :meth:`start` sends one with its ``notifyUrl``; calling the object
    returns the notices received for process ids (the ``notices`` of :func:`~airflow_provider_customerio.sync.
    processes.wait_for_processes`).

    :param base_url: the connection extra ``notify_url``.
    :param notices: the store's notice table.
    :param deadline_s: seconds to wait for a notice before polling.
    """

    def __init__(
        self, base_url: str, notices: ProcessNotices, *, deadline_s: float = DEFAULT_NOTICE_DEADLINE_S
    ) -> None:
        self.base_url = base_url
        self.notices = notices
        self.deadline_s = deadline_s

    @classmethod
    def for_hook(cls, hook: BrevoHook, store: SyncStore | Callable[[], SyncStore]) -> BrevoImportNotices | None:
        """The notices of ``hook``'s connection, or ``None`` when it has no ``notify_url`` (the waits poll)."""
        base = hook.notify_base_url
        if base is None:
            return None
        raw = hook.extras.get("notify_deadline")
        if raw is None or raw == "":  # the connection form stores an empty field as null
            raw = DEFAULT_NOTICE_DEADLINE_S
        try:
            deadline = float(raw)
        except (TypeError, ValueError):
            deadline = -1.0
        if deadline <= 0:
            raise ConfigError(
                f"Connection '{hook.conn_id}': extra field 'notify_deadline' must be a number of seconds > 0 "
                f"(how long a wait trusts Brevo's notices before polling), got {raw!r}."
            )
        opened = store if isinstance(store, SyncStore) else store()
        return cls(base, opened.notices(), deadline_s=deadline)

    def start(self, submit: Callable[[str | None], int], kind: str = "import", digest: str | None = None) -> int:
        """Issue a token, call ``submit(notify_url)`` (which sends the request and returns the process id), bind
        the id to the token, and return the id.

        With ``digest`` (what the request asks, see :func:`request_digest`), an earlier identical request
        whose answer was lost (its caller was killed after Brevo applied it) is found first: when its notice names
        the process, that process is returned and nothing is sent again (:meth:`adopt`)."""
        if digest is not None:
            adopted = self.adopt(digest)
            if adopted is not None:
                return adopted
        token = self.notices.issue(kind, digest)
        try:
            process_id = submit(notice_url(self.base_url, token))
        except Exception as exc:
            # A refused request is retried anew, not waited for as a lost answer; a lost answer (a timeout, a 5xx)
            # may hide a process Brevo started: its token stays for the retry to adopt (:meth:`adopt`).
            if certainly_not_started(exc):
                self.notices.forget(token)
            raise
        self.notices.bind(token, process_id)
        return process_id

    def adopt(self, digest: str) -> int | None:
        """The process of an earlier request asking ``digest`` whose answer was lost, as its notice names it (the
        sandbox's notice body carries ``processId``; Brevo does not document the body, so a notice naming no
        process adopts nothing). A lost answer not notified yet is waited for up to :data:`LOST_ANSWER_WAIT_S`
        (and no longer than the notice deadline after it was sent); ``None``: send the request again."""
        until = time.time() + LOST_ANSWER_WAIT_S
        while True:
            lost = self.notices.lost_answers(digest, since=time.time() - LOST_ANSWER_HORIZON_S)
            named = next((x for x in lost if x.process_id is not None), None)
            if named is not None and named.process_id is not None:
                self.notices.bind_lost(named, named.process_id)
                log.warning(
                    "Brevo process %s is an earlier identical request whose answer was lost (its task was killed "
                    "or timed out after Brevo applied it): waiting for it instead of sending it again",
                    named.process_id,
                )
                return named.process_id
            waiting = [x for x in lost if x.notified_at is None and time.time() < x.created_at + self.deadline_s]
            if not waiting or time.time() >= until:
                self.notices.forget_lost(lost)  # superseded by the request sent now: not waited for again
                return None
            time.sleep(LOST_ANSWER_POLL_S)

    def __call__(self, process_ids: Sequence[int]) -> Mapping[int, Mapping[str, Any]]:
        return self.notices.received(process_ids)


def start_import(
    send: Callable[[str | None], int], notices: BrevoImportNotices | None, digest: str | None = None
) -> int:
    """``send(notify_url)`` with a registered notice URL when ``notices`` is on (an earlier identical request whose
    answer was lost is adopted instead, see :meth:`BrevoImportNotices.start`), else ``send(None)``."""
    if notices is None:
        return send(None)
    return notices.start(send, digest=digest)


def request_digest(rows: Sequence[Mapping[str, Any]], **options: Any) -> str:
    """What an import asks: the SHA-256 of its rows and options (the same batch sent again has the same digest)."""
    payload = json.dumps({"rows": list(rows), **options}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def wait_options(notices: BrevoImportNotices | None) -> dict[str, Any]:
    """The ``notices`` and ``notice_deadline_s`` keyword arguments of a wait (empty when polling)."""
    if notices is None:
        return {}
    return {"notices": notices, "notice_deadline_s": notices.deadline_s}


__all__ = ["DEFAULT_NOTICE_DEADLINE_S", "BrevoImportNotices", "request_digest", "start_import", "wait_options"]
