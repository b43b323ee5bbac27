"""The sync state, in the shared store, shared by both sync directions and by every machine.

Holds:

- content hashes per person and per direction (``cio_to_brevo``, ``brevo_to_cio``): skip unchanged people and
  suppress echoes;
- the identity map: Customer.io ``cio_id`` <-> Brevo contact id / email / ext_id;
- checkpoints per task run (``dag_id/run_id/task_id``), so a killed task resumes from its last committed batch,
  on any worker;
- watermarks (named values, e.g. the last synced time of a direction);
- per-run staging: the ids found in the activity feed (written by the extract task, read by the load task, which
  may run on another machine), the import batches waiting for their Brevo process, and the people seen by a
  full sync (to find the ones deleted since); those methods live in :mod:`.staging` (:class:`StateStore`
  inherits them).

Everything large lives in the database, read in pages, so memory stays flat whatever the population; writes go in
batches (one statement per 1,000 rows). No Airflow and no HTTP imports.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store._sql import BATCH, chunks, upsert
from airflow_provider_customerio.store.engine import describe, read_connection, sqlite_engine
from airflow_provider_customerio.store.fencing import check_fences
from airflow_provider_customerio.store.staging import StagingMixin

CIO_TO_BREVO = "cio_to_brevo"
BREVO_TO_CIO = "brevo_to_cio"
#: Directions of the own writes (:meth:`StateStore.record_own_writes`): the vendor written to.
TO_CIO = "to_cio"
TO_BREVO = "to_brevo"

#: Engines already migrated by this process (weak: an engine's id may be reused once it is garbage collected, so a
#: set of ids could make a new in-memory store skip its migration).
_MIGRATED: weakref.WeakSet[Engine] = weakref.WeakSet()
_MIGRATE_LOCK = threading.Lock()


def ensure_schema(engine: Engine) -> None:
    """Migrate the store to the latest schema once per engine and process."""
    if engine in _MIGRATED:
        return
    with _MIGRATE_LOCK:
        if engine not in _MIGRATED:
            s.migrate(engine)
            _MIGRATED.add(engine)


@dataclass(frozen=True)
class Identity:
    """One identity-map entry."""

    cio_id: str
    brevo_id: int | None = None
    email: str | None = None
    ext_id: str | None = None


@dataclass(frozen=True)
class OwnWrite:
    """A write this provider made to one field of a person: the value (canonical Brevo form) and when it was sent
    (unix seconds)."""

    value: Any
    written_at: float


class StoreBase:
    """An engine on the store, its schema migrated, and one open transaction at a time.

    :param target: an engine (see :func:`airflow_provider_customerio.store.engine.store_engine`), or the path of a
        SQLite file (``":memory:"`` for tests).
    """

    def __init__(self, target: Engine | str | os.PathLike[str]) -> None:
        self.engine: Engine = target if isinstance(target, Engine) else sqlite_engine(target)
        self._owns_engine = not isinstance(target, Engine)
        ensure_schema(self.engine)
        self._tx_conn: Connection | None = None
        self._depth = 0

    @property
    def location(self) -> str:
        """Where the store is (no secrets)."""
        return describe(self.engine)

    def close(self) -> None:
        if self._owns_engine:
            _MIGRATED.discard(self.engine)
            self.engine.dispose()

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically (nested calls join the outer transaction)."""
        if self._depth == 0:
            self._tx_conn = self.engine.connect()
            self._tx_conn.begin()
        self._depth += 1
        conn = self._tx_conn
        assert conn is not None
        try:
            if self._depth == 1:
                check_fences(conn)  # a stale try (its lease taken over) commits nothing
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                conn.rollback()
                conn.close()
                self._tx_conn = None
            raise
        self._depth -= 1
        if self._depth == 0:
            conn.commit()
            conn.close()
            self._tx_conn = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """The open transaction's connection, else a transaction of its own (committed on exit). Either is fenced:
        it commits only while the leases this context holds are still its own (:mod:`.fencing`)."""
        if self._tx_conn is not None:
            yield self._tx_conn
            return
        with self.engine.begin() as conn:
            check_fences(conn)
            yield conn

    def check_lease(self) -> None:
        """Raise :class:`~.fencing.LeaseLost` unless the leases this context holds are still its own. Call it right
        before a vendor write: fencing guards the store's commits, and a stalled try that wakes after its retry
        took the lease over must not send the vendor what it read before (the write would land, its commit not)."""
        with self._write():
            pass

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._tx_conn is not None:
            yield self._tx_conn
            return
        with read_connection(self.engine) as conn:
            yield conn


class StateStore(StagingMixin, StoreBase):
    """The sync state (see the module docstring)."""

    def __enter__(self) -> StateStore:
        return self

    # ------------------------------------------------------------------ content hashes

    def get_hashes(self, direction: str, keys: Sequence[str]) -> dict[str, str]:
        """Stored hashes for ``keys`` (missing keys are absent from the result)."""
        t = s.content_hash
        out: dict[str, str] = {}
        with self._read() as conn:
            for chunk in chunks(keys, 500):
                q = sa.select(t.c.person_key, t.c.hash).where(t.c.direction == direction, t.c.person_key.in_(chunk))
                out.update({str(k): str(h) for k, h in conn.execute(q)})
        return out

    def get_hash(self, direction: str, key: str) -> str | None:
        return self.get_hashes(direction, [key]).get(key)

    def set_hashes(self, direction: str, items: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with self._write() as conn:
            for chunk in chunks(items):
                rows = [{"direction": direction, "person_key": k, "hash": h, "synced_at": now} for k, h in chunk]
                upsert(conn, s.content_hash, _last_per_key(rows, ("person_key",)), ("direction", "person_key"))

    def delete_hashes(self, direction: str, keys: Iterable[str]) -> None:
        t = s.content_hash
        with self._write() as conn:
            for chunk in chunks(keys):
                conn.execute(t.delete().where(t.c.direction == direction, t.c.person_key.in_(chunk)))

    def count_hashes(self, direction: str) -> int:
        t = s.content_hash
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(t.c.direction == direction)).scalar() or 0)

    # ------------------------------------------------------------------ identity map

    def upsert_identity(
        self, cio_id: str, *, brevo_id: int | None = None, email: str | None = None, ext_id: str | None = None
    ) -> None:
        """Record or update identifiers of a person; ``None`` keeps the stored value."""
        row = {"cio_id": cio_id, "brevo_id": brevo_id, "email": email, "ext_id": ext_id, "updated_at": time.time()}
        with self._write() as conn:
            upsert(conn, s.identity, [row], ("cio_id",), coalesce=("brevo_id", "email", "ext_id"))

    def upsert_identities(self, items: Iterable[tuple[str, str | None, str | None]]) -> None:
        """:meth:`upsert_identity` for many ``(cio_id, email, ext_id)`` at once (one statement per batch)."""
        now = time.time()
        with self._write() as conn:
            for chunk in chunks(items):
                merged: dict[str, dict[str, Any]] = {}
                for cio_id, email, ext_id in chunk:
                    row = merged.setdefault(
                        cio_id, {"cio_id": cio_id, "brevo_id": None, "email": None, "ext_id": None, "updated_at": now}
                    )
                    row["email"] = email if email is not None else row["email"]
                    row["ext_id"] = ext_id if ext_id is not None else row["ext_id"]
                upsert(conn, s.identity, list(merged.values()), ("cio_id",), coalesce=("brevo_id", "email", "ext_id"))

    def get_identity(self, cio_id: str) -> Identity | None:
        t = s.identity
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.c.cio_id, t.c.brevo_id, t.c.email, t.c.ext_id).where(t.c.cio_id == cio_id)
            ).first()
        return Identity(*row) if row else None

    def find_identity(
        self, *, email: str | None = None, ext_id: str | None = None, brevo_id: int | None = None
    ) -> Identity | None:
        """Look a person up by any Brevo-side identifier (first match: brevo_id, ext_id, email)."""
        t = s.identity
        with self._read() as conn:
            for col, val in (("brevo_id", brevo_id), ("ext_id", ext_id), ("email", email)):
                if val is not None:
                    row = conn.execute(
                        sa.select(t.c.cio_id, t.c.brevo_id, t.c.email, t.c.ext_id).where(t.c[col] == val).limit(1)
                    ).first()
                    if row:
                        return Identity(*row)
        return None

    def find_identities(
        self,
        *,
        brevo_ids: Iterable[int] = (),
        ext_ids: Iterable[str] = (),
        emails: Iterable[str] = (),
    ) -> dict[str, dict[Any, Identity]]:
        """:meth:`find_identity` for many identifiers at once (one query per identifier kind and 500 values):
        ``{"brevo_id": {id: Identity}, "ext_id": {...}, "email": {...}}``; identifiers nobody has are absent. Where
        several people share an identifier, the first row the database returns is kept, as in :meth:`find_identity`.
        """
        t = s.identity
        cols = (t.c.cio_id, t.c.brevo_id, t.c.email, t.c.ext_id)
        out: dict[str, dict[Any, Identity]] = {"brevo_id": {}, "ext_id": {}, "email": {}}
        with self._read() as conn:
            for name, values in (("brevo_id", brevo_ids), ("ext_id", ext_ids), ("email", emails)):
                found = out[name]
                for chunk in chunks(sorted({v for v in values if v is not None}), 500):
                    for row in conn.execute(sa.select(*cols).where(t.c[name].in_(chunk))):
                        ident = Identity(*row)
                        found.setdefault(getattr(ident, name), ident)
        return out

    def forget_identity(self, cio_id: str) -> None:
        with self._write() as conn:
            conn.execute(s.identity.delete().where(s.identity.c.cio_id == cio_id))

    # ------------------------------------------------------------------ per-field last-synced values

    def get_field_digests(self, cio_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """``cio_id -> {field: digest}`` of the values both sides last agreed on (people without any are absent)."""
        t = s.field_state
        out: dict[str, dict[str, str]] = {}
        with self._read() as conn:
            for chunk in chunks(cio_ids, 500):
                q = sa.select(t.c.cio_id, t.c.field, t.c.digest).where(t.c.cio_id.in_(chunk))
                for cid, name, digest in conn.execute(q):
                    out.setdefault(str(cid), {})[str(name)] = str(digest)
        return out

    def set_field_digests(self, items: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        """Record, per person, the digest of each field now equal on both sides (other fields are kept)."""
        now = time.time()
        rows = [
            {"cio_id": cid, "field": name, "digest": digest, "synced_at": now}
            for cid, fields in items
            for name, digest in fields.items()
        ]
        with self._write() as conn:
            for chunk in chunks(rows):
                upsert(conn, s.field_state, _last_per_key(list(chunk), ("cio_id", "field")), ("cio_id", "field"))

    def forget_field_digests(self, cio_ids: Iterable[str]) -> None:
        t = s.field_state
        with self._write() as conn:
            for chunk in chunks(cio_ids):
                conn.execute(t.delete().where(t.c.cio_id.in_(chunk)))

    # ------------------------------------------------------------------ own writes not yet read back

    def record_own_writes(self, direction: str, items: Iterable[tuple[str, str, Any]], written_at: float) -> None:
        """Record writes ``(cio_id, field, value)`` sent to the vendor of ``direction`` at ``written_at``."""
        rows = [
            {"direction": direction, "cio_id": cid, "field": name, "value": json.dumps(value), "written_at": written_at}
            for cid, name, value in items
        ]
        with self._write() as conn:
            for chunk in chunks(rows):
                keys = ("direction", "cio_id", "field")
                upsert(conn, s.own_write, _last_per_key(list(chunk), keys), keys)

    def get_own_writes(self, direction: str, cio_ids: Sequence[str]) -> dict[str, dict[str, OwnWrite]]:
        """``cio_id -> {field: OwnWrite}`` of the writes not yet read back (people without any are absent)."""
        t = s.own_write
        out: dict[str, dict[str, OwnWrite]] = {}
        with self._read() as conn:
            for chunk in chunks(cio_ids, 500):
                q = sa.select(t.c.cio_id, t.c.field, t.c.value, t.c.written_at).where(
                    t.c.direction == direction, t.c.cio_id.in_(chunk)
                )
                for cid, name, value, at in conn.execute(q):
                    out.setdefault(str(cid), {})[str(name)] = OwnWrite(json.loads(value), float(at))
        return out

    def forget_own_writes(self, direction: str, items: Iterable[tuple[str, str]]) -> None:
        """Drop the records of ``(cio_id, field)`` (read back, superseded or expired)."""
        t = s.own_write
        stmt = t.delete().where(
            t.c.direction == direction, t.c.cio_id == sa.bindparam("cid"), t.c.field == sa.bindparam("name")
        )
        with self._write() as conn:
            for chunk in chunks(items):
                conn.execute(stmt, [{"cid": cid, "name": name} for cid, name in chunk])

    def expire_own_writes(self, direction: str, before: float) -> int:
        """Drop the records of writes sent before ``before`` (unix seconds); returns how many went."""
        t = s.own_write
        with self._write() as conn:
            result = conn.execute(t.delete().where(t.c.direction == direction, t.c.written_at < before))
        return int(result.rowcount or 0)

    def iter_own_write_people(self, direction: str) -> Iterator[str]:
        """The people with a write to the vendor of ``direction`` not yet read back, in pages."""
        t = s.own_write
        last = ""
        while True:
            q = (
                sa.select(t.c.cio_id)
                .where(t.c.direction == direction, t.c.cio_id > last)
                .group_by(t.c.cio_id)
                .order_by(t.c.cio_id)
                .limit(BATCH)
            )
            with self._read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for (cid,) in rows:
                yield str(cid)
            last = rows[-1][0]

    # ------------------------------------------------------------------ checkpoints and watermarks

    def get_checkpoint(self, run_key: str) -> dict[str, Any] | None:
        t = s.checkpoint
        with self._read() as conn:
            data = conn.execute(sa.select(t.c.data).where(t.c.run_key == run_key)).scalar()
        return json.loads(data) if data else None

    def save_checkpoint(self, run_key: str, data: Mapping[str, Any]) -> None:
        row = {"run_key": run_key, "data": json.dumps(data, default=str), "updated_at": time.time()}
        with self._write() as conn:
            upsert(conn, s.checkpoint, [row], ("run_key",))

    def get_watermark(self, name: str) -> str | None:
        t = s.watermark
        with self._read() as conn:
            value = conn.execute(sa.select(t.c.value).where(t.c.name == name)).scalar()
        return None if value is None else str(value)

    def set_watermark(self, name: str, value: str) -> None:
        with self._write() as conn:
            upsert(conn, s.watermark, [{"name": name, "value": value, "updated_at": time.time()}], ("name",))

    # ------------------------------------------------------------------ cleanup

    def clear_run(self, run_key: str) -> None:
        """Forget a finished run's staging and checkpoint (hashes and identities stay)."""
        with self.transaction():
            conn = self._tx_conn
            assert conn is not None
            for table in (s.staged_item, s.pending_row, s.pending_process, s.seen, s.checkpoint):
                conn.execute(table.delete().where(table.c.run_key == run_key))


def _last_per_key(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per key, the last given winning (one upsert statement may not touch a row twice)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        out[tuple(r[k] for k in keys)] = r
    return list(out.values())


__all__ = [
    "BREVO_TO_CIO",
    "CIO_TO_BREVO",
    "TO_BREVO",
    "TO_CIO",
    "Identity",
    "OwnWrite",
    "StateStore",
    "StoreBase",
    "ensure_schema",
]
