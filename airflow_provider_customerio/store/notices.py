"""Brevo process-completion notices: what Brevo's ``notifyUrl`` callbacks leave in the shared store.

Brevo's import (and export) endpoints take a ``notifyUrl`` that Brevo calls when the background process ends
("It returns the background process ID which on completion calls the notify URL that you have set in the input":
https://developers.brevo.com/reference/import-contacts). Polling ``GET /processes/{id}`` instead spends the
"all other endpoints" budget, 100 requests per hour on the General plan
(https://developers.brevo.com/docs/api-limits).

The flow, across machines:

1. the task calls :meth:`ProcessNotices.issue` before it sends the import: a fresh unguessable token whose
   SHA-256 is stored (the table never holds a usable token), and puts ``<base>/brevo/processes/<token>`` in the
   body as ``notifyUrl``;
2. once Brevo answers 202 with ``processId``, the task calls :meth:`ProcessNotices.bind`;
3. Brevo calls the URL; the api-server's route (:mod:`airflow_provider_customerio.webhooks.brevo_notify`) calls
   :meth:`ProcessNotices.record` (a notice that arrives before step 2 is kept and matched once bound);
4. the wait (task or triggerer) reads :meth:`ProcessNotices.received` for its pending process ids, a database
   read that costs no Brevo budget, and fetches each notified process once to read its outcome.

The body Brevo posts is not documented, so it is stored (truncated) for diagnosis, and read only to find the
process of a request whose answer was lost (:meth:`ProcessNotices.lost_answers`: each request keeps the digest of
what it asked; when the notice of an unanswered one names its ``processId``, a retry waits for that process instead
of sending the same import again; a notice naming none changes nothing: the import is sent again).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import schema
from airflow_provider_customerio.store.engine import read_connection

#: The notice route's path under the provider plugin's prefix (served by webhooks/brevo_notify.py).
NOTIFY_PATH = "/brevo/processes"
#: The most of a notice body kept (the body is diagnostic only).
MAX_BODY_CHARS = 4096
#: Tokens carry 256 random bits: guessing one is not a way in.
TOKEN_BYTES = 32
#: Notices older than this are removed by :meth:`ProcessNotices.prune`.
DEFAULT_RETENTION_S = 7 * 24 * 3600.0


def notice_url(base: str, token: str) -> str:
    """The ``notifyUrl`` for ``token`` under ``base`` (the Brevo connection extra ``notify_url``)."""
    return f"{base.rstrip('/')}{NOTIFY_PATH}/{token}"


def token_digest(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LostAnswer:
    """An earlier request whose answer (its process id) never reached the caller; ``body`` is its notice's body
    once Brevo called back (``None`` before)."""

    token_digest: str
    created_at: float
    notified_at: float | None
    body: Any

    @property
    def process_id(self) -> int | None:
        """The process id the notice names (``processId``), if it names one: Brevo does not document the body."""
        value = self.body.get("processId") if isinstance(self.body, Mapping) else None
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class ProcessNotices:
    """The ``process_notice`` table: issue tokens, bind them to process ids, record and read notices.

    :param engine: the sync store's engine (:attr:`airflow_provider_customerio.store.sync_store.SyncStore.engine`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(self, kind: str = "import", request_digest: str | None = None) -> str:
        """A new token for one process of ``kind`` (``import``, ``export``, ``objects``); only its digest is kept,
        with the ``request_digest`` of what the request asks when given (see :meth:`lost_answers`)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        row = {
            "token_digest": token_digest(token),
            "kind": kind[:32],
            "created_at": time.time(),
            "request_digest": request_digest,
        }
        with self.engine.begin() as conn:
            conn.execute(schema.process_notice.insert().values(**row))
        return token

    def forget(self, token: str) -> None:
        """Drop the notice of a request that failed (it will not be called back, nor waited for)."""
        t = schema.process_notice
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.token_digest == token_digest(token), t.c.process_id.is_(None)))

    def bind(self, token: str, process_id: int | str) -> None:
        """Attach the process id Brevo returned for the request that carried ``token``."""
        t = schema.process_notice
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.token_digest == token_digest(token)).values(process_id=str(process_id)))

    def record(self, token: str, body: bytes | str = b"") -> bool:
        """Stamp the notice of ``token`` as received (first call wins); ``False`` for a token never issued."""
        t = schema.process_notice
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        digest = token_digest(token)
        with self.engine.begin() as conn:
            known = conn.execute(sa.select(t.c.notified_at).where(t.c.token_digest == digest)).first()
            if known is None:
                return False
            if known[0] is None:
                conn.execute(
                    t.update()
                    .where(t.c.token_digest == digest, t.c.notified_at.is_(None))
                    .values(notified_at=time.time(), body=text[:MAX_BODY_CHARS])
                )
        return True

    def received(self, process_ids: Iterable[int | str]) -> dict[int, dict[str, Any]]:
        """The notices received for ``process_ids``: ``{process id: {"notified_at": ts, "body": ...}}``.

        The body is parsed as JSON when it is JSON, else kept as text.
        """
        ids = sorted({str(p) for p in process_ids})
        if not ids:
            return {}
        t = schema.process_notice
        found: dict[int, dict[str, Any]] = {}
        with read_connection(self.engine) as conn:
            for start in range(0, len(ids), 500):
                q = sa.select(t.c.process_id, t.c.notified_at, t.c.body).where(
                    t.c.process_id.in_(ids[start : start + 500]), t.c.notified_at.is_not(None)
                )
                for pid, at, body in conn.execute(q):
                    found[int(pid)] = {"notified_at": float(at), "body": _parse(body)}
        return found

    def lost_answers(self, request_digest: str, since: float) -> list[LostAnswer]:
        """Earlier requests asking ``request_digest`` (issued after ``since``) whose process id was never bound: the
        caller was killed, or timed out, before Brevo's answer. Oldest first."""
        t = schema.process_notice
        q = (
            sa.select(t.c.token_digest, t.c.created_at, t.c.notified_at, t.c.body)
            .where(t.c.request_digest == request_digest, t.c.process_id.is_(None), t.c.created_at >= since)
            .order_by(t.c.created_at)
        )
        with read_connection(self.engine) as conn:
            return [
                LostAnswer(d, float(c), None if n is None else float(n), _parse(b)) for d, c, n, b in conn.execute(q)
            ]

    def forget_lost(self, lost: Iterable[LostAnswer]) -> None:
        """Drop lost answers given up on (their request is sent again)."""
        t = schema.process_notice
        digests = [x.token_digest for x in lost]
        if digests:
            with self.engine.begin() as conn:
                conn.execute(t.delete().where(t.c.token_digest.in_(digests), t.c.process_id.is_(None)))

    def bind_lost(self, lost: LostAnswer, process_id: int | str) -> None:
        """Bind a lost answer's notice to the process its notice named (:meth:`received` then finds it)."""
        t = schema.process_notice
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.token_digest == lost.token_digest).values(process_id=str(process_id)))

    def prune(self, older_than_s: float = DEFAULT_RETENTION_S) -> int:
        """Remove notices (received or not) issued more than ``older_than_s`` seconds ago; the count removed."""
        t = schema.process_notice
        with self.engine.begin() as conn:
            return int(conn.execute(t.delete().where(t.c.created_at < time.time() - older_than_s)).rowcount or 0)


def _parse(body: str | None) -> Any:
    if not body:
        return None
    try:
        value: Any = json.loads(body)
    except ValueError:
        return body
    return value if isinstance(value, (Mapping, list)) else body


__all__ = ["DEFAULT_RETENTION_S", "NOTIFY_PATH", "LostAnswer", "ProcessNotices", "notice_url", "token_digest"]
