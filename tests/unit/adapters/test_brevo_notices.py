"""Brevo imports that end with a notice (``adapters/brevo_notices.py``): the notifyUrl per import, the notices per
wait, lost answers adopted instead of sent twice (a real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_customerio.adapters.brevo_notices import (
    DEFAULT_NOTICE_DEADLINE_S,
    BrevoImportNotices,
    request_digest,
    start_import,
    wait_options,
)
from airflow_provider_customerio.exceptions import ConfigError, ServerError, ValidationError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.store.sync_store import SyncStore

BASE = "https://airflow.example/customerio"


@pytest.fixture
def store(tmp_path: Path) -> SyncStore:
    return SyncStore.at(tmp_path / "s.db")


@pytest.fixture
def notices(store: SyncStore) -> BrevoImportNotices:
    return BrevoImportNotices(BASE, store.notices(), deadline_s=30.0)


def test_without_notices_an_import_is_sent_without_a_notify_url() -> None:
    sent: list[str | None] = []
    assert start_import(lambda url: sent.append(url) or 7, None) == 7
    assert sent == [None] and wait_options(None) == {}


def test_an_import_carries_a_fresh_token_bound_to_its_process(notices: BrevoImportNotices) -> None:
    urls: list[str | None] = []
    assert start_import(lambda url: urls.append(url) or 41, notices) == 41
    assert start_import(lambda url: urls.append(url) or 42, notices) == 42
    assert all(u and u.startswith(BASE + "/brevo/processes/") for u in urls) and urls[0] != urls[1]
    token = str(urls[0]).rsplit("/", 1)[1]
    assert notices.notices.record(token, b'{"processId": 41}')
    assert set(notices([41, 42])) == {41}  # only the notified one
    assert wait_options(notices) == {"notices": notices, "notice_deadline_s": 30.0}


def _fail(exc: Exception, urls: list[str | None]):
    def send(url: str | None) -> int:
        urls.append(url)
        raise exc

    return send


def test_a_refused_import_forgets_its_token_but_a_lost_answer_keeps_it(notices: BrevoImportNotices) -> None:
    urls: list[str | None] = []
    with pytest.raises(ValidationError):
        notices.start(_fail(ValidationError("bad", status=400), urls))
    assert not notices.notices.record(str(urls[-1]).rsplit("/", 1)[1])  # forgotten: no such token
    with pytest.raises(ServerError):
        notices.start(_fail(ServerError("down", status=502), urls))
    assert notices.notices.record(str(urls[-1]).rsplit("/", 1)[1])  # kept for a retry to adopt


def test_a_retry_adopts_the_process_of_its_lost_answer_instead_of_sending_again(
    notices: BrevoImportNotices,
) -> None:
    digest = request_digest([{"email": "a@example.com"}], listIds=[3])
    urls: list[str | None] = []
    with pytest.raises(ServerError):
        notices.start(_fail(ServerError("timeout", status=0), urls), digest=digest)
    notices.notices.record(str(urls[-1]).rsplit("/", 1)[1], b'{"processId": 88}')  # Brevo applied it
    sent: list[str | None] = []
    assert notices.start(lambda url: sent.append(url) or 99, digest=digest) == 88
    assert sent == []  # nothing sent twice
    assert notices.start(lambda url: sent.append(url) or 99, digest=digest) == 99  # adopted once only


def test_the_digest_is_what_the_request_asks() -> None:
    rows = [{"email": "a@example.com", "PLAN": "pro"}]
    assert request_digest(rows, listIds=[3]) == request_digest([{"PLAN": "pro", "email": "a@example.com"}], listIds=[3])
    assert request_digest(rows, listIds=[3]) != request_digest(rows, listIds=[4])
    assert len(request_digest(rows)) == 64


def test_notices_are_on_only_with_the_connection_notify_url(airflow_conn, store: SyncStore) -> None:
    airflow_conn("brevo_default", conn_type="brevo", password="k")
    assert BrevoImportNotices.for_hook(BrevoHook(rate_limit=0), store) is None
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"notify_url": BASE, "notify_deadline": ""})
    on = BrevoImportNotices.for_hook(BrevoHook(rate_limit=0), lambda: store)
    assert on is not None and (on.base_url, on.deadline_s) == (BASE, DEFAULT_NOTICE_DEADLINE_S)
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"notify_url": BASE, "notify_deadline": "x"})
    with pytest.raises(ConfigError, match=r"'brevo_default': extra field 'notify_deadline' must be .* got 'x'"):
        BrevoImportNotices.for_hook(BrevoHook(rate_limit=0), store)
