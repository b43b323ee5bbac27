"""The shared state of a people run (sync/people/run.py): its checkpoint, kept or started afresh."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.people.ports import PeopleSyncError


def test_a_checkpoint_of_the_same_mode_is_resumed_with_its_counters(env):
    make, src, sink, state, clock = env
    first = make("r")
    first._attach(mode="full", dry_run=False)
    first.summary.read = 7
    first._save(step="stage", offset=3)
    again = make("r")
    again._attach(mode="full", dry_run=False)
    assert (again.step, again.summary.read, again._checkpoint["offset"]) == ("stage", 7, 3)


@pytest.mark.parametrize(("mode", "dry_run"), [("incremental", False), ("full", True)])
def test_a_checkpoint_of_another_mode_or_dry_run_is_dropped(env, mode, dry_run):
    make, src, sink, state, clock = env
    first = make("r")
    first._attach(mode="full", dry_run=False)
    first.summary.read = 7
    first._save(step="stage", offset=3)
    other = make("r")
    other._attach(mode=mode, dry_run=dry_run)
    assert (other.step, other.summary.read, other.summary.mode) == ("collect", 0, mode)
    assert state.get_checkpoint("dag/r/t") is None  # the old run's staging and checkpoint are cleared


def test_attach_without_a_mode_takes_whatever_checkpoint_exists(env):
    make, src, sink, state, clock = env
    first = make("r")
    first._attach(mode="full", dry_run=True)
    first._save(step="load", offset=0)
    later = make("r")
    later.attach()
    assert later.step == "load" and later.summary.dry_run


def test_extract_needs_a_source(env):
    make, src, sink, state, clock = env
    sync = make("r")
    sync.source = None
    with pytest.raises(PeopleSyncError, match="needs a PeopleSource"):
        sync.extract(mode="full", window=None)
