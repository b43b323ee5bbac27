"""The forward run's lifecycle (:mod:`airflow_provider_customerio.sync.objects.forward`): run, wait, finish, resume."""

from __future__ import annotations

import json

import pytest

from airflow_provider_customerio.sync.processes import BrevoProcessTimeout
from tests.unit.sync.objects.fakes import Env


def test_first_sync_writes_objects_and_links_people(env: Env) -> None:
    result = env.run()
    assert result["created"] == 3 and result["read"] == 3 and result["rejected"] == 0
    assert result["links_added"] == 6 and result["links_removed"] == 0
    assert env.brevo.records["companies"]["acme1"] == {"name": "Acme 1", "plan": "pro", "employees": "11"}
    assert env.brevo.links["companies"]["acme2"] == {"id-p2a", "id-p2b"}
    assert len(env.brevo.upserts) == 1  # three objects fit in one call


def test_rerun_is_idempotent_and_writes_nothing(env: Env) -> None:
    def snapshot() -> tuple[str, dict[str, list[str]]]:
        links = {k: sorted(v) for k, v in env.brevo.links["companies"].items()}
        return json.dumps(env.brevo.records, sort_keys=True), links

    env.run()
    before = snapshot()
    result = env.run()
    assert result["unchanged"] == 3 and result["created"] == 0 and result["updated"] == 0
    assert len(env.brevo.upserts) == 1
    assert snapshot() == before


def test_timeout_keeps_records_pending_and_the_retry_resumes_waiting(env: Env) -> None:
    env.brevo.finish_processes = False
    sync = env.sync("r1")
    sync.run()
    with pytest.raises(BrevoProcessTimeout, match="re-run the task"):
        sync.wait(timeout=5, delays=[1.0] * 100)
    env.brevo.finish_processes = True
    result = env.run("r1")
    assert len(env.brevo.upserts) == 1  # nothing sent twice
    assert result["links_added"] == 6
    assert env.brevo.records["companies"]["acme0"]["name"] == "Acme 0"


def test_dry_run_writes_nothing(env: Env) -> None:
    sync = env.sync()
    sync.run(dry_run=True)
    result = sync.finish()
    assert result["dry_run"] is True and result["created"] == 3
    assert env.brevo.upserts == []
    assert result["plan"]["creates"] == 3 and result["plan"]["links"] == 6 and result["plan"]["deletes"] == 0
