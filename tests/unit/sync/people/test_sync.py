"""PeopleSync (sync/people/sync.py): whole runs, in one task or two, against in-memory fakes of the two ports."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.sync.mapping import Person
from airflow_provider_customerio.sync.people.sync import run_blocking
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout
from airflow_provider_customerio.sync.summary import RejectThresholdExceeded
from tests.unit.sync.people.fakes import people


def test_full_sync_imports_everyone_in_byte_bounded_batches(env):
    make, src, sink, state, clock = env
    s = run_blocking(make(), mode="full", window=None)
    assert len(sink.contacts) == 250 and s.read == 250 and s.created == 250 and s.updated == 0
    assert len(sink.imports) == s.imports > 1
    assert all(i["lists"] == [12] for i in sink.imports)
    c = sink.contacts["p7@example.com"]["attributes"]
    assert c == {"CIO_ID": "7", "FIRSTNAME": "P7", "SIGNUP_DATE": "2017-03-08", "MONTHLY_REVENUE": 7.0, "EXT_ID": "7"}
    assert state.count_hashes(CIO_TO_BREVO) == 250 and state.get_identity("c00007").ext_id == "7"
    assert s.to_xcom()["people_count"] == 250 and s.to_xcom()["lastSync"]
    assert clock.sleeps and clock.sleeps[0] == 2.0  # waited before the first poll


def test_second_full_sync_of_unchanged_data_writes_nothing(env):
    make, src, sink, state, clock = env
    run_blocking(make(), mode="full", window=None)
    n_imports, polls = len(sink.imports), sink.polls
    s = run_blocking(make(), mode="full", window=None)
    assert len(sink.imports) == n_imports and sink.polls == polls
    assert s.unchanged == 250 and s.created == s.updated == s.imports == 0 and sink.deleted == []


def test_extract_and_load_as_two_tasks(env):
    make, src, sink, state, clock = env
    first = make("split")
    first.source = src
    summary = first.extract(mode="full", window=None)
    assert summary.read == 250 and sink.imports == []
    second = make("split")
    second.source = None  # the Brevo task needs no Customer.io port
    pending = second.load()
    assert pending and len(sink.imports) == len(pending)
    second.wait(timeout=600)
    assert second.finish().created == 250


def test_reject_threshold_fails_the_run_after_writing_the_ledger(env):
    make, src, sink, state, clock = env
    src.people = {f"x{i}": Person(f"x{i}", attributes={}) for i in range(3)} | {p.cio_id: p for p in people(10)}
    with pytest.raises(RejectThresholdExceeded, match="3 of 13 records rejected"):
        run_blocking(make(), mode="full", window=None)
    assert len(sink.contacts) == 10


def test_timeout_keeps_rows_pending_and_rerun_resumes_waiting(env):
    make, src, sink, state, clock = env
    src.people = {p.cio_id: p for p in people(5)}
    sink.never_finish = True
    with pytest.raises(BrevoProcessTimeout, match="re-run the task"):
        run_blocking(make("slow"), mode="full", window=None, timeout=10)
    sink.never_finish = False
    s = run_blocking(make("slow"), mode="full", window=None)
    assert len(sink.imports) == 1 and s.created == 5


def test_dry_run_writes_nothing_and_stores_nothing(env):
    make, src, sink, state, clock = env
    s = run_blocking(make(), mode="full", window=None, dry_run=True)
    assert sink.imports == [] and state.count_hashes(CIO_TO_BREVO) == 0 and s.updated == 250 and s.dry_run
    plan = s.to_xcom()["plan"]  # the plan: every person is new to Brevo, nothing to delete or move between lists
    assert plan["creates"] == 250 and (plan["updates"], plan["deletes"], plan["list_adds"]) == (0, 0, 0)
    assert len(plan["creates_items"]) == 50  # examples (cio ids), capped
