"""Durable event store and outbox of the event forwarding.

One table holds every event to forward to Brevo, whatever its source (a Customer.io reporting webhook, or a
behavioural event read from the App API activity feed). It is at the same time:

* the **dedupe index**: ``event_id`` is the primary key, so an event delivered twice is stored once
  (Customer.io delivers webhooks at least once);
* the **outbox**: each row moves ``pending`` -> ``in_flight`` (durably marked *before* the Brevo call, with the
  exact payload sent and a batch id) -> ``sent`` | ``rejected`` | ``skipped``. A crash between the Brevo call and
  the final mark leaves rows ``in_flight``; the next run reconciles them against what Brevo holds before anything
  is resent (see :class:`airflow_provider_customerio.sync.events.forward.EventForwarder`).

Backends: the shared sync store (:mod:`airflow_provider_customerio.store`: the connection ``customerio_sync_store``,
else its embedded SQLite file with a WAL journal and ``synchronous=FULL``, so a commit survives a power loss), or
any SQL database an Airflow connection points at (common-sql ``DbApiHook.get_sqlalchemy_engine()``). The tables
(``customerio_webhook_events`` and ``customerio_webhook_events_meta``) are part of the store's schema
(:mod:`.schema`, created by its numbered migrations on whichever database holds the inbox). The code is SQLAlchemy
Core; the SQLite fast path runs a statement Core compiled.

The HTTP side (the receiver on the api-server) is :mod:`airflow_provider_customerio.webhooks`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from airflow_provider_customerio.store import schema
from airflow_provider_customerio.store._sql import insert_new
from airflow_provider_customerio.store.engine import default_sqlite_path, sqlite_engine
from airflow_provider_customerio.store.fencing import check_fences
from airflow_provider_customerio.store.state import ensure_schema

#: The statuses of an inbox row (see the module docstring).
PENDING = "pending"
IN_FLIGHT = "in_flight"
SENT = "sent"
REJECTED = "rejected"
SKIPPED = "skipped"
STATUSES = (PENDING, IN_FLIGHT, SENT, REJECTED, SKIPPED)
DONE_STATUSES = (SENT, REJECTED, SKIPPED)

#: SQL ``IN`` lists are chunked to stay under every database's parameter limit.
_CHUNK = 500


class StoreError(RuntimeError):
    """The event store cannot be opened or written; the message names the setting to fix."""


@dataclass(frozen=True)
class StoredEvent:
    """One row of the store.

    :param event_id: the dedupe key (a webhook's ``event_id``; ``activity:<id>`` for activity-feed events).
    :param source: ``webhook`` or ``activity``.
    :param payload: the source event as received (a webhook body is kept as the raw JSON text).
    :param event_ts: the source timestamp (unix seconds) when known.
    :param status: one of :data:`STATUSES`.
    :param outbound: the Brevo event sent (set when the row went ``in_flight``).
    """

    event_id: str
    source: str
    payload: str
    event_ts: int | None = None
    received_at: float = 0.0
    status: str = PENDING
    batch_id: str | None = None
    outbound: str | None = None
    status_at: float = 0.0
    attempts: int = 0
    reason: str | None = None

    def payload_json(self) -> Any:
        """The payload decoded (``None`` if it is not JSON, which the forwarder rejects to the ledger)."""
        try:
            return json.loads(self.payload)
        except ValueError:
            return None

    def outbound_json(self) -> dict[str, Any] | None:
        return json.loads(self.outbound) if self.outbound else None


#: The columns of a row as :meth:`EventStore.add` stores it, besides the event's own (:func:`_fields`).
_NEW_ROW: dict[str, Any] = {"status": PENDING, "batch_id": None, "outbound": None, "attempts": 0, "reason": None}


def _fields(ev: StoredEvent) -> dict[str, Any]:
    return {"event_id": ev.event_id, "source": ev.source, "event_ts": ev.event_ts, "payload": ev.payload}


class EventStore:
    """The durable event store and outbox (see the module docstring).

    :param engine: a SQLAlchemy engine (migrated to the store's schema on opening); use :meth:`sqlite` or
        :meth:`from_conn_id` to build one.
    :param clock: time source (tests).
    :param sqlite_fast_path: on SQLite, insert through the DB-API connection (the receiver's hot path); the
        portable SQLAlchemy path is used for every other database.
    """

    def __init__(self, engine: Engine, *, clock: Any = time.time, sqlite_fast_path: bool = True) -> None:
        self.engine = engine
        self.sqlite_fast_path = sqlite_fast_path and engine.dialect.name == "sqlite"
        self.events = schema.webhook_event
        self.meta = schema.webhook_meta
        self._clock = clock
        self._write_lock = threading.Lock()
        #: On the sync store's engine: the state changes are fenced by the sync's lease (a stale try of the events
        #: sync marks nothing, so it sends nothing either; see ``store.fencing``).
        self.fenced = False
        try:
            ensure_schema(engine)
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the webhook event store ({engine.url.render_as_string(hide_password=True)}): "
                f"{exc.orig}. Check the path or the SQL connection."
            ) from None

    # ------------------------------------------------------------------------------------ construction
    @classmethod
    def sqlite(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> EventStore:
        """A store in a SQLite file (default: the sync store's embedded file)."""
        return cls(sqlite_engine(path or default_sqlite_path()), **kwargs)

    @classmethod
    def from_conn_id(cls, conn_id: str, **kwargs: Any) -> EventStore:
        """A store in the database of an Airflow SQL connection (any common-sql ``DbApiHook``)."""
        from airflow.sdk import BaseHook  # Airflow only when a connection is used

        hook = BaseHook.get_connection(conn_id).get_hook()  # type: ignore[no-untyped-call]  # unannotated in Airflow
        get_engine = getattr(hook, "get_sqlalchemy_engine", None)
        if get_engine is None:
            raise StoreError(
                f"Connection '{conn_id}' (type {getattr(hook, 'conn_type', '?')}) is not a SQL connection: "
                "events.webhook_store_conn_id must name a database connection (postgres, mysql, sqlite, ...) "
                "whose provider is installed."
            )
        return cls(get_engine(), **kwargs)

    @classmethod
    def open(
        cls, *, conn_id: str | None = None, path: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> EventStore:
        """The store of ``conn_id`` if given, else the SQLite file ``path`` (default: the sync store's file)."""
        if conn_id:
            return cls.from_conn_id(conn_id, **kwargs)
        return cls.sqlite(path, **kwargs)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------------------------------ ingest
    def add(self, events: Sequence[StoredEvent]) -> set[str]:
        """Store new events as ``pending`` in ONE transaction; return the ids actually inserted.

        Ids already stored (or repeated within ``events``) are ignored: an event is stored once. When the
        method returns, the events are committed (durable).
        """
        if not events:
            return set()
        unique: dict[str, StoredEvent] = {}
        for ev in events:
            unique.setdefault(ev.event_id, ev)
        now = self._clock()
        if self.sqlite_fast_path:
            return self._add_sqlite(list(unique.values()), now)
        t = self.events
        rows_all = [
            {
                "event_id": ev.event_id,
                "source": ev.source,
                "event_ts": ev.event_ts,
                "received_at": ev.received_at or now,
                "payload": ev.payload,
                "status": PENDING,
                "batch_id": None,
                "outbound": None,
                "status_at": now,
                "attempts": 0,
                "reason": None,
            }
            for ev in unique.values()
        ]
        if self.engine.dialect.name == "postgresql":
            with self._write_lock, self.engine.begin() as conn:
                # one INSERT ... ON CONFLICT DO NOTHING RETURNING: no race between a read and a write
                inserted = insert_new(conn, t, rows_all, "event_id")
            if inserted is not None:
                return {str(e) for e in inserted}
        for attempt in range(3):
            with self._write_lock:
                try:
                    with self.engine.begin() as conn:
                        existing = self._existing(conn, list(unique))
                        rows = [r for r in rows_all if r["event_id"] not in existing]
                        if rows:
                            conn.execute(t.insert(), rows)
                    return {r["event_id"] for r in rows}
                except IntegrityError:
                    # another process inserted one of the ids between our read and our write: read again
                    if attempt == 2:
                        raise
        return set()  # pragma: no cover

    def _add_sqlite(self, events: list[StoredEvent], now: float) -> set[str]:
        """SQLite fast path (the receiver's hot path): ``INSERT OR IGNORE`` row by row on the DB-API connection,
        one transaction, the row count telling new from duplicate."""
        compiled = self.events.insert().prefix_with("OR IGNORE").compile(dialect=self.engine.dialect)
        sql, order = str(compiled), compiled.positiontup or []
        inserted: set[str] = set()
        with self._write_lock:
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("BEGIN IMMEDIATE")  # one transaction (the store's connections autocommit otherwise)
                for ev in events:
                    row = {**_NEW_ROW, **_fields(ev), "received_at": ev.received_at or now, "status_at": now}
                    cur.execute(sql, tuple(row[name] for name in order))
                    if cur.rowcount == 1:
                        inserted.add(ev.event_id)
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                raw.close()
        return inserted

    def _existing(self, conn: sa.Connection, ids: list[str]) -> set[str]:
        found: set[str] = set()
        col = self.events.c.event_id
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            found.update(r[0] for r in conn.execute(sa.select(col).where(col.in_(chunk))))
        return found

    # ------------------------------------------------------------------------------------------- reads
    def get(self, event_id: str) -> StoredEvent | None:
        """One row, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.events).where(self.events.c.event_id == event_id)).mappings().first()
        return StoredEvent(**row) if row else None

    def fetch(self, status: str, limit: int = 1000) -> list[StoredEvent]:
        """Up to ``limit`` rows in a status, oldest received first."""
        t = self.events
        q = sa.select(t).where(t.c.status == status).order_by(t.c.received_at, t.c.event_id).limit(limit)
        with self.engine.connect() as conn:
            return [StoredEvent(**r) for r in conn.execute(q).mappings()]

    def iter_status(self, status: str, page: int = 1000) -> Iterator[StoredEvent]:
        """Every row in a status, oldest received first, read in pages (nothing is changed)."""
        t = self.events
        last: tuple[float, str] | None = None
        while True:
            q = sa.select(t).where(t.c.status == status)
            if last is not None:
                q = q.where(
                    sa.or_(t.c.received_at > last[0], sa.and_(t.c.received_at == last[0], t.c.event_id > last[1]))
                )
            with self.engine.connect() as conn:
                rows = [
                    StoredEvent(**r)
                    for r in conn.execute(q.order_by(t.c.received_at, t.c.event_id).limit(page)).mappings()
                ]
            if not rows:
                return
            yield from rows
            last = (rows[-1].received_at, rows[-1].event_id)

    def iter_webhook_payloads(self, start_ts: int, end_ts: int, *, page: int = 5000) -> Iterator[dict[str, Any]]:
        """Stored reporting-webhook events with ``event_ts`` in ``[start_ts, end_ts]`` (decoded payloads), read in
        pages by ``(event_ts, event_id)``; undecodable payloads are skipped (the events capability ledgers them)."""
        t = self.events
        last: tuple[int, str] = (start_ts - 1, "")
        while True:
            q = (
                sa.select(t.c.event_id, t.c.event_ts, t.c.payload)
                .where(
                    t.c.source == "webhook",
                    t.c.event_ts >= start_ts,
                    t.c.event_ts <= end_ts,
                    sa.tuple_(t.c.event_ts, t.c.event_id) > sa.tuple_(sa.literal(last[0]), sa.literal(last[1])),
                )
                .order_by(t.c.event_ts, t.c.event_id)
                .limit(page)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for _event_id, _event_ts, payload in rows:
                try:
                    body = json.loads(payload)
                except (TypeError, ValueError):
                    continue
                if isinstance(body, dict):
                    yield body
            last = (int(rows[-1][1]), str(rows[-1][0]))

    def in_flight(self) -> dict[str, list[StoredEvent]]:
        """Rows left ``in_flight`` (by a crash or an uncertain send), grouped by batch id."""
        out: dict[str, list[StoredEvent]] = {}
        t = self.events
        q = sa.select(t).where(t.c.status == IN_FLIGHT).order_by(t.c.batch_id, t.c.event_id)
        with self.engine.connect() as conn:
            for r in conn.execute(q).mappings():
                out.setdefault(r["batch_id"] or "", []).append(StoredEvent(**r))
        return out

    def counts(self) -> dict[str, int]:
        """Number of rows per status (every status present, 0 when empty)."""
        t = self.events
        q = sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
        with self.engine.connect() as conn:
            found = {s: int(n) for s, n in conn.execute(q)}
        return {s: found.get(s, 0) for s in STATUSES}

    # ---------------------------------------------------------------------------------- state changes
    def mark_in_flight(self, outbound: Mapping[str, Mapping[str, Any]], batch_id: str) -> None:
        """Durably mark rows ``in_flight`` with the Brevo event about to be sent (before the call)."""
        now = self._clock()
        t = self.events
        with self._write_lock, self.engine.begin() as conn:
            if self.fenced:
                check_fences(conn)
            for eid, ev in outbound.items():
                conn.execute(
                    t.update()
                    .where(t.c.event_id == eid)
                    .values(
                        status=IN_FLIGHT,
                        batch_id=batch_id,
                        outbound=json.dumps(ev, separators=(",", ":"), ensure_ascii=False),
                        status_at=now,
                        attempts=t.c.attempts + 1,
                    )
                )

    def mark(self, changes: Mapping[str, tuple[str, str | None]]) -> None:
        """Set ``{event_id: (status, reason)}`` in ONE transaction (e.g. the outcome of a whole batch)."""
        if not changes:
            return
        for status, _ in changes.values():
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        now = self._clock()
        t = self.events
        with self._write_lock, self.engine.begin() as conn:
            if self.fenced:
                check_fences(conn)
            for eid, (status, reason) in changes.items():
                values: dict[str, Any] = {"status": status, "reason": reason, "status_at": now}
                if status == PENDING:
                    values["batch_id"] = None
                conn.execute(t.update().where(t.c.event_id == eid).values(**values))

    def purge(self, older_than_seconds: float, statuses: Iterable[str] = DONE_STATUSES) -> int:
        """Delete finished rows older than the given age. Keep at least Customer.io's 7-day retry horizon, or a
        late redelivery would be forwarded again."""
        cutoff = self._clock() - older_than_seconds
        t = self.events
        with self._write_lock, self.engine.begin() as conn:
            res = conn.execute(t.delete().where(t.c.status.in_(list(statuses)), t.c.status_at < cutoff))
        return int(res.rowcount or 0)

    # ------------------------------------------------------------------------------------- watermarks
    def get_meta(self, name: str) -> str | None:
        """A named value (e.g. the end of the last activity window read)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.meta.c.value).where(self.meta.c.name == name)).first()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        m = self.meta
        now = self._clock()
        with self._write_lock, self.engine.begin() as conn:
            updated = conn.execute(m.update().where(m.c.name == name).values(value=value, updated_at=now)).rowcount
            if not updated:
                conn.execute(m.insert().values(name=name, value=value, updated_at=now))


__all__ = [
    "DONE_STATUSES",
    "IN_FLIGHT",
    "PENDING",
    "REJECTED",
    "SENT",
    "SKIPPED",
    "STATUSES",
    "EventStore",
    "StoreError",
    "StoredEvent",
]
