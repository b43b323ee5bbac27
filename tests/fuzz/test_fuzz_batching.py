"""Fuzzing batch packing with the real vendor limits and the real packers of each sync.

tests/unit/sync/test_batching.py checks the generic packer with small made-up bounds. Here each sync's own packer
(as built by the sync) is fed unicode, escape-heavy and huge records, and every batch is serialised exactly as the
hook sends it (compact JSON, UTF-8, the real envelope) and measured against the vendor's documented limit:

* Track v2 batch (reverse sync): body <= 500 KB, one operation <= 32 KB;
* Brevo ``POST /events/batch`` (event forwarding): <= 200 events, body <= 512 KB;
* Brevo object upsert (objects sync): <= 1000 records, body <= 1 MB;
* Brevo ``POST /contacts/import`` (people sync): body <= 10 MB (and <= the configured import_batch_bytes).

Also: nothing lost or duplicated, input order kept, and an item is refused as oversize only when it could never fit.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.batching import Batch, Oversize
from airflow_provider_customerio.sync.events.mapping import MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH, event_packer
from airflow_provider_customerio.sync.objects.load import new_packer
from airflow_provider_customerio.sync.objects.run import MAX_RECORDS_PER_UPSERT, MAX_UPSERT_BYTES
from airflow_provider_customerio.sync.people.load import BREVO_IMPORT_LIMIT_BYTES, IMPORT_OVERHEAD_BYTES
from airflow_provider_customerio.sync.people.run import MAX_IMPORT_ROWS
from airflow_provider_customerio.sync.people.sync import PeopleSync
from airflow_provider_customerio.sync.reverse.write import (
    TRACK_BATCH_BUDGET_BYTES,
    TRACK_BATCH_LIMIT_BYTES,
    TRACK_OPERATION_LIMIT_BYTES,
    Pending,
    TrackWriter,
)

KB = 1024
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# characters whose JSON form differs in size from their UTF-8 form, or that need escaping
CHARS = ["a", "é", "€", "😀", '"', "\\", "\n", "\x01", "\u2028", "/", "<", "\t"]


def wire(obj: Any) -> int:
    """Body bytes as the hooks send them (``hooks/transport.py`` ``encode_body``: compact, UTF-8)."""
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


@st.composite
def blob(draw, max_len: int) -> str:
    """A string of up to ``max_len`` characters built from a few repeated pieces (cheap to generate when huge)."""
    pieces = draw(
        st.lists(
            st.tuples(st.sampled_from(CHARS) | st.text(min_size=1, max_size=3), st.integers(0, max_len)),
            min_size=1,
            max_size=3,
        )
    )
    text = "".join(c * n for c, n in pieces)
    return text[:max_len]


def item_lists(max_len: int, max_items: int, tiny_max: int):
    """Either a few records around the byte limits, or many tiny records around the count limit."""
    big = st.lists(blob(max_len), min_size=1, max_size=max_items)
    tiny = st.integers(1, tiny_max).flatmap(lambda n: st.just(["x"] * n))
    return st.one_of(big, tiny)


def check(
    outputs: list[Batch | Oversize],
    items: list,
    envelope,
    body_limit: int,
    count_limit: int,
    item_limit: int | None = None,
    measure=wire,
) -> None:
    """``measure``: how the packer sizes a lone item for the oversize decision (default: the real wire size)."""
    seen = []
    for out in outputs:
        if isinstance(out, Batch):
            assert 1 <= len(out.items) <= count_limit
            body = wire(envelope([*out.items]))
            assert body <= body_limit, f"batch body {body} > {body_limit}"
            seen.extend(out.items)
        else:
            alone = measure(envelope([out.item]))
            per_item = item_limit is not None and wire(unwrap(out.item)) > item_limit
            assert alone > body_limit or per_item, "an item that fits was refused as oversize"
            seen.append(out.item)
    assert [id(x) for x in seen] == [id(x) for x in items], "items lost, duplicated or reordered"


def unwrap(item: Any) -> Any:
    return item.op if isinstance(item, Pending) else item


def run(packer, items: list) -> list:
    outs = []
    for item in items:
        outs.extend(packer.add(item))
    outs.extend(packer.flush())
    return outs


@FUZZ
@given(texts=item_lists(40 * KB, 40, 12_000))
@example(texts=["a" * 32_600] * 20)  # operations just under 32 KB: a batch holds 15
@example(texts=["😀" * 8_150] * 20 + ["é" * 17_000])  # 4-byte and 2-byte characters; the last op is over 32 KB
def test_reverse_sync_track_batches_stay_under_500kb_and_32kb_per_operation(texts):
    packer = TrackWriter._new_packer(SimpleNamespace(batch_budget_bytes=TRACK_BATCH_BUDGET_BYTES))
    items = [
        Pending(
            record=None,
            cio_id=None,
            op={  # type: ignore[arg-type]
                "type": "person",
                "action": "identify",
                "identifiers": {"id": f"p{i}"},
                "attributes": {"note": t},
            },
        )
        for i, t in enumerate(texts)
    ]
    outs = run(packer, items)
    check(
        outs,
        items,
        lambda ps: {"batch": [p.op for p in ps]},
        TRACK_BATCH_LIMIT_BYTES,
        10**9,
        TRACK_OPERATION_LIMIT_BYTES,
    )
    for out in outs:
        if isinstance(out, Batch):
            assert all(wire(p.op) <= TRACK_OPERATION_LIMIT_BYTES for p in out.items)


@FUZZ
@given(texts=item_lists(60 * KB, 40, 700))
@example(texts=["x"] * 401)  # count bound: 200 + 200 + 1
@example(texts=['"' * 130_000] * 6)  # escaped quotes double the size: 4 per batch would be 1 MB
def test_event_batches_stay_under_200_events_and_512kb(texts):
    items = [
        (f"k{i}", {"event_name": "ORDER_PLACED", "identifiers": {"ext_id": f"p{i}"}, "event_properties": {"v": t}})
        for i, t in enumerate(texts)
    ]
    outs = run(event_packer(), items)
    check(outs, items, lambda its: {"events": [e for _, e in its]}, MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH)
    assert MAX_BATCH_BYTES == 512 * KB and MAX_EVENTS_PER_BATCH == 200


@FUZZ
@given(texts=item_lists(120 * KB, 40, 3000))
@example(texts=["x"] * 2001)  # count bound: 1000 + 1000 + 1
@example(texts=["€" * 100_000] * 12 + ["a" * 1_100_000])  # 300 KB records; the last is over 1 MB alone
def test_object_upserts_stay_under_1000_records_and_1mb(texts):
    packer = new_packer(MAX_UPSERT_BYTES, MAX_RECORDS_PER_UPSERT)
    items = [
        {"key": f"o{i}", "record": {"identifiers": {"ext_id": f"o{i}"}, "attributes": {"name": t}}}
        for i, t in enumerate(texts)
    ]
    outs = run(packer, items)
    check(outs, items, lambda its: {"records": [x["record"] for x in its]}, MAX_UPSERT_BYTES, MAX_RECORDS_PER_UPSERT)
    assert MAX_UPSERT_BYTES == 1024 * KB and MAX_RECORDS_PER_UPSERT == 1000


def people_estimate(body: dict[str, Any]) -> int:
    """The people packer's own reckoning of a lone row: json.dumps defaults (non-ASCII escaped, up to 3x the UTF-8
    bytes) plus a fixed 1 KB envelope reserve. Conservative: it may refuse a row whose real body would just fit,
    never send one that does not fit."""
    (row,) = body["jsonBody"]
    return len(json.dumps(row).encode("utf-8")) + IMPORT_OVERHEAD_BYTES


def import_envelope(rows: list) -> dict[str, Any]:
    """``BrevoHook.import_contacts`` body with every optional field set."""
    return {
        "jsonBody": rows,
        "listIds": [12, 13, 14],
        "updateExistingContacts": True,
        "emptyContactsAttributes": False,
        "emailBlacklist": True,
    }


@FUZZ
@given(texts=item_lists(6 * KB, 30, 400), budget=st.integers(8 * KB, 64 * KB))
def test_people_imports_stay_under_the_configured_budget(texts, budget):
    me = SimpleNamespace(
        config=SimpleNamespace(people=SimpleNamespace(import_batch_bytes=budget)), max_import_rows=MAX_IMPORT_ROWS
    )
    items = [
        (f"c{i}", "upsert", {"email": f"p{i}@example.com", "attributes": {"NOTE": t, "EXT_ID": f"p{i}"}})
        for i, t in enumerate(texts)
    ]
    outs = run(PeopleSync._new_packer(me), items)
    check(
        outs,
        items,
        lambda its: import_envelope([r for _, _, r in its]),
        budget,
        MAX_IMPORT_ROWS,
        measure=people_estimate,
    )


@settings(
    max_examples=4,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(texts=st.lists(blob(1_500_000), min_size=2, max_size=8))
@example(texts=["a" * 3_000_000] * 5)  # 15 MB of rows: at least two imports
@example(texts=["b" * 11_000_000, "c"])  # a row over 10 MB alone is refused, the next one still goes
def test_people_imports_never_exceed_brevos_10mb_even_when_configured_higher(texts):
    me = SimpleNamespace(
        config=SimpleNamespace(people=SimpleNamespace(import_batch_bytes=50 * 1024 * KB)),
        max_import_rows=MAX_IMPORT_ROWS,
    )
    items = [
        (f"c{i}", "upsert", {"email": f"p{i}@example.com", "attributes": {"NOTE": t}}) for i, t in enumerate(texts)
    ]
    outs = run(PeopleSync._new_packer(me), items)
    check(
        outs,
        items,
        lambda its: import_envelope([r for _, _, r in its]),
        BREVO_IMPORT_LIMIT_BYTES,
        MAX_IMPORT_ROWS,
        measure=people_estimate,
    )
    assert BREVO_IMPORT_LIMIT_BYTES == 10 * 1024 * KB
