"""Per-run staging in the shared store: the work one sync run hands from task to task, on any machine.

- staged items: the ids found in the activity feed (written by the extract task, read by the load task, which may
  run on another machine);
- pending imports: the import batches waiting for their Brevo process, with their rows;
- the seen set: the people seen by a full sync (to find the ones deleted since).

:class:`StagingMixin` holds these methods; :class:`~.state.StateStore` inherits them (its
:meth:`~.state.StateStore.clear_run` forgets a finished run's staging). Read in pages, written in batches.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store._sql import (
    BATCH,
    PAGE,
    can_insert_new,
    chunks,
    dumps,
    insert_missing_values,
    insert_new_values,
    insert_values,
    loads,
    upsert,
)

if TYPE_CHECKING:
    from airflow_provider_customerio.store.state import StoreBase

    _StoreBase = StoreBase
else:
    _StoreBase = object


#: Rows per read of the staged items and pending rows (a few MB; one round trip each).
READ_PAGE = 5000
_STAGED_COLS = ("run_key", "seq", "item_key", "kind", "data")
_PENDING_COLS = ("run_key", "process_id", "seq", "person_key", "hash", "row")


@dataclass(frozen=True)
class PendingProcess:
    """A submitted import waiting for its Brevo process."""

    process_id: str
    attempt: int
    options: Mapping[str, Any]


@dataclass(frozen=True)
class PendingRow:
    """One row of a pending import."""

    person_key: str
    hash: str
    row: Mapping[str, Any]


class StagingMixin(_StoreBase):
    """Staged items, pending imports and the seen set of a run (mixed into :class:`~.state.StateStore`, which
    provides the store's connection and transactions)."""

    # ------------------------------------------------------------------ staged items (per run)

    def stage_items(self, run_key: str, items: Iterable[tuple[str, str, Mapping[str, Any] | None]]) -> int:
        """Append ``(item_key, kind, data)`` to the run's queue, once per key: the first entry of a key wins
        (feed readers pass newest first, so the latest change wins). Returns how many were added."""
        t = s.staged_item
        added = 0
        with self.transaction():
            conn = self._tx_conn
            assert conn is not None
            seq = int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(t.c.seq), -1) + 1).where(t.c.run_key == run_key)
                ).scalar()
                or 0
            )
            for chunk in chunks(items, PAGE):
                first: dict[str, tuple[str, Mapping[str, Any] | None]] = {}
                for key, kind, data in chunk:
                    if key not in first:
                        first[key] = (kind, data)
                if not can_insert_new(conn):  # check what exists first (one query per page)
                    stored = self._staged_keys(conn, run_key, list(first))
                    first = {k: v for k, v in first.items() if k not in stored}
                values = [
                    (run_key, seq + i, key, kind, None if data is None else dumps(data))
                    for i, (key, (kind, data)) in enumerate(first.items())
                ]
                inserted = insert_new_values(conn, t, _STAGED_COLS, values, "item_key")
                seq += len(values)  # PostgreSQL: a key staged before leaves a gap in seq
                if inserted is None:
                    insert_values(conn, t, _STAGED_COLS, values)
                    added += len(values)
                else:
                    added += len(inserted)
        return added

    @staticmethod
    def _staged_keys(conn: Connection, run_key: str, keys: list[str]) -> set[str]:
        t = s.staged_item
        out: set[str] = set()
        for part in chunks(keys, 500):
            q = sa.select(t.c.item_key).where(t.c.run_key == run_key, t.c.item_key.in_(part))
            out.update(k for (k,) in conn.execute(q))
        return out

    def iter_staged(
        self, run_key: str, from_seq: int = 0, kind: str | None = None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        """Yield ``(seq, item_key, kind, data)`` in order, reading in pages (memory stays flat)."""
        t = s.staged_item
        seq = from_seq
        while True:
            q = sa.select(t.c.seq, t.c.item_key, t.c.kind, t.c.data).where(t.c.run_key == run_key, t.c.seq >= seq)
            if kind is not None:
                q = q.where(t.c.kind == kind)
            with self._read() as conn:
                rows = conn.execute(q.order_by(t.c.seq).limit(READ_PAGE)).all()
            if not rows:
                return
            for sq, key, k, data in rows:
                yield int(sq), key, k, (loads(data) if data else None)
            seq = int(rows[-1][0]) + 1

    def count_staged(self, run_key: str) -> int:
        t = s.staged_item
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(t.c.run_key == run_key)).scalar() or 0)

    # ------------------------------------------------------------------ pending imports

    def add_pending(
        self,
        run_key: str,
        process_id: str,
        rows: Iterable[tuple[str, str, Mapping[str, Any]]],
        *,
        attempt: int = 1,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a submitted import and its rows ``(person_key, hash, row)`` in one transaction."""
        pid = str(process_id)
        with self.transaction():
            conn = self._tx_conn
            assert conn is not None
            upsert(
                conn,
                s.pending_process,
                [
                    {
                        "run_key": run_key,
                        "process_id": pid,
                        "attempt": attempt,
                        "options": dumps(options or {}),
                        "submitted_at": time.time(),
                    }
                ],
                ("run_key", "process_id"),
            )
            conn.execute(
                s.pending_row.delete().where(s.pending_row.c.run_key == run_key, s.pending_row.c.process_id == pid)
            )
            numbered = ((run_key, pid, i, k, h, dumps(r)) for i, (k, h, r) in enumerate(rows))
            for chunk in chunks(numbered, PAGE):
                insert_values(conn, s.pending_row, _PENDING_COLS, chunk)

    def pending_processes(self, run_key: str) -> list[PendingProcess]:
        t = s.pending_process
        q = sa.select(t.c.process_id, t.c.attempt, t.c.options).where(t.c.run_key == run_key)
        with self._read() as conn:
            rows = conn.execute(q.order_by(t.c.submitted_at, t.c.process_id)).all()
        return [PendingProcess(pid, int(attempt), loads(opts)) for pid, attempt, opts in rows]

    def iter_pending_rows(self, run_key: str, process_id: str) -> Iterator[PendingRow]:
        t = s.pending_row
        seq = 0
        while True:
            q = (
                sa.select(t.c.seq, t.c.person_key, t.c.hash, t.c.row)
                .where(t.c.run_key == run_key, t.c.process_id == str(process_id), t.c.seq >= seq)
                .order_by(t.c.seq)
                .limit(READ_PAGE)
            )
            with self._read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for _s, key, h, row in rows:
                yield PendingRow(key, h, loads(row))
            seq = int(rows[-1][0]) + 1

    def drop_pending(self, run_key: str, process_id: str) -> None:
        pid = str(process_id)
        with self.transaction():
            conn = self._tx_conn
            assert conn is not None
            conn.execute(
                s.pending_row.delete().where(s.pending_row.c.run_key == run_key, s.pending_row.c.process_id == pid)
            )
            conn.execute(
                s.pending_process.delete().where(
                    s.pending_process.c.run_key == run_key, s.pending_process.c.process_id == pid
                )
            )

    # ------------------------------------------------------------------ seen set (full sync delete detection)

    def mark_seen(self, run_key: str, keys: Iterable[str]) -> None:
        with self._write() as conn:
            for chunk in chunks(keys, PAGE):
                values = [(run_key, k) for k in dict.fromkeys(chunk)]
                insert_missing_values(conn, s.seen, ("run_key", "person_key"), values)

    def iter_unseen(self, run_key: str, direction: str) -> Iterator[str]:
        """Keys with a stored hash in ``direction`` that the run did not see, in pages."""
        h, sn = s.content_hash, s.seen
        last = ""
        while True:
            seen_keys = sa.select(sn.c.person_key).where(sn.c.run_key == run_key)
            q = (
                sa.select(h.c.person_key)
                .where(h.c.direction == direction, h.c.person_key > last, h.c.person_key.not_in(seen_keys))
                .order_by(h.c.person_key)
                .limit(BATCH)
            )
            with self._read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for (key,) in rows:
                yield key
            last = rows[-1][0]


__all__ = ["PendingProcess", "PendingRow", "StagingMixin"]
