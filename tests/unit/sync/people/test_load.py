"""The load steps (sync/people/load.py): imports packed by bytes, deletes by ``delete_policy``, resumable."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.people.ports import Change
from airflow_provider_customerio.sync.people.sync import run_blocking
from tests.unit.sync.people.fakes import CFG_RAW, WINDOW


@pytest.mark.parametrize(
    "policy, gone, blacklisted", [("delete", True, False), ("blacklist", False, True), ("ignore", False, False)]
)
def test_delete_policy(env, policy, gone, blacklisted):
    make, src, sink, state, clock = env
    cfg = parse_config({"connectors": {"customerio": {**CFG_RAW, "people": {"delete_policy": policy}}}}).customerio
    run_blocking(make(cfg=cfg), mode="full", window=None)
    src.changes = [Change("c00004", "delete", int(WINDOW.start.timestamp()))]
    run_blocking(make(cfg=cfg), mode="incremental", window=WINDOW)
    assert ("p4@example.com" not in sink.contacts) is gone
    assert (not gone and sink.contacts["p4@example.com"]["blacklisted"]) is blacklisted


def test_killed_load_resumes_from_last_committed_batch(env):
    make, src, sink, state, clock = env
    real_start = sink.start_import

    def dying_start(rows, **kw):
        if len(sink.imports) == 2:
            raise ConnectionError("killed")
        return real_start(rows, **kw)

    sink.start_import = dying_start
    with pytest.raises(ConnectionError):
        make("crash2").run(mode="full", window=None)
    assert len(sink.imports) == 2
    sink.start_import = real_start
    sync = make("crash2")
    sync.load()  # the load task retried: extraction is not repeated
    sync.wait(timeout=600)
    s = sync.finish()
    rows = [r["email"] for i in sink.imports for r in i["rows"]]
    assert len(rows) == len(set(rows)) == 250 and s.created == 250 and src.full_calls == 1
