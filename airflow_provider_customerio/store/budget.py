"""Brevo's hourly budget of "all other endpoints", per account, shared by every task, triggerer and machine.

Brevo counts 100, 200 or 600 calls per hour to ``/processes``, ``/objects`` and ``/account`` per account, by plan
(https://developers.brevo.com/docs/api-limits). A limiter per hook lets two tasks spend twice that, so the hooks of
tasks reserve their calls here, in the rows of :data:`~airflow_provider_customerio.store.schema.request_budget`.

The budget is ``limit`` slots per account. A slot carries one call at a time and its next call no sooner than
``window_s`` after the last, so any window of ``window_s`` seconds, fixed or sliding, holds at most one call per
slot: at most ``limit`` calls. A reservation takes the slot whose last call is oldest, at ``now`` if that call left
the window, else at the moment it leaves (the caller sleeps until then). One transaction reads the account's slots
(``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and moves the chosen slot by a
conditional ``UPDATE`` on its use count, so of two concurrent reservers of one slot only one wins and the other
tries again; a new slot is an ``INSERT`` that fails for all but one. This module only stores; the waiting is
:class:`~airflow_provider_customerio.hooks.ratelimit.SharedWindowLimiter`'s.

A reservation whose caller dies unsent stays spent (the budget errs on the safe side). Lowering ``limit`` (a smaller
plan) ignores the slots numbered above it, so for one window after the change the account may see calls of both.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import schema
from airflow_provider_customerio.store.engine import read_connection

#: Reservation attempts before giving up (each lost race to another reserver costs one).
MAX_ATTEMPTS = 200


class BudgetContention(RuntimeError):
    """Every attempt to reserve a call lost its race to another reserver (should not happen in practice)."""


class RequestBudgetTable:
    """The ``request_budget`` table: calls spent per account in a sliding window.

    Satisfies :class:`~airflow_provider_customerio.hooks.ratelimit.WindowLedger`.

    :param engine: the sync store's engine (:attr:`airflow_provider_customerio.store.sync_store.SyncStore.engine`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def reserve(self, account: str, *, limit: int, window_s: float, now: float) -> float:
        """Record one call of ``account`` and return when it may be sent: ``now`` when fewer than ``limit`` calls
        fell in the last ``window_s`` seconds, else the moment the oldest of them leaves the window.

        :raises ValueError: ``limit`` below 1 or ``window_s`` not positive.
        """
        if limit < 1 or window_s <= 0:
            raise ValueError(f"a request budget needs limit >= 1 and window_s > 0, got {limit} and {window_s}")
        for _ in range(MAX_ATTEMPTS):
            at = self._try_reserve(account, limit, window_s, now)
            if at is not None:
                return at
        raise BudgetContention(f"no request budget reserved for {account} after {MAX_ATTEMPTS} attempts")

    def _try_reserve(self, account: str, limit: int, window_s: float, now: float) -> float | None:
        t = schema.request_budget
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t.c.slot, t.c.used_at, t.c.seq)
                .where(t.c.account == account, t.c.slot < limit)
                .with_for_update()
            ).all()
            if len(rows) < limit:
                taken = {int(r[0]) for r in rows}
                free = next(i for i in range(limit) if i not in taken)
                try:
                    with conn.begin_nested():
                        conn.execute(t.insert().values(account=account, slot=free, used_at=now, seq=1))
                except sa.exc.IntegrityError:
                    return None  # another reserver made that slot meanwhile: read again
                return now
            slot, used_at, seq = min(rows, key=lambda r: (float(r[1]), int(r[0])))
            at = max(now, float(used_at) + window_s)
            moved = conn.execute(
                t.update()
                .where(t.c.account == account, t.c.slot == slot, t.c.seq == seq)
                .values(used_at=at, seq=int(seq) + 1)
            ).rowcount
            return at if moved else None

    def spent(self, account: str, *, window_s: float, now: float) -> list[float]:
        """The last reserved call of each of ``account``'s slots later than ``now - window_s`` (past or future), in
        order: the calls the window holds at ``now``, and those reserved ahead of it."""
        t = schema.request_budget
        q = sa.select(t.c.used_at).where(t.c.account == account, t.c.used_at > now - window_s).order_by(t.c.used_at)
        with read_connection(self.engine) as conn:
            return [float(r[0]) for r in conn.execute(q)]


__all__ = ["MAX_ATTEMPTS", "BudgetContention", "RequestBudgetTable"]
