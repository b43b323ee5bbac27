"""The sync store on SQLite (``store/__init__.py``): the shared contract of ``SyncStore`` (state, ledger, objects,
leases and their fencing), and the rejects export of ``python -m airflow_provider_customerio.store``."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_customerio.store.sync_store import SyncStore
from tests import store_contract as contract


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "store.db")


def test_state_roundtrip(store: SyncStore) -> None:
    contract.check_state_roundtrip(store)


def test_ledger_and_objects(store: SyncStore) -> None:
    contract.check_ledger_and_objects(store)


def test_leases(store: SyncStore) -> None:
    contract.check_leases(store)


def test_concurrent_lease_has_one_winner(store: SyncStore) -> None:
    contract.check_concurrent_lease_has_one_winner(store)


def test_a_retry_takes_the_lease_over_and_the_stale_try_commits_nothing(store: SyncStore) -> None:
    contract.check_fencing(store)


def test_a_lease_fences_the_writes_to_its_own_store_only(store: SyncStore, tmp_path: Path) -> None:
    contract.check_fencing_is_per_store(store, SyncStore.at(tmp_path / "other.db"))


def test_lease_of_a_dead_holder_lapses_and_a_live_one_is_renewed(store: SyncStore) -> None:
    contract.check_lease_of_a_dead_holder_lapses(store)
    contract.check_a_held_lease_is_renewed(store)


def test_export_rejects_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_provider_customerio.store.__main__ import main

    store = SyncStore.at(tmp_path / "s.db")
    with store.ledger("dag", "run1", "t") as led:
        led.reject(record_id="c1", reason="invalid_email", message="m", stage="map")
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "--conn-id",
                "none_here",
                "--sqlite",
                str(tmp_path / "s.db"),
                "export-rejects",
                "--run-id",
                "run1",
                "--format",
                "csv",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "1 rejected records written" in capsys.readouterr().out
    assert out.read_text().splitlines()[1].split(",")[4] == "c1"


@pytest.mark.parametrize("path", ["sqlite", "portable"])
def test_field_digests_and_own_writes_merge_per_field_in_one_row_per_person(
    store: SyncStore, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's ``json_patch`` and ``min``, and the read-then-write a database without a known dialect takes."""
    from airflow_provider_customerio.store import _sql

    if path == "portable":
        monkeypatch.setattr(_sql, "_kind", lambda conn: "other")
    contract.check_per_person_field_state(store)
