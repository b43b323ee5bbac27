"""Brevo's hourly budget per account in the store (``store/budget.py``): the shared contract on SQLite, then two
processes spending one account's budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_customerio.store.budget import RequestBudgetTable
from airflow_provider_customerio.store.sync_store import SyncStore
from tests import store_contract as contract
from tests.conftest import REPO_ROOT


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "store.db")


def test_request_budget(store: SyncStore) -> None:
    contract.check_request_budget(store)


def test_reservers_on_separate_engines_never_exceed_the_budget(tmp_path: Path) -> None:
    SyncStore.at(tmp_path / "store.db")  # migrated once
    contract.check_concurrent_request_budget(lambda: SyncStore.at(tmp_path / "store.db"))


_CHILD = """
import json, sys
from airflow_provider_customerio.store.sync_store import SyncStore
budget = SyncStore.at(sys.argv[1]).request_budget()
times = [budget.reserve("brevo:two-processes", limit=10, window_s=3600, now=1000.0) for _ in range(15)]
print("RESERVED " + json.dumps(times))
"""


def test_two_processes_spend_one_accounts_budget(tmp_path: Path) -> None:
    """Two processes (two tasks on two machines, one store) reserve 15 calls each against 10 an hour: 10 go now, 10
    an hour later, 10 two hours later, between them, whoever reserved first."""
    path = tmp_path / "store.db"
    SyncStore.at(path)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(2)
    ]
    times: list[float] = []
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0, out
        (line,) = [li for li in out.splitlines() if li.startswith("RESERVED ")]
        times += json.loads(line.removeprefix("RESERVED "))
    assert sorted(times) == [1000.0] * 10 + [4600.0] * 10 + [8200.0] * 10
    assert contract.max_in_any_window(times, 3600) == 10


def test_a_smaller_limit_uses_only_its_own_slots(store: SyncStore) -> None:
    budget = RequestBudgetTable(store.engine)
    assert [budget.reserve("brevo:a", limit=4, window_s=60, now=0) for _ in range(4)] == [0, 0, 0, 0]
    # the plan went down to 2 an hour: slots 2 and 3 are not used any more
    assert [budget.reserve("brevo:a", limit=2, window_s=60, now=1) for _ in range(3)] == [60, 60, 120]


def test_a_lost_race_reads_again(store: SyncStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reserver whose slot was moved by another between its read and its update tries again (and wins then)."""
    budget = store.request_budget()
    budget.reserve("brevo:a", limit=1, window_s=60, now=0)
    real = budget._try_reserve
    outcomes: list[float | None] = []

    def racing(account: str, limit: int, window_s: float, now: float) -> float | None:
        if not outcomes:  # first attempt: another process moves the slot first
            outcomes.append(None)
            RequestBudgetTable(store.engine)._try_reserve(account, limit, window_s, now)
            return None
        result = real(account, limit, window_s, now)
        outcomes.append(result)
        return result

    monkeypatch.setattr(budget, "_try_reserve", racing)
    assert budget.reserve("brevo:a", limit=1, window_s=60, now=1) == 120  # after the other's call at 60
    assert outcomes == [None, 120]
