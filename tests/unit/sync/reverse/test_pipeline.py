"""Reading ahead (``read_ahead``): the source's order, bounded memory, errors where they happened, a closed source."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from airflow_provider_customerio.sync.reverse.pipeline import read_ahead


class _Source:
    """An endless (or ``stop``-long) source that records what was read and whether it was closed."""

    def __init__(self, stop: int | None = None, fail_at: int | None = None) -> None:
        self.produced = 0
        self.closed = False
        self.stop = stop
        self.fail_at = fail_at
        self.reached = threading.Event()
        self.reach = 0

    def __iter__(self) -> Iterator[int]:
        try:
            while self.stop is None or self.produced < self.stop:
                if self.produced == self.fail_at:
                    raise ConnectionError(f"page at {self.produced} failed")
                self.produced += 1
                if self.reach and self.produced >= self.reach:
                    self.reached.set()
                yield self.produced
        finally:
            self.closed = True


def test_every_item_comes_in_order() -> None:
    assert list(read_ahead(iter(_Source(stop=1003)), chunk=10, depth=2)) == list(range(1, 1004))
    assert list(read_ahead(iter([]))) == []


def test_the_reader_runs_ahead_of_the_consumer_but_no_further_than_its_queue() -> None:
    source = _Source()
    source.reach = 50  # ahead of the one item the consumer takes
    with closing(read_ahead(iter(source), chunk=10, depth=3)) as items:
        assert next(items) == 1
        assert source.reached.wait(timeout=60), "the reader did not read ahead"
    # closed: the reader stopped and closed the source, at most the queue (3 chunks), the chunk taken and the one
    # being filled read
    assert source.closed and source.produced <= 10 * (3 + 2)


def test_a_source_error_is_raised_after_the_items_read_before_it() -> None:
    source = _Source(fail_at=25)
    got: list[int] = []
    with pytest.raises(ConnectionError, match="page at 25"):
        for item in read_ahead(iter(source), chunk=10, depth=2):
            got.append(item)
    assert got == list(range(1, 26)) and source.closed


def test_an_error_of_the_consumer_stops_the_reader_and_closes_the_source() -> None:
    source = _Source()
    with pytest.raises(RuntimeError), closing(read_ahead(iter(source), chunk=5, depth=2)) as items:
        for item in items:
            if item == 7:
                raise RuntimeError("the run failed")
    assert source.closed and not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
