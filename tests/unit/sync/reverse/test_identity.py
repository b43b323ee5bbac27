"""Identity clashes of the reverse sync: ledgered with both identities, nothing written."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.reverse.run import ReverseSync
from tests.unit.sync.reverse.fakes import (
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
