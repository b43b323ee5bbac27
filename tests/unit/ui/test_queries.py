"""What the page makes of a run summary (``ui/queries.py``): figures by name or alias, windows, API calls."""

from __future__ import annotations

from airflow_provider_customerio.store.status import StatusQueries
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.ui.queries import CAPABILITIES, RunRow, recent_runs


def run(summary: dict) -> RunRow:
    return RunRow("people", "d", "r", "t", 1.0, summary)


def test_figures_by_name_then_alias_and_only_numbers():
    row = run({"read": 5, "added": 2, "deleted": True, "updated": [1, 2, 3], "unchanged": "x"})
    assert row.figure("read") == 5
    assert row.figure("created") == 2  # the segment mirror's "added"
    assert row.figure("deleted") is None  # a flag is not a figure
    assert row.figure("updated") == 3  # a list counts its items
    assert row.figure("unchanged") is None
    assert row.number("missing", "read") == 5


def test_windows_and_api_calls_and_duration():
    assert run({"window": {"start": "a", "end": None}}).window == "a → now"
    assert run({"window": {"start": None, "end": None}, "mode": "full"}).window == "full"
    assert run({"api_calls": {"brevo": 3, "bad": "x"}}).api_calls == {"brevo": 3}
    assert run({"api_calls": 7}).api_calls == {"all": 7}
    assert run({"duration_seconds": 2}).duration_s == 2.0 and run({}).duration_s is None


def test_recent_runs_are_run_rows_of_every_capability(tmp_path):
    st = SyncStore.at(tmp_path / "s.db")
    st.record_summary("people", "d", "r1", "t", {"read": 4})
    got = recent_runs(StatusQueries(st.engine), None)
    assert list(got)[: len(CAPABILITIES)] == list(CAPABILITIES)
    assert [(r.run_id, r.figure("read")) for r in got["people"]] == [("r1", 4)]
