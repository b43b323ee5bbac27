"""Track v2 writing of the reverse sync: transient 207 errors re-sent, batches under 500 KB."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from airflow_provider_customerio.store.state import BREVO_TO_CIO, StateStore
from airflow_provider_customerio.sync.reverse.ports import (
    BatchError,
)
from airflow_provider_customerio.sync.reverse.write import TRACK_BATCH_LIMIT_BYTES, Pending, op_bytes
from tests.unit.sync.reverse.fakes import (
    FakeCIO,
    contact,
    run,
)


def test_207_transient_errors_are_resent_a_bounded_number_of_times(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(i, email=f"p{i}@x.io", PLAN_NAME="pro") for i in range(1, 5)]
    cio = FakeCIO()
    transient = BatchError(0, "internal", "temporary failure; retry it")
    cio.script = [[transient, BatchError(2, "invalid", "bad value", "attributes.plan")], [transient], [transient]]
    summary, cio, ledger = run(state, contacts, tmp_path, cio=cio, max_attempts=3)
    assert [len(b) for b in cio.batches] == [4, 1, 1]  # p1 sent 3 times, then given up
    assert summary.updated == 2 and summary.rejected == 2
    by_email = {line["identifiers"]["email"]: line for line in ledger}
    assert (
        by_email["p1@x.io"]["detail"]["vendor_reason"] == "internal"
        and "after 3 attempts" in by_email["p1@x.io"]["message"]
    )
    assert by_email["p3@x.io"]["detail"] == {
        "vendor_reason": "invalid",
        "field": "attributes.plan",
        "identifiers": {"email": "p3@x.io"},
    }
    assert state.get_hash(BREVO_TO_CIO, "brevo:1") is None and state.get_hash(BREVO_TO_CIO, "brevo:2")


def test_batches_stay_under_500kb_and_an_oversized_operation_is_ledgered(state: StateStore, tmp_path: Path) -> None:
    big = "x" * 990
    contacts = [contact(i, email=f"p{i}@x.io", FIRSTNAME=big, PLAN_NAME=big) for i in range(1, 401)]
    summary, cio, ledger = run(state, contacts, tmp_path, page_size=1000)
    sizes = [len(json.dumps({"batch": b}, separators=(",", ":")).encode()) for b in cio.batches]
    assert len(sizes) == 2 and max(sizes) < TRACK_BATCH_LIMIT_BYTES and min(sizes) > 300_000
    assert summary.updated == 400 and ledger == []

    huge = contact(999, email="huge@x.io", EXT_ID="h" * 40000)  # a 40 KB identifier: over 32 KB per op
    summary, cio, ledger = run(state, [huge], tmp_path, run_key="d/r2/t")
    assert cio.batches == [] and [line["reason"] for line in ledger] == ["oversized_record"]


def test_operation_sizes_add_up_to_the_body_the_track_hook_sends(state: StateStore, tmp_path: Path) -> None:
    """The packer counts each operation as the hook writes it (msgspec): no batch is over its budget, none far
    under it."""
    contacts = [
        contact(i, email=f"p{i}@x.io", FIRSTNAME="Zoë " * (i % 40), MONTHLY_REVENUE=1e16 + i, VIP=bool(i % 2))
        for i in range(1, 3001)
    ]
    budget = 40_000
    summary, cio, _ = run(state, contacts, tmp_path, page_size=20, batch_budget_bytes=budget)
    bodies = [msgspec.json.encode({"batch": b}) for b in cio.batches]
    ops = [op for b in cio.batches for op in b]
    p = [Pending(record=None, cio_id=None, op=op) for op in ops]  # type: ignore[arg-type]
    assert sum(len(body) for body in bodies) == sum(op_bytes(x) for x in p) + len(bodies) * len('{"batch":[]}') + sum(
        len(b) - 1 for b in cio.batches
    )
    assert max(len(body) for body in bodies) <= budget and summary.updated == 3000
