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

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.store.notices import ProcessNotices, notice_url

#: Seconds a wait trusts the notices alone before it polls a process that has sent none.
DEFAULT_NOTICE_DEADLINE_S = 900.0


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

    def start(self, submit: Callable[[str | None], int], kind: str = "import") -> int:
        """Issue a token, call ``submit(notify_url)`` (which sends the request and returns the process id), bind
        the id to the token, and return the id."""
        token = self.notices.issue(kind)
        process_id = submit(notice_url(self.base_url, token))
        self.notices.bind(token, process_id)
        return process_id

    def __call__(self, process_ids: Sequence[int]) -> Mapping[int, Mapping[str, Any]]:
        return self.notices.received(process_ids)


def start_import(send: Callable[[str | None], int], notices: BrevoImportNotices | None) -> int:
    """``send(notify_url)`` with a registered notice URL when ``notices`` is on, else ``send(None)``."""
    if notices is None:
        return send(None)
    return notices.start(send)


def wait_options(notices: BrevoImportNotices | None) -> dict[str, Any]:
    """The ``notices`` and ``notice_deadline_s`` keyword arguments of a wait (empty when polling)."""
    if notices is None:
        return {}
    return {"notices": notices, "notice_deadline_s": notices.deadline_s}


__all__ = ["DEFAULT_NOTICE_DEADLINE_S", "BrevoImportNotices", "start_import", "wait_options"]
