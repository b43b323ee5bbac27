"""The shared sync store: :class:`SyncStore`, one handle on the store's database for every capability (state,
ledger, leases, notices, import slots, object state), and its leases."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store import schema
from airflow_provider_customerio.store._sql import upsert
from airflow_provider_customerio.store.budget import RequestBudgetTable
from airflow_provider_customerio.store.engine import (
    STORE_CONN_ID,
    describe,
    read_connection,
    sqlite_engine,
    store_engine,
)
from airflow_provider_customerio.store.fencing import (
    Fence,
    LeaseLost,
    LeaseOwner,
    check_fences,
    fenced,
    held,
    lost_message,
)
from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.notices import ProcessNotices
from airflow_provider_customerio.store.objects import ObjectStateTable
from airflow_provider_customerio.store.slots import ImportSlotTable
from airflow_provider_customerio.store.state import StateStore, ensure_schema

log = logging.getLogger(__name__)


class LeaseHeld(RuntimeError):
    """Another run holds the sync's lease; the message names it."""


@dataclass(frozen=True)
class Lease:
    """A held lease: ``name`` is the sync, ``holder`` the run holding it, ``owner`` the try (run, task, try number),
    ``token`` and ``fence`` its fencing token and counter (see :mod:`.fencing`)."""

    name: str
    holder: str
    expires_at: float
    owner: LeaseOwner | None = None
    token: str = ""
    fence: int = 0


class SyncStore:
    """One handle on the shared store.

    :param engine: the store's engine; see :meth:`open`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(engine)

    @classmethod
    def open(
        cls, *, conn_id: str | None = STORE_CONN_ID, sqlite_path: str | os.PathLike[str] | None = None
    ) -> SyncStore:
        """The store of the Airflow connection ``conn_id`` when it exists, else the SQLite file ``sqlite_path``
        (default ``$AIRFLOW_HOME/customerio_sync/state.db``)."""
        return cls(store_engine(conn_id, sqlite_path))

    @classmethod
    def at(cls, target: Engine | str | os.PathLike[str]) -> SyncStore:
        """A store on an engine, or on a SQLite file (tests, tools)."""
        return cls(target if isinstance(target, Engine) else sqlite_engine(target))

    @property
    def location(self) -> str:
        return describe(self.engine)

    # --------------------------------------------------------------------------------------- parts
    def state(self) -> StateStore:
        return StateStore(self.engine)

    def ledger(self, dag_id: str, run_id: str, task_id: str = "", *, truncate_to: int | None = None) -> Ledger:
        return Ledger.for_run(self.engine, dag_id, run_id, task_id, truncate_to=truncate_to)

    def objects(self) -> ObjectStateTable:
        return ObjectStateTable(self.engine)

    def notices(self) -> ProcessNotices:
        """Brevo process-completion notices (``notifyUrl`` callbacks)."""
        return ProcessNotices(self.engine)

    def import_slots(self) -> ImportSlotTable:
        """Brevo imports in flight per account (:mod:`.slots`)."""
        return ImportSlotTable(self.engine)

    def request_budget(self) -> RequestBudgetTable:
        """Brevo's hourly budget of "other endpoints" per account, shared by every hook (:mod:`.budget`)."""
        return RequestBudgetTable(self.engine)

    # -------------------------------------------------------------------------------------- leases
    def acquire(
        self, name: str, holder: str | LeaseOwner, *, ttl: float = 3600.0, wait: float = 0.0, poll: float = 2.0
    ) -> Lease:
        """Take the lease ``name`` for ``holder`` (a run, or one try of a task of a run: :class:`LeaseOwner`), with
        a new fencing token. Takeover rule: a free or expired lease is taken; a lease of the same run and task is
        taken over at once by the same or a later try (the earlier try is dead or stalled: Airflow starts a retry
        only once the try before has failed, and the stalled one's commits then fail, see :mod:`.fencing`), while
        an earlier try gets :class:`LeaseLost`. Another holder is waited for up to ``wait`` seconds, then
        :class:`LeaseHeld`."""
        owner = holder if isinstance(holder, LeaseOwner) else LeaseOwner(str(holder))
        t = schema.lease
        deadline = time.monotonic() + wait
        while True:
            with self.engine.begin() as conn:
                q = sa.select(t.c.holder, t.c.expires_at, t.c.task, t.c.try_number, t.c.token, t.c.fence)
                q = q.where(t.c.name == name)
                if conn.dialect.name in ("postgresql", "mysql", "mariadb"):
                    q = q.with_for_update()
                row = conn.execute(q).first()
                lease = self._take(conn, name, owner, row, ttl)
                if lease == "raced":
                    continue  # another process inserted it first: read again
                if isinstance(lease, Lease):
                    return lease
                assert row is not None
                other, until = row.holder, row.expires_at
                if row.task:
                    other = f"{other} (task {row.task} try {row.try_number})"
            if time.monotonic() >= deadline:
                raise LeaseHeld(
                    f"The sync '{name}' is being run by {other} (lease until "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(until))}). Two runs of one sync must not "
                    "write the same people at once: wait for that run to finish (or fail), or, if it is dead, clear "
                    f"the lease: DELETE FROM {t.name} WHERE name = '{name}'."
                )
            time.sleep(poll)

    @staticmethod
    def _take(conn: sa.Connection, name: str, owner: LeaseOwner, row: Any, ttl: float) -> Lease | str | None:
        """The lease taken by ``owner`` in ``conn``'s transaction; ``None`` when another holder has it,
        ``"raced"`` when another process inserted it meanwhile. :class:`LeaseLost` for an earlier try."""
        t = schema.lease
        now = time.time()
        if row is not None and row.expires_at >= now:
            if not owner.same_task(row.holder, row.task):
                return None
            if owner.try_number < int(row.try_number or 0):
                fence = Fence(name, owner, "", int(row.fence or 0))
                raise LeaseLost(lost_message(fence, row))
        counter = int(row.fence or 0) + 1 if row is not None else 1
        token = secrets.token_hex(16)
        values: dict[str, Any] = {
            "name": name,
            "holder": owner.run,
            "task": owner.task,
            "try_number": owner.try_number,
            "token": token,
            "fence": counter,
            "acquired_at": now,
            "expires_at": now + ttl,
        }
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(t.insert().values(**values))
            except sa.exc.IntegrityError:
                return "raced"
        else:
            conn.execute(t.update().where(t.c.name == name).values(**values))
        return Lease(name, owner.run, now + ttl, owner, token, counter)

    def release(self, name: str, holder: str | LeaseOwner, *, token: str | None = None) -> bool:
        """Let go of the lease (only with its ``token`` when given); ``False`` when it was no longer held so."""
        t = schema.lease
        run = holder.run if isinstance(holder, LeaseOwner) else holder
        mine = t.c.token == token if token else t.c.holder == run
        with self.engine.begin() as conn:
            return bool(conn.execute(t.delete().where(t.c.name == name, mine)).rowcount)

    def renew(self, name: str, holder: str | LeaseOwner, ttl: float, *, token: str | None = None) -> bool:
        """Push the lease's expiry ``ttl`` seconds ahead; ``False`` when ``holder`` (with ``token`` when given) no
        longer holds it. On PostgreSQL a renewal waits at most 2 s for the holder's own fenced writes (their
        ``FOR SHARE`` lock), then fails and is retried at the next beat."""
        t = schema.lease
        run = holder.run if isinstance(holder, LeaseOwner) else holder
        mine = t.c.token == token if token else t.c.holder == run
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            res = conn.execute(t.update().where(t.c.name == name, mine).values(expires_at=time.time() + ttl))
        return bool(res.rowcount)

    @contextmanager
    def leased(self, name: str, holder: str | LeaseOwner, *, ttl: float = 120.0, wait: float = 0.0) -> Iterator[Lease]:
        """Hold the lease for the block, renewing it every ``ttl / 3`` seconds from a background thread, with every
        write of the store's parts in the block fenced by its token (:mod:`.fencing`). A holder killed without
        letting go (SIGKILL, a lost worker) stops renewing, so its lease lapses within ``ttl`` (its retry takes it
        over at once). Re-entrant within one context. Raises :class:`LeaseLost` at the end of the block when the
        lease was taken over meanwhile (the block's later writes failed already)."""
        owner = holder if isinstance(holder, LeaseOwner) else LeaseOwner(str(holder))
        inner = held(name)
        if inner is not None and inner.owner == owner:  # nested in this context: the outer block holds it
            yield Lease(name, owner.run, 0.0, owner, inner.token, inner.counter)
            return
        lease = self.acquire(name, owner, ttl=ttl, wait=wait)
        fence = Fence(name, owner, lease.token, lease.fence, idle_timeout_s=ttl, store=describe(self.engine))
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(max(0.5, ttl / 3)):
                try:
                    if not self.renew(name, owner, ttl, token=lease.token):
                        log.warning("The lease of %s was taken over from %s", name, owner.describe())
                        return
                except Exception as exc:  # retried at the next beat; the lease is still ours until it lapses
                    log.warning("Could not renew the lease of %s: %s", name, exc)

        beat = threading.Thread(target=heartbeat, name=f"lease:{name}", daemon=True)
        beat.start()

        def let_go() -> bool:
            stop.set()
            beat.join(timeout=30)
            return self.release(name, owner, token=lease.token)

        try:
            with fenced(fence):
                yield lease
        except BaseException:
            let_go()
            raise
        if not let_go():
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(schema.lease).where(schema.lease.c.name == name)).first()
            raise LeaseLost(lost_message(fence, row))

    # ------------------------------------------------------------------------------------- reports
    def put_report(self, name: str, content: str, media_type: str = "text/html") -> None:
        row = {"name": name, "media_type": media_type, "content": content, "created_at": time.time()}
        with self.engine.begin() as conn:
            upsert(conn, schema.report, [row], ("name",))

    def get_report(self, name: str) -> tuple[str, str] | None:
        """``(media_type, content)`` of a stored report, or ``None``."""
        t = schema.report
        with read_connection(self.engine) as conn:
            row = conn.execute(sa.select(t.c.media_type, t.c.content).where(t.c.name == name)).first()
        return (row[0], row[1]) if row else None

    def report_names(self, prefix: str = "") -> list[str]:
        t = schema.report
        with read_connection(self.engine) as conn:
            q = sa.select(t.c.name).where(t.c.name.like(f"{prefix}%")).order_by(t.c.name.desc()).limit(1000)
            return [r[0] for r in conn.execute(q)]

    # ------------------------------------------------------------------------------------ counters
    def add_counts(self, scope: str, deltas: Mapping[str, int]) -> None:
        """Add ``deltas`` to the counters of ``scope`` (one transaction; a counter starts at 0)."""
        t = schema.counter
        deltas = {k: int(v) for k, v in deltas.items() if v}
        if not deltas:
            return
        now = time.time()
        with self.engine.begin() as conn:
            for name, delta in sorted(deltas.items()):  # a fixed order: two writers never deadlock
                where = sa.and_(t.c.scope == scope, t.c.name == name)
                done = conn.execute(t.update().where(where).values(value=t.c.value + delta, updated_at=now)).rowcount
                if not done:
                    try:
                        with conn.begin_nested():
                            conn.execute(t.insert().values(scope=scope, name=name, value=delta, updated_at=now))
                    except sa.exc.IntegrityError:  # another process inserted it meanwhile
                        conn.execute(t.update().where(where).values(value=t.c.value + delta, updated_at=now))

    def counts(self, scope: str) -> dict[str, int]:
        """The counters of ``scope``."""
        t = schema.counter
        with read_connection(self.engine) as conn:
            return {r[0]: int(r[1]) for r in conn.execute(sa.select(t.c.name, t.c.value).where(t.c.scope == scope))}

    # ------------------------------------------------------------------------------- run summaries
    def record_summary(
        self, capability: str, dag_id: str, run_id: str, task_id: str, summary: Mapping[str, Any]
    ) -> None:
        """Keep a task run's summary (what it read, wrote and rejected) for the status page (fenced: a stale try
        records nothing)."""
        with self.engine.begin() as conn:
            check_fences(conn)
            conn.execute(
                schema.run_summary.insert().values(
                    capability=capability,
                    dag_id=dag_id,
                    run_id=run_id,
                    task_id=task_id,
                    finished_at=time.time(),
                    summary=json.dumps(summary, default=str),
                )
            )

    def summaries(self, capability: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        t = schema.run_summary
        q = sa.select(t).order_by(t.c.finished_at.desc()).limit(limit)
        if capability:
            q = q.where(t.c.capability == capability)
        with read_connection(self.engine) as conn:
            return [{**dict(r), "summary": json.loads(r["summary"])} for r in conn.execute(q).mappings()]


def lease_holder(dag_id: str, run_id: str) -> str:
    """How a run is named in a lease (and in the error another run gets). A later try of the same task of the run
    (:class:`LeaseOwner`), on any machine, takes its lease over at once; the try before can then commit nothing."""
    return f"run {run_id} of {dag_id}"


__all__ = ["STORE_CONN_ID", "Lease", "LeaseHeld", "SyncStore", "lease_holder"]
