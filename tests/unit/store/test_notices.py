"""Brevo process-completion notices in the store: tokens, binding, first notice wins, digests only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.store.notices import token_digest


def test_a_notice_is_found_by_process_id_once_bound_even_when_it_arrived_first(tmp_path: Path) -> None:
    notices = SyncStore.at(tmp_path / "s.db").notices()
    early, late, silent = notices.issue(), notices.issue(), notices.issue()
    assert len({early, late, silent}) == 3 and all(len(t) >= 40 for t in (early, late, silent))
    assert notices.record(early, b'{"processId": 7, "status": "completed"}')  # before its 202 was handled
    notices.bind(early, 7)
    notices.bind(late, 8)
    notices.bind(silent, 9)
    assert notices.received([7, 8, 9]) == {
        7: {"notified_at": notices.received([7])[7]["notified_at"], "body": {"processId": 7, "status": "completed"}}
    }
    assert notices.record(late, "not json")
    got = notices.received([8, 9])
    assert list(got) == [8] and got[8]["body"] == "not json"


def test_the_first_notice_wins_and_unknown_tokens_are_refused(tmp_path: Path) -> None:
    notices = SyncStore.at(tmp_path / "s.db").notices()
    token = notices.issue()
    notices.bind(token, 3)
    assert notices.record(token, b"first")
    first = notices.received([3])[3]
    assert notices.record(token, b"second")
    assert notices.received([3])[3] == first
    assert not notices.record("x" * 43, b"")
    assert notices.received([]) == {}


def test_the_table_keeps_digests_never_tokens(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    notices = SyncStore.at(path).notices()
    token = notices.issue("import")
    rows = sqlite3.connect(path).execute("SELECT token_digest, kind FROM process_notice").fetchall()
    assert rows == [(token_digest(token), "import")]
    assert token not in path.read_bytes().decode("latin-1")


def test_prune_removes_old_notices(tmp_path: Path) -> None:
    notices = SyncStore.at(tmp_path / "s.db").notices()
    notices.issue()
    assert notices.prune(older_than_s=3600) == 0
    assert notices.prune(older_than_s=-60) == 1  # "issued before a minute from now": every row
