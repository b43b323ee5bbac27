"""Brevo import slots in the store (``store/slots.py``): the shared contract, then the table's own behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_customerio.store import SyncStore
from tests import store_contract as contract


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "store.db")


def test_import_slots(store: SyncStore) -> None:
    contract.check_import_slots(store)
    contract.check_concurrent_import_slot_has_one_winner(store)
