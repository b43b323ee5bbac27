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
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store._sql import (
    BATCH,
    PAGE,
    Merge,
    chunks,
    dumps,
    loads,
    rows_by_key,
    upsert,
    upsert_values,
)
from airflow_provider_customerio.store.engine import describe, read_connection, sqlite_engine
from airflow_provider_customerio.store.fencing import check_fences
from airflow_provider_customerio.store.staging import StagingMixin

CIO_TO_BREVO = "cio_to_brevo"
BREVO_TO_CIO = "brevo_to_cio"
#: Directions of the own writes (:meth:`StateStore.record_own_writes`): the vendor written to.
TO_CIO = "to_cio"
TO_BREVO = "to_brevo"

_HASH_COLS = ("direction", "person_key", "hash", "synced_at")
_IDENTITY_COLS = ("cio_id", "brevo_id", "email", "ext_id", "updated_at")
_DIGEST_COLS = ("cio_id", "digests", "synced_at")
_MERGE_DIGESTS = Merge(json=("digests",))
_OWN_WRITE_COLS = ("direction", "cio_id", "writes", "oldest")
_OWN_WRITE_KEYS = ("direction", "cio_id")
_MERGE_WRITES = Merge(json=("writes",), least=("oldest",))

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
        out: dict[str, str] = {}
        with self._read() as conn:
            for chunk in chunks(keys, 500):
                found = rows_by_key(
                    conn, s.content_hash, _HASH_COLS[1:3], {"direction": direction}, "person_key", chunk
                )
                out.update({str(k): str(h) for k, h in found})
        return out

    def get_hash(self, direction: str, key: str) -> str | None:
        return self.get_hashes(direction, [key]).get(key)

    def set_hashes(self, direction: str, items: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with self._write() as conn:
            for chunk in chunks(items, PAGE):
                last = {k: (direction, k, h, now) for k, h in chunk}  # one row per key, the last given winning
                upsert_values(conn, s.content_hash, _HASH_COLS, list(last.values()), ("direction", "person_key"))

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
            for chunk in chunks(items, PAGE):
                merged: dict[str, tuple[str, None, str | None, str | None, float]] = {}
                for cio_id, email, ext_id in chunk:
                    before = merged.get(cio_id)
                    if before is not None:  # a key twice in one batch: NULLs keep the earlier values
                        email = before[2] if email is None else email
                        ext_id = before[3] if ext_id is None else ext_id
                    merged[cio_id] = (cio_id, None, email, ext_id, now)
                upsert_values(
                    conn,
                    s.identity,
                    _IDENTITY_COLS,
                    list(merged.values()),
                    ("cio_id",),
                    coalesce=("brevo_id", "email", "ext_id"),
                )

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
    # One row per person (``field_digest_set``: a JSON object field -> digest), merged per field by the database.

    def get_field_digests(self, cio_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """``cio_id -> {field: digest}`` of the values both sides last agreed on (people without any are absent)."""
        out: dict[str, dict[str, str]] = {}
        with self._read() as conn:
            for chunk in chunks(cio_ids, 500):
                for cid, digests in rows_by_key(conn, s.field_digest_set, _DIGEST_COLS[:2], {}, "cio_id", chunk):
                    if found := loads(digests):
                        out[str(cid)] = found
        return out

    def set_field_digests(self, items: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        """Record, per person, the digest of each field now equal on both sides (other fields are kept)."""
        now = time.time()
        with self._write() as conn:
            for chunk in chunks(items, PAGE):
                merged: dict[str, Mapping[str, str]] = {}
                for cid, fields in chunk:
                    if fields:  # a person twice: the later digests win, the other fields are kept
                        merged[cid] = {**merged[cid], **fields} if cid in merged else fields
                values = [(cid, dumps(fields), now) for cid, fields in merged.items()]
                upsert_values(conn, s.field_digest_set, _DIGEST_COLS, values, ("cio_id",), merge=_MERGE_DIGESTS)

    def forget_field_digests(self, cio_ids: Iterable[str]) -> None:
        t = s.field_digest_set
        with self._write() as conn:
            for chunk in chunks(cio_ids):
                conn.execute(t.delete().where(t.c.cio_id.in_(chunk)))

    # ------------------------------------------------------------------ own writes not yet read back
    # One row per direction and person (``own_write_set``: a JSON object field -> [value, written_at], and the
    # earliest written_at), merged per field by the database.

    def record_own_writes(self, direction: str, items: Iterable[tuple[str, str, Any]], written_at: float) -> None:
        """Record writes ``(cio_id, field, value)`` sent to the vendor of ``direction`` at ``written_at``."""
        with self._write() as conn:
            for chunk in chunks(items, PAGE):
                merged: dict[str, dict[str, tuple[Any, float]]] = {}
                for cid, group in groupby(chunk, key=itemgetter(0)):  # callers pass a person's writes together
                    writes = {name: (value, written_at) for _, name, value in group}
                    if cid in merged:  # the last write of a field wins
                        merged[cid].update(writes)
                    else:
                        merged[cid] = writes
                values = [(direction, cid, dumps(w), written_at) for cid, w in merged.items()]
                upsert_values(conn, s.own_write_set, _OWN_WRITE_COLS, values, _OWN_WRITE_KEYS, merge=_MERGE_WRITES)

    def get_own_writes(self, direction: str, cio_ids: Sequence[str]) -> dict[str, dict[str, OwnWrite]]:
        """``cio_id -> {field: OwnWrite}`` of the writes not yet read back (people without any are absent)."""
        out: dict[str, dict[str, OwnWrite]] = {}
        with self._read() as conn:
            for chunk in chunks(cio_ids, 500):
                found = rows_by_key(
                    conn, s.own_write_set, _OWN_WRITE_COLS[1:3], {"direction": direction}, "cio_id", chunk
                )
                for cid, writes in found:
                    if found := loads(writes):
                        out[str(cid)] = {str(k): OwnWrite(v, float(at)) for k, (v, at) in found.items()}
        return out

    def forget_own_writes(self, direction: str, items: Iterable[tuple[str, str]]) -> None:
        """Drop the records of ``(cio_id, field)`` (read back, superseded or expired)."""
        t = s.own_write_set
        with self._write() as conn:
            for chunk in chunks(items, PAGE):
                names: dict[str, set[str]] = {}
                for cid, name in chunk:
                    names.setdefault(cid, set()).add(name)
                for part in chunks(list(names), 500):
                    where = sa.and_(t.c.direction == direction, t.c.cio_id.in_(part))
                    rows = conn.execute(sa.select(t.c.cio_id, t.c.writes).where(where).with_for_update()).all()
                    self._rewrite_own_writes(conn, direction, [(c, w, names[c]) for c, w in rows], None)

    def expire_own_writes(self, direction: str, before: float) -> int:
        """Drop the records of writes sent before ``before`` (unix seconds); returns how many went."""
        t = s.own_write_set
        with self._write() as conn:
            where = sa.and_(t.c.direction == direction, t.c.oldest < before)
            rows = conn.execute(sa.select(t.c.cio_id, t.c.writes).where(where).with_for_update()).all()
            return self._rewrite_own_writes(conn, direction, [(c, w, None) for c, w in rows], before)

    @staticmethod
    def _rewrite_own_writes(
        conn: Connection, direction: str, rows: Sequence[tuple[str, str, set[str] | None]], before: float | None
    ) -> int:
        """Drop from each stored row the fields named (or, with ``before``, those written before it); a row left
        empty goes. Returns how many fields went."""
        t = s.own_write_set
        dropped, gone, kept = 0, [], []
        for cid, text, names in rows:
            writes = loads(text)
            left = {
                k: v
                for k, v in writes.items()
                if not (names is not None and k in names) and not (before is not None and float(v[1]) < before)
            }
            dropped += len(writes) - len(left)
            if not left:
                gone.append(cid)
            elif len(left) != len(writes):
                kept.append((direction, cid, dumps(left), min(float(v[1]) for v in left.values())))
        for part in chunks(gone, 500):
            conn.execute(t.delete().where(t.c.direction == direction, t.c.cio_id.in_(part)))
        upsert_values(conn, t, _OWN_WRITE_COLS, kept, _OWN_WRITE_KEYS)
        return dropped

    def iter_own_write_people(self, direction: str) -> Iterator[str]:
        """The people with a write to the vendor of ``direction`` not yet read back, in pages."""
        t = s.own_write_set
        last = ""
        while True:
            q = (
                sa.select(t.c.cio_id)
                .where(t.c.direction == direction, t.c.cio_id > last)
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
