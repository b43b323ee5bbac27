"""One Track batch in flight while the next contacts are decided: the overlap happens, and a kill at any point
resumes with every contact written or ledgered exactly once (held rejects, the checkpoint of the cut, claims)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.reverse.inflight import HeldRejects
from airflow_provider_customerio.sync.reverse.ports import BatchError
from airflow_provider_customerio.sync.reverse.run import ReverseSync
from tests.unit.sync.reverse.fakes import T0, T1, FakeBrevo, FakeCIO, contact, make_config, run

#: ~120-byte operations: with these, two pages of 3 fill the budget, so a batch is cut every 6 contacts
SMALL = {"page_size": 3, "batch_budget_bytes": 800}


class _Rejects:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def reject(self, **kwargs: Any) -> None:
        self.rows.append(kwargs)


def test_held_rejects_reach_the_ledger_only_when_released_in_their_order() -> None:
    ledger = _Rejects()
    held = HeldRejects(ledger)
    held.reject(record_id="a", reason="r1", message="m", stage="map")
    held.reject(record_id="b", reason="r2", message="m", stage="map")
    assert ledger.rows == [] and len(held) == 2
    held.release()
    assert [r["record_id"] for r in ledger.rows] == ["a", "b"] and len(held) == 0
    held.release()
    assert len(ledger.rows) == 2


def test_the_next_contacts_are_decided_while_a_batch_is_in_flight(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(i, email=f"p{i}@x.io") for i in range(1, 13)]
    decided_after_cut = threading.Event()

    class Watching(FakeBrevo):
        def iter_modified(self, since: Any) -> Any:
            for c in super().iter_modified(since):
                if c.id == 9:  # a contact after the first cut (6) is read: the run went on
                    decided_after_cut.set()
                yield c

    class Slow(FakeCIO):
        overlapped: list[bool] = []

        def send_batch(self, operations: Sequence[Any]) -> list[BatchError]:
            if not self.batches:  # the first batch waits for the run to go on without it (or gives up)
                self.overlapped.append(decided_after_cut.wait(timeout=30))
            return super().send_batch(operations)

    cio = Slow()
    with Ledger(tmp_path / "l.jsonl") as ledger:
        summary = ReverseSync(
            config=make_config(),
            source=Watching(contacts),
            writer=cio,
            state=state,
            ledger=ledger,
            run_key="d/r/t",
            **SMALL,
        ).run(window=RunWindow(T0, T1))
    assert cio.overlapped == [True]
    assert summary.updated == 12 and [len(b) for b in cio.batches] == [6, 6]


def test_a_kill_with_a_batch_in_flight_resumes_with_each_contact_once(state: StateStore, tmp_path: Path) -> None:
    # 1-6: the first batch (contact 2 refused by Customer.io, 4 has no identifier); 7-12: the second batch (10 has no
    # identifier), killed in flight; 13-14: the rest
    contacts = [
        contact(i, email=f"p{i}@x.io") if i not in (4, 10) else contact(i, FIRSTNAME="no-id") for i in range(1, 15)
    ]

    class Boom(Exception):
        pass

    class Dying(FakeCIO):
        def send_batch(self, operations: Sequence[Any]) -> list[BatchError]:
            if len(self.batches) == 1:
                raise Boom()
            super().send_batch(operations)
            return [BatchError(1, "invalid", "refused", "attributes.email")]  # the second op of the batch: p2

    dying = Dying()
    with pytest.raises(Boom):
        run(state, contacts, tmp_path, cio=dying, page_size=3, batch_budget_bytes=700)
    cp = ReverseSync.load_checkpoint(state, "d/r/t")
    first = [op["identifiers"]["email"] for op in dying.batches[0]]
    assert first == ["p1@x.io", "p2@x.io", "p3@x.io", "p5@x.io", "p6@x.io"]
    # the checkpoint names the first cut: its contacts settled, its two rejects (4 decided, 2 refused) and nothing
    # of the contacts decided while the second batch was in flight
    assert cp["position"] == 6 and cp["ledger_offset"] == 2
    assert cp["summary"]["updated"] == 4 and cp["summary"]["batches"] == 1 and cp["summary"]["read"] == 6

    summary, cio, ledger = run(state, contacts, tmp_path, page_size=3, batch_budget_bytes=700)
    resent = [op["identifiers"]["email"] for op in cio.ops]
    assert resent == [f"p{i}@x.io" for i in (7, 8, 9, 11, 12, 13, 14)]  # nothing of the first cut again
    assert sorted(line["record_id"] for line in ledger) == ["brevo:10", "brevo:2", "brevo:4"]
    assert summary.read == 14 and summary.updated == 4 + 7 and summary.batches == 1 + len(cio.batches)


def test_a_person_claimed_by_the_batch_in_flight_is_still_claimed(state: StateStore, tmp_path: Path) -> None:
    state.upsert_identity("c-ann", email="ann@x.io")
    fillers = [contact(i, email=f"p{i}@x.io") for i in range(2, 7)]
    first = contact(1, email="ann@x.io")  # stands for c-ann, cut with contacts 2-6
    twin = contact(7, email="ann@x.io", FIRSTNAME="Twin")  # decided while that batch is in flight
    summary, cio, ledger = run(state, [first, *fillers, twin, contact(8, email="p8@x.io")], tmp_path, **SMALL)
    assert [line["reason"] for line in ledger] == ["identity_clash"] and ledger[0]["record_id"] == "brevo:7"
    assert "already stands for Brevo contact 1" in ledger[0]["message"]
    assert state.get_identity("c-ann").brevo_id == 1 and summary.updated == 7
