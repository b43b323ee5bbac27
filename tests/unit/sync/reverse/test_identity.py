"""Identity clashes of the reverse sync: ledgered with both identities, nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import Identity, StateStore
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.reverse.identity import IdentityResolver
from airflow_provider_customerio.sync.reverse.mapping import ReverseMapper
from airflow_provider_customerio.sync.reverse.run import ReverseSync
from tests.unit.sync.reverse.fakes import (
    ATTRIBUTES,
    T0,
    T1,
    FakeBrevo,
    FakeCIO,
    contact,
    make_config,
    run,
)


def test_identity_clashes_are_ledgered_with_both_identities(state: StateStore, tmp_path: Path) -> None:
    state.upsert_identity("c-ann", email="ann@x.io")
    state.upsert_identity("c-bob", email="bob@x.io", ext_id="42")
    merged = contact(1, email="ann@x.io", EXT_ID="42", FIRSTNAME="Ann-Bob")
    twin_a = contact(2, email="carl@x.io", EXT_ID="77")
    state.upsert_identity("c-carl", email="carl@x.io", ext_id="77", brevo_id=50)  # stood for contact 50
    summary, cio, ledger = run(state, [merged, twin_a], tmp_path, also_in_brevo={50})
    assert cio.batches == [] and summary.rejected == 2
    assert all(line["reason"] == "identity_clash" for line in ledger)
    sides = {p["cio_id"] for p in ledger[0]["detail"]["customerio"]}
    assert sides == {"c-ann", "c-bob"} and ledger[0]["identifiers"]["id"] == "42"
    assert ledger[1]["detail"]["customerio"][0]["brevo_contact_id"] == 50

    # once the old contact is gone from Brevo, the new one takes the person over: no clash
    brevo = FakeBrevo([twin_a])
    with Ledger(tmp_path / "ledger.db") as led:
        s = ReverseSync(
            config=make_config(), source=brevo, writer=(cio := FakeCIO()), state=state, ledger=led, run_key="d/r9/t"
        ).run(window=RunWindow(T0, T1))
    assert s.updated == 1 and state.get_identity("c-carl").brevo_id == 2


class _CountingState(StateStore):
    """The store, counting the identity lookups the reverse sync makes."""

    single = 0
    bulk = 0

    def find_identity(self, **kwargs: Any) -> Identity | None:
        self.single += 1
        return super().find_identity(**kwargs)

    def find_identities(self, **kwargs: Any) -> dict[str, dict[Any, Identity]]:
        self.bulk += 1
        return super().find_identities(**kwargs)


def test_a_page_reads_the_identity_map_once_and_resolves_as_one_by_one(tmp_path: Path) -> None:
    with _CountingState(":memory:") as state:
        for i in range(0, 120, 3):
            state.upsert_identity(f"c{i}", email=f"p{i}@x.io", brevo_id=i if i % 2 else None)
        state.upsert_identity("c-bob", email="bob@x.io", ext_id="42")  # an identity clash below
        contacts = [contact(i, email=f"p{i}@x.io", FIRSTNAME=f"P{i}") for i in range(1, 120)]
        contacts.append(contact(500, email="p3@x.io", EXT_ID="42"))
        records = [ReverseMapper(make_config().field_mapping, ATTRIBUTES).map(c) for c in contacts]

        resolver = IdentityResolver(state, FakeBrevo(contacts), (bulk_ledger := _Rejects()))
        bulk = resolver.resolve_all(records, {})
        assert state.single == 0 and state.bulk == 1
        one_by_one = IdentityResolver(state, FakeBrevo(contacts), (single_ledger := _Rejects()))
        claimed: dict[str, int] = {}
        assert bulk == [one_by_one.resolve(r, claimed) for r in records]
        assert bulk[2] == "c3" and bulk[0] is None and bulk[-1] is False  # known, unknown, a clash
        assert bulk_ledger.rejects == single_ledger.rejects and len(bulk_ledger.rejects) == 1

        # a whole run: no lookup per contact
        state.single = 0
        summary, _, _ = run(state, contacts, tmp_path)
        assert summary.read == len(contacts) and state.single == 0


class _Rejects:
    def __init__(self) -> None:
        self.rejects: list[dict[str, Any]] = []

    def reject(self, **kwargs: Any) -> None:
        self.rejects.append(kwargs)
