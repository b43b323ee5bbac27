"""Lease fencing between two real processes: a try stopped (SIGSTOP) mid-sync, its lease taken over by the next try,
commits nothing once it is resumed (SIGCONT); the end state is the second try's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from airflow_provider_customerio.store.ledger import read_ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.store.sync_store import SyncStore
from tests.airflow_processes import wait_for

REPO = Path(__file__).resolve().parents[3]


def _try(db: Path, work: Path, try_number: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "tests.unit.store.fencing_child", str(db), str(work), str(try_number)]
    return subprocess.Popen(args, cwd=REPO, env=env)


def test_a_stalled_try_whose_lease_was_taken_over_commits_nothing_when_it_wakes(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    SyncStore.at(db)  # migrated once, before the two tries
    first = _try(db, tmp_path, 1)
    try:
        wait_for(lambda: (tmp_path / "try1.ready").exists() or first.poll() is not None, 60, "try 1's first batch")
        assert first.poll() is None, "try 1 ended before its first batch"
        os.kill(first.pid, signal.SIGSTOP)  # stalled mid-sync, holding its lease (3 s ttl, not renewed now)
        # the retry: takes the lease over at once (no wait for the stalled try's lease to expire) and syncs it all
        (tmp_path / "try2.go").touch()
        second = _try(db, tmp_path, 2)
        assert second.wait(timeout=120) == 0
        # the stalled try wakes up and carries on: the store refuses its every commit
        os.kill(first.pid, signal.SIGCONT)
        (tmp_path / "try1.go").touch()
        assert first.wait(timeout=120) == 3
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGCONT)
            first.kill()
    lost = (tmp_path / "try1.lost").read_text()
    assert "'people:sync' was taken over" in lost and "task load try 1" in lost and "task load try 2" not in lost
    store = SyncStore.at(db)
    state = store.state()
    assert state.get_hashes(CIO_TO_BREVO, ["p1", "p2", "p3", "p4"]) == {f"p{i}": "try2" for i in range(1, 5)}
    assert state.get_checkpoint("d/R/load") == {"batches": 2, "by": "try2"}
    assert [r["message"] for r in read_ledger(store.engine, "d/R/load")] == ["rejected by try2"]
    assert [s["summary"]["by"] for s in store.summaries("people")] == ["try2"]
