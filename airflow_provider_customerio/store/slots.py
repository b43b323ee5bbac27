"""Brevo import slots: how many imports an account has in flight, shared by every task, triggerer and machine.

The rows of :data:`~airflow_provider_customerio.store.schema.import_slot`: at most ``limit`` per account, numbered
``0..limit-1`` so two takers of one slot meet on its primary key (an ``INSERT`` fails for all but one; a lapsed
slot is taken over by a conditional ``UPDATE`` that only one taker matches), on PostgreSQL and SQLite alike. The
waiting and the policy live in :mod:`airflow_provider_customerio.sync.import_slots`; this module only stores.
Every method takes ``now`` (seconds since the epoch), so a fake clock drives it in tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import schema
from airflow_provider_customerio.store.engine import read_connection


@dataclass(frozen=True)
class SlotHolder:
    """A live slot: who holds it, for which process (``None``: taken, the import not sent or not answered yet)."""

    slot: int
    holder: str
    process_id: str | None
    expires_at: float


class ImportSlotTable:
    """The ``import_slot`` table.

    :param engine: the sync store's engine (:attr:`airflow_provider_customerio.store.sync_store.SyncStore.engine`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(self, account: str, holder: str, *, limit: int, ttl: float, now: float) -> int | None:
        """A free slot of ``account`` for ``holder`` (or the one it took and never bound: a retry of a killed
        task takes it back), or ``None`` when ``limit`` live slots are held."""
        t = schema.import_slot
        values = {"holder": holder, "process_id": None, "taken_at": now, "expires_at": now + ttl}
        with self.engine.begin() as conn:
            own = conn.execute(
                sa.select(t.c.slot)
                .where(t.c.account == account, t.c.holder == holder, t.c.process_id.is_(None), t.c.expires_at >= now)
                .order_by(t.c.slot)
                .limit(1)
            ).first()
            if own is not None:
                where = sa.and_(t.c.account == account, t.c.slot == own[0], t.c.holder == holder)
                if conn.execute(t.update().where(where).values(expires_at=now + ttl)).rowcount:
                    return int(own[0])
        for slot in range(limit):
            with self.engine.begin() as conn:
                try:
                    with conn.begin_nested():
                        conn.execute(t.insert().values(account=account, slot=slot, **values))
                    return slot
                except sa.exc.IntegrityError:
                    pass  # held, or just taken by another process: take it over only if it lapsed
                lapsed = sa.and_(t.c.account == account, t.c.slot == slot, t.c.expires_at < now)
                if conn.execute(t.update().where(lapsed).values(**values)).rowcount:
                    return slot
        return None

    def bind(self, account: str, slot: int, holder: str, process_id: str, *, ttl: float, now: float) -> bool:
        """Record the process the slot's import started; ``False`` when ``holder`` lost the slot meanwhile."""
        t = schema.import_slot
        where = sa.and_(t.c.account == account, t.c.slot == slot, t.c.holder == holder)
        with self.engine.begin() as conn:
            res = conn.execute(t.update().where(where).values(process_id=str(process_id), expires_at=now + ttl))
        return bool(res.rowcount)

    def release(self, account: str, process_ids: Iterable[str | int]) -> int:
        """Free the slots of these (finished) processes; the count freed."""
        ids = sorted({str(p) for p in process_ids})
        if not ids:
            return 0
        t = schema.import_slot
        with self.engine.begin() as conn:
            res = conn.execute(t.delete().where(t.c.account == account, t.c.process_id.in_(ids)))
        return int(res.rowcount or 0)

    def release_slot(self, account: str, slot: int, holder: str) -> None:
        """Free a slot ``holder`` took but bound to no process (the import was refused)."""
        t = schema.import_slot
        with self.engine.begin() as conn:
            conn.execute(
                t.delete().where(
                    t.c.account == account, t.c.slot == slot, t.c.holder == holder, t.c.process_id.is_(None)
                )
            )

    def renew(self, account: str, holder: str, *, ttl: float, now: float) -> int:
        """Push the expiry of every slot ``holder`` still holds ``ttl`` seconds ahead; the count renewed."""
        t = schema.import_slot
        with self.engine.begin() as conn:
            res = conn.execute(
                t.update().where(t.c.account == account, t.c.holder == holder).values(expires_at=now + ttl)
            )
        return int(res.rowcount or 0)

    def in_flight(self, account: str, *, now: float) -> list[SlotHolder]:
        """The live slots of ``account``, by slot number."""
        t = schema.import_slot
        q = (
            sa.select(t.c.slot, t.c.holder, t.c.process_id, t.c.expires_at)
            .where(t.c.account == account, t.c.expires_at >= now)
            .order_by(t.c.slot)
        )
        with read_connection(self.engine) as conn:
            return [SlotHolder(int(r[0]), str(r[1]), r[2], float(r[3])) for r in conn.execute(q)]


__all__ = ["ImportSlotTable", "SlotHolder"]
