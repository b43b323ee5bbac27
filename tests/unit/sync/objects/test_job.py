"""The object syncs in the lifecycle's steps (:mod:`airflow_provider_customerio.sync.objects.job`): what the
operators' base drives, and the ``object_type_ids`` argument."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.sync.lifecycle import SyncJob
from airflow_provider_customerio.sync.objects.job import ObjectsJob, ReverseObjectsJob, type_ids_argument
from airflow_provider_customerio.sync.objects.ports import BrevoRecord
from airflow_provider_customerio.sync.objects.reverse import ReverseObjectSync
from tests.unit.sync.objects.fakes import Env, FakeRecords, FakeTrack


def test_object_type_ids_come_as_lists_or_comma_separated_text() -> None:
    assert type_ids_argument(None) is None and type_ids_argument("") is None and type_ids_argument([]) is None
    assert type_ids_argument("1, 2") == ["1", "2"] and type_ids_argument(3) == ["3"]
    assert type_ids_argument([" 1", "2"]) == ["1", "2"]
    with pytest.raises(ValueError, match=r"object_type_ids .* got \['companies'\]"):
        type_ids_argument("1,companies")


def test_the_job_returns_the_upserts_to_wait_for_and_resumes_in_a_new_job(env: Env) -> None:
    calls = iter([3, 4])
    job: SyncJob = ObjectsJob(env.sync("r1"), dry_run=False, api_calls=lambda: next(calls))
    pending = list(job.run())
    assert pending == ["1"] and env.brevo.records["companies"] == {}
    job.save()  # the task defers
    job.close()
    later = ObjectsJob(env.sync("r1"), dry_run=False, api_calls=lambda: next(calls))  # back from the triggerer
    later.resume()
    assert later.complete([env.brevo.get_process(pid) for pid in pending]) == []
    result = later.finish()
    assert result["created"] == 3 and result["links_added"] == 6
    assert result["api_calls"] == 3 + 4  # counted when it deferred, then at the end
    later.close()


def test_a_dry_run_job_starts_nothing(env: Env) -> None:
    job = ObjectsJob(env.sync(), dry_run=True, api_calls=lambda: 0)
    assert list(job.run()) == [] and job.finish()["dry_run"] is True and env.brevo.upserts == []


def test_the_reverse_job_waits_for_nothing_and_counts_the_calls(env: Env) -> None:
    ledger = env.sync().ledger
    sync = ReverseObjectSync(
        config=env.config,
        source=FakeRecords([BrevoRecord(7, "crm-7", {"name": "A"})], {}),
        writer=FakeTrack(),
        state=env.sync().state,
        objects=env.sync().objects,
        ledger=ledger,
    )
    job: SyncJob = ReverseObjectsJob(sync, dry_run=False, api_calls=lambda: 2)
    with pytest.raises(RuntimeError, match="before run"):
        job.finish()
    assert list(job.run()) == [] and list(job.complete([])) == []
    job.resume()
    job.save()
    result: dict[str, Any] = dict(job.finish())
    assert result["created"] == 1 and result["api_calls"] == 2
    job.close()
