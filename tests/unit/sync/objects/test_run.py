"""The shared state of a forward run (:mod:`airflow_provider_customerio.sync.objects.run`): its limits."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.objects.ports import ObjectSyncError
from airflow_provider_customerio.sync.objects.run import UPSERT_OVERHEAD_BYTES, verified_keys_watermark
from tests.unit.sync.objects.fakes import Env


def test_configured_smaller_bounds_are_honoured(env: Env) -> None:
    env.run(max_records=2)
    assert [len(r) for _t, r in env.brevo.upserts] == [2, 1]
    with pytest.raises(ObjectSyncError, match="max_records must be between 1 and 1000"):
        env.sync(max_records=1001)
    with pytest.raises(ObjectSyncError, match="max_bytes"):
        env.sync(max_bytes=UPSERT_OVERHEAD_BYTES)


def test_verified_keys_are_kept_per_brevo_type_across_runs(env: Env) -> None:
    first = env.sync()
    assert first.verified_keys("companies") == []
    first.set_verified_keys("companies", ["plan", "name", "plan"])
    assert env.sync().verified_keys("companies") == ["name", "plan"]  # another run, the same store
    assert env.sync().verified_keys("accounts") == []
    first.state.set_watermark(verified_keys_watermark("companies"), "not json")
    assert first.verified_keys("companies") == []  # a damaged mark: every key is checked again
