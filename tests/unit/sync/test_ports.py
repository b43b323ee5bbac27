"""The storage ports of ``sync/`` (``sync/ports.py``): the store's classes provide them.

The typed assignments are checked by mypy (the store's ``StateStore`` is a ``SyncState``, its ``Ledger`` a
``RunLedger``); the test checks the same at run time, member by member, and drives the ports through their
Protocol types.
"""

from __future__ import annotations

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore
from airflow_provider_customerio.sync.ports import RejectSink, RunLedger, SyncState


def _members(protocol: type) -> set[str]:
    return {
        name
        for klass in protocol.__mro__
        if klass.__module__ == "airflow_provider_customerio.sync.ports"
        for name in (*vars(klass), *getattr(klass, "__annotations__", {}))
        if not name.startswith("_")
    }


def test_the_store_provides_every_member_of_the_ports(tmp_path):
    state: SyncState = StateStore(tmp_path / "s.db")
    ledger: RunLedger = Ledger.for_run(tmp_path / "s.db", "dag", "run", "task")
    assert _members(SyncState) - set(dir(state)) == set()
    assert _members(RunLedger) - set(dir(ledger)) == set()
    assert {"reject", "flush", "counts", "key", "get_hashes", "transaction"} <= _members(RunLedger) | _members(
        SyncState
    )
    state.close()
    ledger.close()


def test_a_sync_works_the_store_through_the_ports(tmp_path):
    state: SyncState = StateStore(tmp_path / "s.db")
    with state.transaction():
        state.set_hashes(CIO_TO_BREVO, [("c1", "h1")])
    assert state.get_hashes(CIO_TO_BREVO, ["c1", "c2"]) == {"c1": "h1"}
    sink: RejectSink = Ledger.for_run(tmp_path / "s.db", "dag", "run")
    sink.reject(record_id="c2", reason="invalid_email", message="bad", stage="map")
    ledger: RunLedger = sink  # type: ignore[assignment]  # a RejectSink is not always a whole ledger
    assert ledger.flush() == 1 and ledger.counts == {"invalid_email": 1}
    state.close()
    ledger.close()
