"""Persisted sync state in SQLite (stdlib ``sqlite3``), outside the task, shared by both sync directions.

Holds:

- content hashes per person and per direction (``cio_to_brevo``, ``brevo_to_cio``): skip unchanged people and
  suppress echoes;
- the identity map: Customer.io ``cio_id`` <-> Brevo contact id / email / ext_id;
- checkpoints per task run (``dag_id/run_id/task_id``), so a killed task resumes from its last committed batch;
- watermarks (named values, e.g. the last synced time of a direction);
- per-run staging: the ids found in the activity feed, the import batches waiting for their Brevo process, and
  the people seen by a full sync (to find the ones deleted since).

Everything large lives on disk, so memory stays flat whatever the population. No Airflow and no HTTP imports.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CIO_TO_BREVO = "cio_to_brevo"
BREVO_TO_CIO = "brevo_to_cio"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS content_hash (
    direction TEXT NOT NULL, person_key TEXT NOT NULL, hash TEXT NOT NULL, synced_at REAL NOT NULL,
    PRIMARY KEY (direction, person_key));
CREATE TABLE IF NOT EXISTS identity (
    cio_id TEXT PRIMARY KEY, brevo_id INTEGER, email TEXT, ext_id TEXT, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS identity_email ON identity(email);
CREATE INDEX IF NOT EXISTS identity_ext_id ON identity(ext_id);
CREATE INDEX IF NOT EXISTS identity_brevo_id ON identity(brevo_id);
CREATE TABLE IF NOT EXISTS checkpoint (run_key TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS watermark (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS staged_item (
    run_key TEXT NOT NULL, seq INTEGER NOT NULL, item_key TEXT NOT NULL, kind TEXT NOT NULL, data TEXT,
    PRIMARY KEY (run_key, seq));
CREATE UNIQUE INDEX IF NOT EXISTS staged_item_key ON staged_item(run_key, item_key);
CREATE TABLE IF NOT EXISTS pending_process (
    run_key TEXT NOT NULL, process_id TEXT NOT NULL, attempt INTEGER NOT NULL, options TEXT NOT NULL,
    submitted_at REAL NOT NULL, PRIMARY KEY (run_key, process_id));
CREATE TABLE IF NOT EXISTS pending_row (
    run_key TEXT NOT NULL, process_id TEXT NOT NULL, seq INTEGER NOT NULL, person_key TEXT NOT NULL,
    hash TEXT NOT NULL, row TEXT NOT NULL, PRIMARY KEY (run_key, process_id, seq));
CREATE TABLE IF NOT EXISTS seen (run_key TEXT NOT NULL, person_key TEXT NOT NULL, PRIMARY KEY (run_key, person_key));
"""


@dataclass(frozen=True)
class Identity:
    """One identity-map entry."""

    cio_id: str
    brevo_id: int | None = None
    email: str | None = None
    ext_id: str | None = None


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


class StateStore:
    """The sync state database.

    :param path: SQLite file; parent directories are created. ``":memory:"`` for tests.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 60000")
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically (nested calls join the outer transaction)."""
        if self._depth == 0:
            self._db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ content hashes

    def get_hashes(self, direction: str, keys: Sequence[str]) -> dict[str, str]:
        """Stored hashes for ``keys`` (missing keys are absent from the result)."""
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            for key, h in self._db.execute(
                f"SELECT person_key, hash FROM content_hash WHERE direction = ? AND person_key IN ({marks})",
                [direction, *chunk],
            ):
                out[key] = h
        return out

    def get_hash(self, direction: str, key: str) -> str | None:
        return self.get_hashes(direction, [key]).get(key)

    def set_hashes(self, direction: str, items: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with self.transaction():
            self._db.executemany(
                "INSERT INTO content_hash(direction, person_key, hash, synced_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(direction, person_key) DO UPDATE SET hash = excluded.hash, synced_at = excluded.synced_at",
                ((direction, k, h, now) for k, h in items),
            )

    def delete_hashes(self, direction: str, keys: Iterable[str]) -> None:
        with self.transaction():
            self._db.executemany(
                "DELETE FROM content_hash WHERE direction = ? AND person_key = ?", ((direction, k) for k in keys)
            )

    def count_hashes(self, direction: str) -> int:
        return int(
            self._db.execute("SELECT COUNT(*) FROM content_hash WHERE direction = ?", (direction,)).fetchone()[0]
        )

    # ------------------------------------------------------------------ identity map

    def upsert_identity(
        self, cio_id: str, *, brevo_id: int | None = None, email: str | None = None, ext_id: str | None = None
    ) -> None:
        """Record or update identifiers of a person; ``None`` keeps the stored value."""
        self._db.execute(
            "INSERT INTO identity(cio_id, brevo_id, email, ext_id, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(cio_id) DO UPDATE SET brevo_id = COALESCE(excluded.brevo_id, identity.brevo_id), "
            "email = COALESCE(excluded.email, identity.email), ext_id = COALESCE(excluded.ext_id, identity.ext_id), "
            "updated_at = excluded.updated_at",
            (cio_id, brevo_id, email, ext_id, time.time()),
        )

    def get_identity(self, cio_id: str) -> Identity | None:
        row = self._db.execute(
            "SELECT cio_id, brevo_id, email, ext_id FROM identity WHERE cio_id = ?", (cio_id,)
        ).fetchone()
        return Identity(*row) if row else None

    def find_identity(
        self, *, email: str | None = None, ext_id: str | None = None, brevo_id: int | None = None
    ) -> Identity | None:
        """Look a person up by any Brevo-side identifier (first match: brevo_id, ext_id, email)."""
        for col, val in (("brevo_id", brevo_id), ("ext_id", ext_id), ("email", email)):
            if val is not None:
                row = self._db.execute(
                    f"SELECT cio_id, brevo_id, email, ext_id FROM identity WHERE {col} = ?", (val,)
                ).fetchone()
                if row:
                    return Identity(*row)
        return None

    def forget_identity(self, cio_id: str) -> None:
        self._db.execute("DELETE FROM identity WHERE cio_id = ?", (cio_id,))

    # ------------------------------------------------------------------ checkpoints and watermarks

    def get_checkpoint(self, run_key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT data FROM checkpoint WHERE run_key = ?", (run_key,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_checkpoint(self, run_key: str, data: Mapping[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO checkpoint(run_key, data, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(run_key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            (run_key, json.dumps(data, default=str), time.time()),
        )

    def get_watermark(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM watermark WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_watermark(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO watermark(name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (name, value, time.time()),
        )

    # ------------------------------------------------------------------ staged items (per run)

    def stage_items(self, run_key: str, items: Iterable[tuple[str, str, Mapping[str, Any] | None]]) -> int:
        """Append ``(item_key, kind, data)`` to the run's queue, once per key: the first entry of a key wins
        (feed readers pass newest first, so the latest change wins). Returns how many were added."""
        start = self._db.execute(
            "SELECT COALESCE(MAX(seq), -1) + 1 FROM staged_item WHERE run_key = ?", (run_key,)
        ).fetchone()[0]
        added = 0
        with self.transaction():
            for i, (key, kind, data) in enumerate(items):
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO staged_item(run_key, seq, item_key, kind, data) VALUES (?, ?, ?, ?, ?)",
                    (run_key, start + i, key, kind, json.dumps(data) if data is not None else None),
                )
                added += cur.rowcount
        return added

    def iter_staged(
        self, run_key: str, from_seq: int = 0, kind: str | None = None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        """Yield ``(seq, item_key, kind, data)`` in order, reading in pages (memory stays flat)."""
        seq = from_seq
        while True:
            q = "SELECT seq, item_key, kind, data FROM staged_item WHERE run_key = ? AND seq >= ?"
            args: list[Any] = [run_key, seq]
            if kind is not None:
                q += " AND kind = ?"
                args.append(kind)
            rows = self._db.execute(q + " ORDER BY seq LIMIT 1000", args).fetchall()
            if not rows:
                return
            for s, key, k, data in rows:
                yield s, key, k, (json.loads(data) if data else None)
            seq = rows[-1][0] + 1

    def count_staged(self, run_key: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM staged_item WHERE run_key = ?", (run_key,)).fetchone()[0])

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
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO pending_process(run_key, process_id, attempt, options, submitted_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_key, str(process_id), attempt, json.dumps(options or {}), time.time()),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO pending_row(run_key, process_id, seq, person_key, hash, row) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                ((run_key, str(process_id), i, k, h, json.dumps(r)) for i, (k, h, r) in enumerate(rows)),
            )

    def pending_processes(self, run_key: str) -> list[PendingProcess]:
        return [
            PendingProcess(pid, attempt, json.loads(opts))
            for pid, attempt, opts in self._db.execute(
                "SELECT process_id, attempt, options FROM pending_process WHERE run_key = ? ORDER BY submitted_at, "
                "process_id",
                (run_key,),
            )
        ]

    def iter_pending_rows(self, run_key: str, process_id: str) -> Iterator[PendingRow]:
        seq = 0
        while True:
            rows = self._db.execute(
                "SELECT seq, person_key, hash, row FROM pending_row WHERE run_key = ? AND process_id = ? AND seq >= ? "
                "ORDER BY seq LIMIT 2000",
                (run_key, str(process_id), seq),
            ).fetchall()
            if not rows:
                return
            for _s, key, h, row in rows:
                yield PendingRow(key, h, json.loads(row))
            seq = rows[-1][0] + 1

    def drop_pending(self, run_key: str, process_id: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM pending_row WHERE run_key = ? AND process_id = ?", (run_key, str(process_id)))
            self._db.execute(
                "DELETE FROM pending_process WHERE run_key = ? AND process_id = ?", (run_key, str(process_id))
            )

    # ------------------------------------------------------------------ seen set (full sync delete detection)

    def mark_seen(self, run_key: str, keys: Iterable[str]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO seen(run_key, person_key) VALUES (?, ?)", ((run_key, k) for k in keys)
            )

    def iter_unseen(self, run_key: str, direction: str) -> Iterator[str]:
        """Keys with a stored hash in ``direction`` that the run did not see, in pages."""
        last = ""
        while True:
            rows = self._db.execute(
                "SELECT person_key FROM content_hash WHERE direction = ? AND person_key > ? AND person_key NOT IN "
                "(SELECT person_key FROM seen WHERE run_key = ?) ORDER BY person_key LIMIT 1000",
                (direction, last, run_key),
            ).fetchall()
            if not rows:
                return
            for (key,) in rows:
                yield key
            last = rows[-1][0]

    # ------------------------------------------------------------------ cleanup

    def clear_run(self, run_key: str) -> None:
        """Forget a finished run's staging and checkpoint (hashes and identities stay)."""
        with self.transaction():
            for table in ("staged_item", "pending_row", "pending_process", "seen", "checkpoint"):
                self._db.execute(f"DELETE FROM {table} WHERE run_key = ?", (run_key,))


__all__ = ["BREVO_TO_CIO", "CIO_TO_BREVO", "Identity", "PendingProcess", "PendingRow", "StateStore"]
