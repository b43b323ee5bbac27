from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size, pack

items_st = st.lists(st.text(max_size=60), max_size=80)


def _body_size(batch: Batch, overhead: int, sep: int, size_of=json_size) -> int:
    return overhead + sum(size_of(i) for i in batch.items) + sep * (len(batch.items) - 1)


@settings(max_examples=300, deadline=None)
@given(
    items=items_st,
    max_bytes=st.integers(min_value=20, max_value=400),
    max_count=st.integers(1, 12),
    overhead=st.integers(0, 19),
    sep=st.integers(0, 3),
)
def test_pack_never_exceeds_bounds_keeps_order_and_loses_nothing(items, max_bytes, max_count, overhead, sep):
    out = list(pack(items, max_bytes=max_bytes, max_count=max_count, overhead_bytes=overhead, separator_bytes=sep))
    flat = []
    for o in out:
        if isinstance(o, Batch):
            assert 1 <= len(o.items) <= max_count
            assert _body_size(o, overhead, sep) == o.nbytes <= max_bytes
            flat.extend(o.items)
        else:
            assert isinstance(o, Oversize)
            assert o.size > max_bytes - overhead
            assert o.reason == "oversized_record"
            flat.append(o.item)
    assert flat == items


@settings(max_examples=200, deadline=None)
@given(items=items_st, max_item=st.integers(3, 40))
def test_per_item_bound_rejects_only_items_over_it(items, max_item):
    out = list(pack(items, max_bytes=500, max_count=1000, max_item_bytes=max_item))
    over = [o.item for o in out if isinstance(o, Oversize)]
    assert over == [i for i in items if json_size(i) > max_item]


def test_batch_is_the_real_json_body_size():
    rows = [{"email": f"p{i}@example.com", "attributes": {"FIRSTNAME": "Zoë" * i}} for i in range(50)]
    overhead = len(json.dumps({"jsonBody": []}))
    for b in pack(rows, max_bytes=1500, max_count=1000, overhead_bytes=overhead, separator_bytes=2):
        assert isinstance(b, Batch)
        assert len(json.dumps({"jsonBody": b.items}).encode()) == b.nbytes <= 1500


def test_oversize_item_flushes_preceding_batch_first():
    out = list(pack(["a", "b" * 100, "c"], max_bytes=50, max_count=10))
    assert [type(o).__name__ for o in out] == ["Batch", "Oversize", "Batch"]
    assert out[1].message.startswith("record of 102 bytes exceeds the 50-byte limit")


def test_incremental_packer_matches_pack():
    items = [str(i) * (i % 7) for i in range(100)]
    p = Packer(max_bytes=40, max_count=5)
    got = [o for i in items for o in p.add(i)] + p.flush()
    want = list(pack(items, max_bytes=40, max_count=5))
    assert [(type(o), getattr(o, "items", None)) for o in got] == [(type(o), getattr(o, "items", None)) for o in want]
    assert p.pending == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_bytes": 10, "max_count": 0}, "max_count must be at least 1"),
        ({"max_bytes": 10, "max_count": 1, "overhead_bytes": 10}, "must exceed overhead_bytes"),
        ({"max_bytes": 10, "max_count": 1, "separator_bytes": -1}, "must not be negative"),
    ],
)
def test_bad_bounds_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        list(pack(["x"], **kwargs))
