"""Brevo process-completion notices in the store: tokens, binding, first notice wins, digests only."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.exceptions import ServerError, ValidationError
from airflow_provider_customerio.store.notices import token_digest
from airflow_provider_customerio.store.sync_store import SyncStore


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


def _notices(tmp_path: Path, monkeypatch: Any) -> Any:
    from airflow_provider_customerio.adapters import brevo_notices

    monkeypatch.setattr(brevo_notices, "LOST_ANSWER_POLL_S", 0.01)
    monkeypatch.setattr(brevo_notices, "LOST_ANSWER_WAIT_S", 0.2)
    return brevo_notices.BrevoImportNotices("https://af.example/customerio", SyncStore.at(tmp_path / "s.db").notices())


def test_an_import_whose_answer_was_lost_is_adopted_by_the_retry_not_sent_again(tmp_path: Path, monkeypatch) -> None:
    from airflow_provider_customerio.adapters.brevo_notices import request_digest

    notices = _notices(tmp_path, monkeypatch)
    rows = [{"email": "a@b.co", "attributes": {"FIRSTNAME": "A"}}]
    digest = request_digest(rows, list_ids=[12], email_blacklist=False)
    sent: list[str | None] = []

    def killed_after_brevo_applied_it(url: str | None) -> int:  # the try dies inside the call: no answer, no bind
        sent.append(url)
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        notices.start(killed_after_brevo_applied_it, digest=digest)
    token = str(sent[0]).rsplit("/", 1)[1]
    assert notices.notices.record(token, b'{"processId": 41, "status": "completed"}')  # Brevo calls back
    retry_sent: list[str | None] = []
    assert notices.start(lambda url: retry_sent.append(url) or 99, digest=digest) == 41
    assert retry_sent == [] and 41 in notices([41])  # adopted, bound: nothing sent again, its notice found
    # a different request is sent; the adopted one is no longer a lost answer
    assert notices.start(lambda url: 42, digest=request_digest(rows, list_ids=[13], email_blacklist=False)) == 42
    assert notices.start(lambda url: 43, digest=digest) == 43


def test_a_lost_answer_is_not_adopted_without_a_notice_naming_its_process(tmp_path: Path, monkeypatch) -> None:
    notices = _notices(tmp_path, monkeypatch)
    urls: list[str | None] = []

    def lost(url: str | None) -> int:
        urls.append(url)
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        notices.start(lost, digest="d1")
    # no notice yet: waited for (bounded), then sent again; the lost one is not waited for a second time
    assert notices.start(lambda url: 7, digest="d1") == 7
    assert notices.notices.lost_answers("d1", since=0) == []
    with pytest.raises(SystemExit):
        notices.start(lost, digest="d2")
    assert notices.notices.record(str(urls[1]).rsplit("/", 1)[1], b"done")  # a body naming no process
    assert notices.start(lambda url: 8, digest="d2") == 8
    # a request Brevo refused is not a lost answer: nothing waits for it
    with pytest.raises(ValidationError):
        notices.start(lambda url: (_ for _ in ()).throw(ValidationError("refused", status=400)), digest="d3")
    assert notices.notices.lost_answers("d3", since=0) == []


def test_an_import_that_timed_out_is_adopted_by_the_retry_not_sent_again(tmp_path: Path, monkeypatch) -> None:
    """The hook gave up on a lost answer (a read timeout: Brevo may have accepted the import): its token stays, so
    the retry adopts the process its notice names instead of starting a second import beside it."""
    notices = _notices(tmp_path, monkeypatch)
    urls: list[str | None] = []

    def timed_out(url: str | None) -> int:
        urls.append(url)
        raise ServerError("No usable response from brevo after 6 attempts (ReadTimeout)", status=0)

    with pytest.raises(ServerError):
        notices.start(timed_out, digest="d1")
    assert notices.notices.record(str(urls[0]).rsplit("/", 1)[1], b'{"processId": 51, "status": "completed"}')
    assert notices.start(lambda url: urls.append(url) or 99, digest="d1") == 51
    assert len(urls) == 1  # nothing sent again
