"""Reading ahead: the next Brevo pages are fetched (their rate-limit waits, the network, the JSON decoding) while the
run decides and writes the contacts already read (:func:`read_ahead`).

A bounded queue between one reader thread and the run: memory stays flat (at most ``depth`` chunks wait), the order
is the source's, and nothing changes for resuming or exactly-once: the run still counts, decides, writes and
checkpoints the contacts one after another as before; the reader only reads (the source is read-only).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

#: Items handed over together (one queue operation per chunk, not per contact).
CHUNK = 250
#: Chunks the reader may be ahead (4 Brevo pages of 1,000 contacts).
DEPTH = 16
_END = object()


class _Failure:
    """The reader's exception, re-raised by the consumer in its own thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(
    items: Iterable[T], *, chunk: int = CHUNK, depth: int = DEPTH, name: str = "read-ahead"
) -> Generator[T, None, None]:
    """Yield the items of ``items`` in their order, read by a background thread up to ``depth`` chunks of ``chunk``
    items ahead. An exception of the source is raised here, where the item it stopped at would have been. Closing
    this generator (or an exception in the consumer) stops the reader and closes the source."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(obj: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(obj, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        source = iter(items)
        buf: list[T] = []
        try:
            for item in source:
                buf.append(item)
                if len(buf) >= chunk:
                    if not put(buf):
                        return
                    buf = []
            if buf and not put(buf):
                return
            put(_END)
        except BaseException as exc:  # handed to the consumer, raised there after the items read before it
            if not buf or put(buf):
                put(_Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=reader, name=name, daemon=True)
    thread.start()
    try:
        while True:
            got = handoff.get()
            if got is _END:
                return
            if isinstance(got, _Failure):
                raise got.exc
            yield from got
    finally:
        stop.set()
        thread.join()
