"""Fencing: a sync's writes commit only while its try still holds the sync's lease.

A lease (table ``lease``) names the try that holds it (:class:`LeaseOwner`: the run, the task with its map index,
the try number) and carries a random fencing token and a counter, both renewed at every takeover. The holder of a
lease opens its writes with the lease's :class:`Fence` in force (:func:`fenced`, a context variable: set by
:meth:`~airflow_provider_customerio.store.sync_store.SyncStore.leased`); every write transaction of the store's
parts (sync state, ledger, object state, run summaries, the webhook event store) starts with :func:`check_fences`,
which reads the lease row in that same transaction (PostgreSQL and MySQL: ``FOR SHARE``, so a takeover waits for the
transaction to end) and raises :class:`LeaseLost` when the token is no longer this try's. So a try that stalled (a
stopped process, a long pause of the machine) and woke up after its retry took the lease over commits nothing.

On PostgreSQL the check also sets ``idle_in_transaction_session_timeout`` for the transaction: a try stopped with a
transaction open loses its session (and its row locks) after the lease's time to live, so a takeover never waits for
it forever. No Airflow import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store.engine import describe


class LeaseLost(RuntimeError):
    """This try no longer holds the sync's lease (a later try took it over): it must commit nothing. The message
    names the lease, this try and the holder."""


@dataclass(frozen=True)
class LeaseOwner:
    """Who holds a lease: one try of one task of one run.

    :param run: the run (``lease_holder(dag_id, run_id)``); what other runs see in their error.
    :param task: the task id, with ``.<map_index>`` for a mapped task (empty outside a task).
    :param try_number: the task's try; a later try of the same task takes the lease over at once.
    """

    run: str
    task: str = ""
    try_number: int = 0

    def describe(self) -> str:
        return f"{self.run}, task {self.task} try {self.try_number}" if self.task else self.run

    def same_task(self, run: str, task: str | None) -> bool:
        return run == self.run and (task or "") == self.task


@dataclass(frozen=True)
class Fence:
    """The token a holder's writes are checked against."""

    name: str
    owner: LeaseOwner
    token: str
    counter: int
    idle_timeout_s: float = 120.0
    #: The store holding the lease (``describe(engine)``): only writes to that database are checked against it.
    store: str = ""


_HELD: ContextVar[tuple[Fence, ...]] = ContextVar("customerio_store_fences", default=())


@contextmanager
def fenced(fence: Fence) -> Iterator[Fence]:
    """Check every write transaction of the block against ``fence``."""
    token = _HELD.set((*_HELD.get(), fence))
    try:
        yield fence
    finally:
        _HELD.reset(token)


def held(name: str) -> Fence | None:
    """The fence in force for the lease ``name``, if this context holds it."""
    return next((f for f in _HELD.get() if f.name == name), None)


def lost_message(fence: Fence, row: object | None) -> str:
    if row is None:
        now = "nobody holds it now (it was released or cleared)"
    else:
        task, try_number = getattr(row, "task", None), getattr(row, "try_number", None)
        who = getattr(row, "holder", "?") + (f", task {task} try {try_number}" if task else "")
        now = f"{who} holds it now (fencing counter {getattr(row, 'fence', None)})"
    return (
        f"The lease of the sync '{fence.name}' was taken over: this try ({fence.owner.describe()}, fencing counter "
        f"{fence.counter}) is stale and commits nothing; {now}. A later try of the task carries the sync on."
    )


def check_fences(conn: Connection) -> None:
    """Raise :class:`LeaseLost` (in the caller's transaction, which then rolls back) unless every lease this
    context holds is still held with its token."""
    fences = _HELD.get()
    if fences:
        where = describe(conn.engine)
        fences = tuple(f for f in fences if not f.store or f.store == where)
    if not fences:
        return
    t = s.lease
    dialect = conn.dialect.name
    if dialect == "postgresql":
        ms = int(max(fence.idle_timeout_s for fence in fences) * 1000)
        conn.execute(sa.text(f"SET LOCAL idle_in_transaction_session_timeout = {ms}"))
    for fence in fences:
        q = sa.select(t.c.holder, t.c.task, t.c.try_number, t.c.token, t.c.fence).where(t.c.name == fence.name)
        if dialect in ("postgresql", "mysql", "mariadb"):
            q = q.with_for_update(read=True)
        row = conn.execute(q).first()
        if row is None or row.token != fence.token:
            raise LeaseLost(lost_message(fence, row))


__all__ = ["Fence", "LeaseLost", "LeaseOwner", "check_fences", "fenced", "held", "lost_message"]
