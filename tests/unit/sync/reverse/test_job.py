"""The reverse sync as a job of the sync lifecycle: the run's params, the ledger offset of a resumed run, and the
job's steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.reverse.job import (
    ReverseJob,
    check_conflict_policy,
    check_mode,
    disabled_by,
    ledger_offset,
)
from airflow_provider_customerio.sync.reverse.ports import ReverseSyncError
from airflow_provider_customerio.sync.reverse.run import ReverseSync
from tests.unit.sync.reverse.fakes import FakeBrevo, FakeCIO, contact, make_config


def test_mode_and_policy_params_are_checked_naming_the_choices() -> None:
    assert [check_mode(v) for v in (None, "", " Full ", "incremental")] == [
        "incremental",
        "incremental",
        "full",
        "incremental",
    ]
    with pytest.raises(ReverseSyncError, match="mode `sometimes` is unknown.*incremental, full"):
        check_mode("sometimes")
    assert [check_conflict_policy(v) for v in (None, "", "brevo_wins ")] == [None, None, "brevo_wins"]
    with pytest.raises(ReverseSyncError, match="conflict_policy `latest` is unknown.*newest_wins"):
        check_conflict_policy("latest")


@pytest.mark.parametrize(
    ("yaml_flags", "switch"),
    [
        ({}, None),
        ({"enabled": False}, "connectors.customerio.enabled"),
        ({"sync": {"people": False}}, "connectors.customerio.sync.people"),
        ({"reverse": {"enabled": False}}, "connectors.customerio.reverse.enabled"),
    ],
)
def test_the_switch_that_turns_the_reverse_sync_off_is_named(yaml_flags: dict[str, Any], switch: str | None) -> None:
    config = parse_config({"connectors": {"customerio": {"reverse": {"enabled": True}, **yaml_flags}}}).customerio
    assert disabled_by(config) == switch


def test_the_job_runs_the_sync_once_and_finishes_with_its_summary(state: StateStore, tmp_path: Path) -> None:
    closed: list[bool] = []
    with Ledger(tmp_path / "l.jsonl") as ledger:
        sync = ReverseSync(
            config=make_config(),
            source=FakeBrevo([contact(1, email="a@x.io", PLAN_NAME="pro")]),
            writer=FakeCIO(),
            state=state,
            ledger=ledger,
            run_key="d/r/t",
        )
        job = ReverseJob(sync, window=None, dry_run=False, api_calls=lambda: 7, on_close=[lambda: closed.append(True)])
        assert list(job.run()) == [] and list(job.complete([])) == []
        out = job.finish()
        job.close()
    assert out["mode"] == "full" and out["updated"] == 1 and out["api_calls"] == 7 and closed == [True]
    assert ledger_offset(state, "d/r/t", dry_run=False) is None  # a finished run leaves no checkpoint


def test_a_resumed_run_cuts_its_ledger_back_to_the_checkpoint(state: StateStore) -> None:
    state.save_checkpoint("d/r/t", {"mode": "full", "position": 3, "ledger_offset": 2})
    assert ledger_offset(state, "d/r/t", dry_run=False) == 2
    assert ledger_offset(state, "d/r/t", dry_run=True) is None  # a dry run never truncates
