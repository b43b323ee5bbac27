"""The two-way sync's per-field state, one row per person (migration 11).

- **Field digests**: per person, the digest of each field's value both sides last agreed on (the people sync sends
  only what Customer.io changed since; the reverse sync judges conflicts by them).
- **Own writes**: per direction and person, each field written to that vendor and not yet read back, with its value
  and when it was sent (both vendors apply writes asynchronously: a read younger than the write may show the old
  value, which is a stale read, not a change, ``sync/stale.py``).

Both were one row per person *and field* before (migration 3 and 6): a million people synced both ways wrote some
twenty million rows per full run, most of the sync's store time. Here each person is one row holding a JSON object
(``{field: digest}``; ``{field: [value, written_at]}``), read and merged a page of people at a time, so a person
costs one row read and one row written whatever its field count. :class:`FieldStateMixin` keeps the methods and
semantics of the per-field version (fields not named are kept; the latest write of a field wins).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from airflow_provider_customerio.store import schema as s
from airflow_provider_customerio.store._sql import BATCH, chunks, upsert

if TYPE_CHECKING:
    from airflow_provider_customerio.store.state import StoreBase

    _StoreBase = StoreBase
else:
    _StoreBase = object

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
#: People read or written per statement.
PAGE = 500


@dataclass(frozen=True)
class OwnWrite:
    """A value written to a vendor and not yet read back: the value (canonical Brevo form) and when it was sent."""

    value: Any
    written_at: float


class FieldStateMixin(_StoreBase):
    """Field digests and own writes, one row per person (mixed into :class:`~.state.StateStore`)."""

    # ------------------------------------------------------------------ field digests

    def get_field_digests(self, cio_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """``cio_id -> {field: digest}`` of the people given (those without any are absent)."""
        with self._read() as conn:
            return {cid: dict(fields) for cid, fields in _read_digests(conn, cio_ids).items()}

    def set_field_digests(self, items: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        """Record, per person, the digest of each field now equal on both sides (other fields are kept)."""
        merged: dict[str, dict[str, str]] = {}
        for cid, fields in items:
            if fields:
                merged.setdefault(cid, {}).update(fields)
        if not merged:
            return
        now = time.time()
        with self._write() as conn:
            for page in chunks(list(merged), PAGE):
                stored = _read_digests(conn, page)
                rows = [
                    {"cio_id": cid, "digests": _encode({**stored.get(cid, {}), **merged[cid]}), "synced_at": now}
                    for cid in page
                ]
                upsert(conn, s.person_field, rows, ("cio_id",))

    def forget_field_digests(self, cio_ids: Iterable[str]) -> None:
        t = s.person_field
        with self._write() as conn:
            for chunk in chunks(cio_ids):
                conn.execute(t.delete().where(t.c.cio_id.in_(chunk)))

    # ------------------------------------------------------------------ own writes not yet read back

    def record_own_writes(self, direction: str, items: Iterable[tuple[str, str, Any]], written_at: float) -> None:
        """Record writes ``(cio_id, field, value)`` sent to the vendor of ``direction`` at ``written_at``."""
        new: dict[str, dict[str, list[Any]]] = {}
        for cid, name, value in items:
            new.setdefault(cid, {})[name] = [value, written_at]
        self._merge_own_writes(direction, new)

    def record_people_own_writes(
        self, direction: str, people: Iterable[tuple[str, Mapping[str, Any]]], written_at: float
    ) -> None:
        """:meth:`record_own_writes` of whole people: ``(cio_id, {field: value})`` (the people sync's imports)."""
        new: dict[str, dict[str, list[Any]]] = {}
        for cid, fields in people:
            new.setdefault(cid, {}).update({name: [value, written_at] for name, value in fields.items()})
        self._merge_own_writes(direction, new)

    def _merge_own_writes(self, direction: str, new: Mapping[str, Mapping[str, list[Any]]]) -> None:
        if not new:
            return
        with self._write() as conn:
            for page in chunks(list(new), PAGE):
                stored = _read_own(conn, direction, page)
                merged = {cid: {**stored.get(cid, {}), **new[cid]} for cid in page}
                _write_own(conn, direction, merged)

    def get_own_writes(self, direction: str, cio_ids: Sequence[str]) -> dict[str, dict[str, OwnWrite]]:
        """``cio_id -> {field: OwnWrite}`` of the writes not yet read back (people without any are absent)."""
        with self._read() as conn:
            stored = _read_own(conn, direction, cio_ids)
        return {
            cid: {name: OwnWrite(value, float(at)) for name, (value, at) in fields.items()}
            for cid, fields in stored.items()
        }

    def forget_own_writes(self, direction: str, items: Iterable[tuple[str, str]]) -> None:
        """Drop the records of ``(cio_id, field)`` (read back, superseded or expired)."""
        gone: dict[str, set[str]] = {}
        for cid, name in items:
            gone.setdefault(cid, set()).add(name)
        if not gone:
            return
        with self._write() as conn:
            for page in chunks(list(gone), PAGE):
                stored = _read_own(conn, direction, page)
                kept = {cid: {k: v for k, v in fields.items() if k not in gone[cid]} for cid, fields in stored.items()}
                _write_own(conn, direction, kept)

    def expire_own_writes(self, direction: str, before: float) -> int:
        """Drop the records of writes sent before ``before`` (unix seconds); returns how many went."""
        t = s.person_own_write
        dropped = 0
        with self._write() as conn:
            q = sa.select(t.c.cio_id, t.c.fields).where(t.c.direction == direction, t.c.oldest < before)
            old = {str(cid): _decode(fields) for cid, fields in conn.execute(q)}
            kept: dict[str, dict[str, list[Any]]] = {}
            for cid, fields in old.items():
                kept[cid] = {k: v for k, v in fields.items() if float(v[1]) >= before}
                dropped += len(fields) - len(kept[cid])
            for page in chunks(list(kept), PAGE):
                _write_own(conn, direction, {cid: kept[cid] for cid in page})
        return dropped

    def iter_own_write_people(self, direction: str) -> Iterator[str]:
        """The people with a write to the vendor of ``direction`` not yet read back, in pages."""
        t = s.person_own_write
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
            last = str(rows[-1][0])


def _read_digests(conn: Connection, cio_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    t = s.person_field
    out: dict[str, dict[str, str]] = {}
    for page in chunks(cio_ids, PAGE):
        for cid, digests in conn.execute(sa.select(t.c.cio_id, t.c.digests).where(t.c.cio_id.in_(page))):
            out[str(cid)] = _decode(digests)
    return out


def _read_own(conn: Connection, direction: str, cio_ids: Sequence[str]) -> dict[str, dict[str, list[Any]]]:
    t = s.person_own_write
    out: dict[str, dict[str, list[Any]]] = {}
    for page in chunks(cio_ids, PAGE):
        q = sa.select(t.c.cio_id, t.c.fields).where(t.c.direction == direction, t.c.cio_id.in_(page))
        for cid, fields in conn.execute(q):
            out[str(cid)] = _decode(fields)
    return out


def _write_own(conn: Connection, direction: str, people: Mapping[str, Mapping[str, list[Any]]]) -> None:
    """Store each person's own writes (a person left with none loses its row)."""
    t = s.person_own_write
    empty = [cid for cid, fields in people.items() if not fields]
    if empty:
        conn.execute(t.delete().where(t.c.direction == direction, t.c.cio_id.in_(empty)))
    rows = [
        {
            "direction": direction,
            "cio_id": cid,
            "fields": _encode(fields),
            "oldest": min(float(v[1]) for v in fields.values()),
        }
        for cid, fields in people.items()
        if fields
    ]
    if rows:
        upsert(conn, t, rows, ("direction", "cio_id"))


__all__ = ["FieldStateMixin", "OwnWrite"]
