"""The object sync's state, in the shared store: per Brevo type and object id, the content hash last written and
the people linked in Brevo (with the identifiers they were linked under, needed to unlink them); and the hashes
of objects the reverse direction wrote to Customer.io (so they do not echo back). No Airflow, no HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store._sql import chunks, upsert
from airflow_provider_customerio.store.state import StoreBase


@dataclass(frozen=True)
class SyncedObject:
    """What the last runs wrote for one object: its content hash and the people linked (key -> identifiers)."""

    hash: str
    links: Mapping[str, Mapping[str, Any]]


class ObjectStateTable(StoreBase):
    """Tables ``object_sync`` and ``object_reverse`` of the store (see the module docstring)."""

    def __enter__(self) -> ObjectStateTable:
        return self

    def get(self, brevo_type: str, object_id: str) -> SyncedObject | None:
        t = s.object_sync
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.c.hash, t.c.links).where(t.c.brevo_type == brevo_type, t.c.object_id == object_id)
            ).first()
        return SyncedObject(row[0], json.loads(row[1])) if row else None

    def apply(
        self,
        brevo_type: str,
        object_id: str,
        *,
        linked: Mapping[str, Mapping[str, Any]],
        unlinked: Iterable[str],
        hash: str | None,
    ) -> None:
        """Record one applied upsert record: add ``linked``, drop ``unlinked``; set the hash when given (the last
        record of the object), else keep it."""
        with self.transaction():
            current = self.get(brevo_type, object_id)
            links = dict(current.links) if current else {}
            for key in unlinked:
                links.pop(key, None)
            links.update({k: dict(v) for k, v in linked.items()})
            new_hash = hash if hash is not None else (current.hash if current else "")
            row = {
                "brevo_type": brevo_type,
                "object_id": object_id,
                "hash": new_hash,
                "links": json.dumps(links, sort_keys=True),
                "synced_at": time.time(),
            }
            with self._write() as conn:
                upsert(conn, s.object_sync, [row], ("brevo_type", "object_id"))

    def invalidate(self, brevo_type: str, object_ids: Iterable[str] | None = None) -> None:
        """Forget the hashes (not the links) so the objects are written again by the next run."""
        t = s.object_sync
        with self._write() as conn:
            if object_ids is None:
                conn.execute(t.update().where(t.c.brevo_type == brevo_type).values(hash=""))
                return
            for chunk in chunks(object_ids):
                conn.execute(t.update().where(t.c.brevo_type == brevo_type, t.c.object_id.in_(chunk)).values(hash=""))

    def forget(self, brevo_type: str, object_ids: Iterable[str]) -> None:
        """Drop the objects' state (deleted in Brevo): a later object with the same id is a new one."""
        t = s.object_sync
        with self._write() as conn:
            for chunk in chunks(object_ids):
                conn.execute(t.delete().where(t.c.brevo_type == brevo_type, t.c.object_id.in_(chunk)))

    def iter_object_ids(self, brevo_type: str) -> Iterator[str]:
        """Object ids written to a Brevo type by the forward direction, in pages."""
        t = s.object_sync
        last = ""
        while True:
            q = (
                sa.select(t.c.object_id)
                .where(t.c.brevo_type == brevo_type, t.c.object_id > last)
                .order_by(t.c.object_id)
                .limit(1000)
            )
            with self._read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for (oid,) in rows:
                yield oid
            last = rows[-1][0]

    def owned_by_brevo(self, brevo_type: str, object_id: str) -> bool:
        """True when the object came from Brevo (written to Customer.io by the reverse direction)."""
        return self.reverse_hash(brevo_type, object_id) is not None

    def reverse_hash(self, brevo_type: str, object_id: str) -> str | None:
        t = s.object_reverse
        with self._read() as conn:
            h = conn.execute(
                sa.select(t.c.hash).where(t.c.brevo_type == brevo_type, t.c.object_id == object_id)
            ).scalar()
        return None if h is None else str(h)

    def set_reverse_hashes(self, brevo_type: str, items: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with self._write() as conn:
            for chunk in chunks(items):
                rows = {
                    oid: {"brevo_type": brevo_type, "object_id": oid, "hash": h, "synced_at": now} for oid, h in chunk
                }
                upsert(conn, s.object_reverse, list(rows.values()), ("brevo_type", "object_id"))

    def count(self, brevo_type: str | None = None) -> int:
        t = s.object_sync
        q = sa.select(sa.func.count()).select_from(t)
        if brevo_type is not None:
            q = q.where(t.c.brevo_type == brevo_type)
        with self._read() as conn:
            return int(conn.execute(q).scalar() or 0)


__all__ = ["ObjectStateTable", "SyncedObject"]
