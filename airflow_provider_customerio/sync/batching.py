"""Generic batch packer bounded by bytes and by count.

Used for Brevo imports (body <= 10 MB), and reusable for Track v2 batches (500 KB, 32 KB per op), Brevo event
batches (200 / 512 KB), object upserts (1000 / 1 MB) and list member calls (150).

The packer streams: it holds at most one batch. It keeps the input order, never exceeds either bound, loses
nothing, and yields an :class:`Oversize` (with its reason) for any single item that could never fit.

No Airflow and no HTTP imports here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

#: The hooks' request-body encoder (``hooks/transport.py``): compact, UTF-8, the same bytes.
_COMPACT = msgspec.json.Encoder()


def json_size(item: Any, *, compact: bool = False) -> int:
    """Bytes of ``item`` as JSON (the one JSON-size function of the provider).

    :param compact: as the hooks send request bodies (compact separators, UTF-8 unescaped); else as ``json.dumps``
        defaults write it (``requests``' ``json=``: spaces, ASCII-escaped), an upper bound of the compact size.
    """
    if compact:
        return len(_COMPACT.encode(item))
    return len(json.dumps(item).encode("utf-8"))


@dataclass
class Batch(Generic[T]):
    """A packed batch: ``items`` in input order; ``nbytes`` is the body size including overhead and separators."""

    items: list[T] = field(default_factory=list)
    nbytes: int = 0

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Oversize(Generic[T]):
    """An item that alone exceeds the per-item or per-batch byte bound."""

    item: T
    size: int
    limit: int
    reason: str = "oversized_record"

    @property
    def message(self) -> str:
        return f"record of {self.size} bytes exceeds the {self.limit}-byte limit"


class Packer(Generic[T]):
    """Incremental form of :func:`pack`: feed items one by one with :meth:`add`, then call :meth:`flush`.

    Each call returns the batches (and :class:`Oversize` items) completed by it, in input order. Useful when the
    caller must act (submit, checkpoint) between items. Parameters as for :func:`pack`.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        max_count: int,
        size_of: Callable[[T], int] = json_size,
        overhead_bytes: int = 0,
        separator_bytes: int = 1,
        max_item_bytes: int | None = None,
    ) -> None:
        if max_count < 1:
            raise ValueError(f"max_count must be at least 1, got {max_count}")
        if overhead_bytes < 0 or separator_bytes < 0:
            raise ValueError("overhead_bytes and separator_bytes must not be negative")
        if max_bytes <= overhead_bytes:
            raise ValueError(f"max_bytes ({max_bytes}) must exceed overhead_bytes ({overhead_bytes})")
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.size_of = size_of
        self.overhead_bytes = overhead_bytes
        self.separator_bytes = separator_bytes
        self.item_limit = max_bytes - overhead_bytes
        if max_item_bytes is not None:
            self.item_limit = min(self.item_limit, max_item_bytes)
        self._current: Batch[T] = Batch()

    @property
    def pending(self) -> int:
        """Items held in the unfinished batch."""
        return len(self._current.items)

    def add(self, item: T) -> list[Batch[T] | Oversize[T]]:
        out: list[Batch[T] | Oversize[T]] = []
        cur = self._current
        size = self.size_of(item)
        if size > self.item_limit:
            if cur.items:  # keep order: what precedes the oversize item goes first
                out.append(cur)
                self._current = Batch()
            out.append(Oversize(item, size, self.item_limit))
            return out
        added = size + self.separator_bytes if cur.items else size
        if cur.items and (cur.nbytes + added > self.max_bytes or len(cur.items) >= self.max_count):
            out.append(cur)
            cur = self._current = Batch()
            added = size
        if not cur.items:
            cur.nbytes = self.overhead_bytes
        cur.items.append(item)
        cur.nbytes += added
        return out

    def flush(self) -> list[Batch[T] | Oversize[T]]:
        if not self._current.items:
            return []
        out: list[Batch[T] | Oversize[T]] = [self._current]
        self._current = Batch()
        return out


def pack(
    items: Iterable[T],
    *,
    max_bytes: int,
    max_count: int,
    size_of: Callable[[T], int] = json_size,
    overhead_bytes: int = 0,
    separator_bytes: int = 1,
    max_item_bytes: int | None = None,
) -> Iterator[Batch[T] | Oversize[T]]:
    """Pack ``items`` into batches, streaming.

    A batch's size is ``overhead_bytes + sum(sizes) + separator_bytes * (n - 1)`` and is always
    ``<= max_bytes``; its length is always ``<= max_count``.

    :param items: any iterable; consumed lazily.
    :param max_bytes: byte bound of a whole batch (request body).
    :param max_count: item bound of a batch.
    :param size_of: byte size of one item (default: its JSON encoding).
    :param overhead_bytes: fixed bytes of the envelope around the items (e.g. ``{"batch":[...]}``).
    :param separator_bytes: bytes between two items (``", "`` = 2 with ``json.dumps`` defaults).
    :param max_item_bytes: optional per-item bound (Track v2: 32 KB per operation).
    :returns: an iterator of :class:`Batch` and :class:`Oversize`, in input order.
    """
    packer: Packer[T] = Packer(
        max_bytes=max_bytes,
        max_count=max_count,
        size_of=size_of,
        overhead_bytes=overhead_bytes,
        separator_bytes=separator_bytes,
        max_item_bytes=max_item_bytes,
    )
    for item in items:
        yield from packer.add(item)
    yield from packer.flush()


__all__ = ["Batch", "Oversize", "Packer", "json_size", "pack"]
