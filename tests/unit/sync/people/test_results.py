"""Finished import processes (sync/people/results.py): commit, ledger the refused rows, resubmit the failed."""

from __future__ import annotations

from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.mapping import Person
from airflow_provider_customerio.sync.people.sync import run_blocking
from tests.unit.sync.people.fakes import CFG_RAW, people


def test_failed_process_is_resubmitted_then_ledgered(env):
    make, src, sink, state, clock = env
    src.people = {p.cio_id: p for p in people(5)}
    sink.fail_next_processes = 1
    s = run_blocking(make(), mode="full", window=None)
    assert s.imports == 2 and len(sink.contacts) == 5
    sink.fail_next_processes = 99
    old_hash = state.get_hash(CIO_TO_BREVO, "c00001")
    src.people["c00001"] = Person("c00001", "1", "p1@example.com", {"first_name": "new"})
    cfg = parse_config({"connectors": {"customerio": {**CFG_RAW, "people": {"reject_threshold": 1}}}}).customerio
    s = run_blocking(make(cfg=cfg), mode="full", window=None)
    assert s.imports == 3 and s.rejects_by_reason == {"import_failed": 1}
    assert state.get_hash(CIO_TO_BREVO, "c00001") == old_hash  # not committed: the next run retries it
    sink.fail_next_processes = 0
    s = run_blocking(make(cfg=cfg), mode="full", window=None)  # retried by the next run
    assert s.updated == 1 and sink.contacts["p1@example.com"]["attributes"]["FIRSTNAME"] == "new"
