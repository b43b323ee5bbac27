"""One reverse run over in-memory ports: windows, read overlap, echoes, resume, unsubscribes and dry runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import BREVO_TO_CIO, CIO_TO_BREVO, StateStore
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.mapping import (
    MappedRow,
    Person,
    PersonMapper,
)
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.reverse.mapping import ReverseMapper
from airflow_provider_customerio.sync.reverse.ports import (
    BatchError,
    BrevoContact,
    Profile,
)
from airflow_provider_customerio.sync.reverse.run import READ_OVERLAP, ReverseSync
from tests.unit.sync.reverse.fakes import (
    ATTRIBUTES,
    MAPPING,
    MS0,
    T0,
    T1,
    FakeBrevo,
    FakeCIO,
    cio_now,
    contact,
    make_config,
    run,
    synced,
)


def test_writes_changed_contacts_once_without_timestamps_and_respects_the_window(
    state: StateStore, tmp_path: Path
) -> None:
    contacts = [
        contact(1, email="a@x.io", EXT_ID="u1", PLAN_NAME="pro"),
        contact(2, email="b@x.io", PLAN_NAME="free"),
        contact(3, SMS="+33612345678", FIRSTNAME="Sam"),
        contact(4, email="late@x.io", minutes=61),  # after the window's end
        contact(5, email="early@x.io", minutes=-11),  # before its start and its read overlap (10 minutes)
    ]
    summary, cio, ledger = run(state, contacts, tmp_path)
    assert summary.read == 3 and summary.updated == 3 and ledger == []
    assert [op["identifiers"] for op in cio.ops] == [{"id": "u1"}, {"email": "b@x.io"}, {"phone": "+33612345678"}]
    assert all(op["action"] == "identify" and "timestamp" not in op for op in cio.ops)
    assert cio.ops[2]["attributes"] == {"first_name": "Sam", "phone": "+33612345678"}
    assert len(cio.batches) == 1

    again, cio2, _ = run(state, contacts, tmp_path, run_key="d/r2/t")  # idempotent re-run
    assert again.unchanged == 3 and again.updated == 0 and cio2.batches == []


def test_read_overlap_catches_a_late_listed_contact_and_rewrites_nothing_already_settled(
    state: StateStore, tmp_path: Path
) -> None:
    """Window 1 ran before Brevo listed contact 2 (changed 1 ms before window 2's start); window 2 reads from
    ``READ_OVERLAP`` earlier, so contact 2 crosses, and contact 1, settled by window 1, is not written again."""
    settled = contact(1, email="a@x.io", PLAN_NAME="pro", minutes=-0.5)
    first, cio1, _ = run(state, [settled], tmp_path, window=RunWindow(T0 - timedelta(hours=1), T0), run_key="d/w1/t")
    assert first.updated == 1 and len(cio1.ops) == 1
    late = BrevoContact(id=2, email="b@x.io", attributes={"PLAN_NAME": "free"}, modified_at=MS0 - 1)
    second, cio2, _ = run(state, [settled, late], tmp_path, run_key="d/w2/t")
    assert [op["identifiers"] for op in cio2.ops] == [{"email": "b@x.io"}]  # once each, across both windows
    assert second.read == 2 and second.unchanged == 1 and second.updated == 1
    assert READ_OVERLAP >= timedelta(minutes=1)
    without, cio3, _ = run(state, [late], tmp_path, run_key="d/w3/t", read_overlap=timedelta(0))
    assert without.read == 0 and cio3.ops == []  # with no overlap the late contact would be lost


def test_echo_of_the_forward_sync_and_a_list_touch_write_nothing(state: StateStore, tmp_path: Path) -> None:
    person = Person(cio_id="c1", id="u1", email="a@x.io", attributes={"plan": "pro", "first_name": "Ann"})
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(person)
    assert isinstance(row, MappedRow)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])
    state.upsert_identity("c1", email="a@x.io", ext_id="u1")
    echoed = contact(7, email="a@x.io", **row.row["attributes"])
    summary, cio, _ = run(state, [echoed], tmp_path)
    assert summary.echoes == 1 and cio.batches == []
    assert state.get_identity("c1").brevo_id == 7  # the identity map learns the Brevo contact id

    touched = BrevoContact(id=7, email="a@x.io", attributes=echoed.attributes, modified_at=MS0 + 120_000)
    state.set_hashes(CIO_TO_BREVO, [("c1", "something-newer")])  # even with no echo match: the snapshot matches
    summary, cio, _ = run(state, [touched], tmp_path, run_key="d/r2/t")
    assert summary.unchanged == 1 and summary.echoes == 0 and cio.batches == []

    edited = BrevoContact(
        id=7, email="a@x.io", attributes={**echoed.attributes, "PLAN_NAME": "team"}, modified_at=MS0 + 180_000
    )
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])  # Customer.io unchanged since its sync
    summary, cio, _ = run(state, [edited], tmp_path, run_key="d/r3/t", cio=FakeCIO({"c1": Profile(person, 1)}))
    assert not summary.conflicts and cio.profile_calls == 1
    assert cio.ops == [
        {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": {"plan": "team"}}
    ]  # only the changed field
    renamed = BrevoContact(id=7, email="ann@new.io", attributes=edited.attributes, modified_at=MS0 + 240_000)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])
    _, cio2, _ = run(state, [renamed], tmp_path, run_key="d/r4/t", cio=FakeCIO({"c1": Profile(person, 1)}))
    assert cio2.ops[0]["identifiers"] == {"cio_id": "c1"} and cio2.ops[0]["attributes"] == {"email": "ann@new.io"}
    # the forward sync will find Customer.io equal to what Brevo holds: its hash is updated, no echo back
    assert (
        state.get_hash(CIO_TO_BREVO, "c1")
        == ReverseMapper(make_config().field_mapping, ATTRIBUTES, [12]).map(renamed).forward_hash
    )


def test_missing_identifier_and_full_mode(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(1, FIRSTNAME="Nobody"), contact(2, email="a@x.io", minutes=-600)]
    summary, cio, ledger = run(state, contacts, tmp_path, window=None)  # full: no window filter
    assert summary.mode == "full" and summary.read == 2 and summary.updated == 1
    assert [line["reason"] for line in ledger] == ["missing_identifier"]
    assert "no EXT_ID" in ledger[0]["message"]


def test_resume_skips_committed_pages_and_truncated_ledger_is_not_doubled(state: StateStore, tmp_path: Path) -> None:
    contacts = [contact(i, email=f"p{i}@x.io") for i in range(1, 8)] + [contact(8, FIRSTNAME="no-id")]

    class Boom(Exception):
        pass

    class Dying(FakeCIO):
        def send_batch(self, operations: Sequence[Any]) -> list[BatchError]:
            if len(self.batches) == 1:
                raise Boom()
            return super().send_batch(operations)

    dying = Dying()
    with pytest.raises(Boom):  # ~120-byte operations: two pages of 3 fill the 800-byte budget, then a batch
        run(state, contacts, tmp_path, cio=dying, page_size=3, batch_budget_bytes=800)
    assert [len(b) for b in dying.batches] == [6]
    cp = ReverseSync.load_checkpoint(state, "d/r/t")
    assert cp["position"] == 6 and cp["summary"]["updated"] == 6
    summary, cio, ledger = run(state, contacts, tmp_path, page_size=3, batch_budget_bytes=800)
    assert [op["identifiers"]["email"] for op in cio.ops] == ["p7@x.io"]  # nothing written twice
    assert summary.read == 8 and summary.updated == 7
    assert [line["reason"] for line in ledger] == ["missing_identifier"]  # decided twice, ledgered once


def test_a_blacklisted_contact_becomes_unsubscribed_and_suppressed_only_when_configured(
    state: StateStore, tmp_path: Path
) -> None:
    _, brevo_attrs = synced(state, plan="free")
    opted_out = contact(7, email="a@x.io", blacklisted=True, **brevo_attrs)  # unsubscribed or hard-bounced
    summary, cio, _ = run(state, [opted_out], tmp_path, cio=cio_now(plan="free"))
    assert cio.ops == [
        {"type": "person", "action": "identify", "identifiers": {"id": "u1"}, "attributes": {"unsubscribed": True}}
    ]
    assert summary.unsubscribed == 1 and summary.suppressed == 0 and not summary.conflicts

    with StateStore(":memory:") as other:
        synced(other, plan="free")
        config = parse_config(
            {
                "connectors": {
                    "customerio": {
                        "lists": {"all_contacts": 12},
                        "field_mapping": MAPPING,
                        "reverse": {"suppress_unsubscribed": True},
                    }
                }
            }
        ).customerio
        cio = cio_now(plan="free")
        with Ledger(tmp_path / "s.jsonl") as led:
            s = ReverseSync(
                config=config, source=FakeBrevo([opted_out]), writer=cio, state=other, ledger=led, run_key="d/s/t"
            ).run(window=RunWindow(T0, T1))
        assert [op["action"] for op in cio.ops] == ["identify", "suppress"]
        assert cio.ops[1]["identifiers"] == {"id": "u1"} and s.suppressed == 1 and s.unsubscribed == 1


def test_dry_run_lists_the_plan_and_writes_nothing(state: StateStore, tmp_path: Path) -> None:
    _, brevo_attrs = synced(state, plan="free", first_name="Ann")
    edited = contact(7, email="a@x.io", blacklisted=True, **{**brevo_attrs, "PLAN_NAME": "team", "FIRSTNAME": "Anna"})
    new = contact(8, email="new@x.io", PLAN_NAME="pro")
    before = state.get_field_digests(["c1"])
    cio = cio_now({"plan": 1}, plan="pro", first_name="Ann")
    brevo = FakeBrevo([edited, new])
    with Ledger(tmp_path / "dry.jsonl") as led:
        s = ReverseSync(config=make_config(), source=brevo, writer=cio, state=state, ledger=led, run_key="d/dry/t").run(
            window=RunWindow(T0, T1), dry_run=True
        )
    out = s.to_xcom()
    assert cio.batches == [] and out["dry_run"] is True
    plan = out["plan"]
    assert plan["creates"] == 1 and plan["creates_items"] == ["brevo:8"]
    assert plan["updates"] == 1 and plan["updates_items"] == ["c1"] and plan["unsubscribes"] == 1
    assert plan["deletes"] == 0 and plan["list_adds"] == 0 and plan["list_removals"] == 0
    assert [(c["field"], c["winner"]) for c in plan["conflicts"]] == [("plan", "customerio")]
    # nothing recorded: the same run for real still has everything to do
    assert state.get_field_digests(["c1"]) == before and state.get_hash(BREVO_TO_CIO, "brevo:7") is None
    assert state.get_checkpoint("d/dry/t") is None
