"""One mirror run as a job of the sync lifecycle (``sync/segments/job.py``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.lifecycle import SyncJob
from airflow_provider_customerio.sync.segments.job import MirrorJob
from airflow_provider_customerio.sync.segments.mirror import SegmentMirror
from airflow_provider_customerio.sync.segments.model import MirrorRequest
from tests.unit.sync.segments._support import FakeBrevo, FakeCustomerIO, make_mirror


class Ledger:
    def __init__(self, opened: list[bool], fresh: bool) -> None:
        opened.append(fresh)
        self.rows: list[dict[str, Any]] = []
        self.key, self.location, self.closed = "ledger-key", "ledger", False

    @property
    def total(self) -> int:
        return len(self.rows)

    def reject(self, **row: Any) -> None:
        self.rows.append(row)

    def close(self) -> None:
        self.closed = True


def test_the_job_resumes_in_a_new_instance_with_its_calls_and_ledger(cio: FakeCustomerIO, brevo: FakeBrevo) -> None:
    cio.segment(42, [cio.person(1), {"cio_id": "c9", "id": None, "email": None}])  # c9: no identifier, ledgered
    state, opened, calls = StateStore(":memory:"), [], iter([3, 4, 5])

    def job() -> MirrorJob:
        def mirror(reject: Any) -> SegmentMirror:
            m = make_mirror(cio, brevo)
            m.reject, m.state, m.run_key = reject, state, "dag/run/mirror"
            return m

        return MirrorJob(
            mirror,
            MirrorRequest(42, 13),
            open_ledger=lambda fresh: Ledger(opened, fresh),
            api_calls=lambda: next(calls),
        )

    first: SyncJob = job()  # mypy checks the lifecycle Protocol
    assert first.run() == ["1"]
    first.save()  # the task defers: 3 calls so far
    first.close()
    resumed = job()
    resumed.resume()
    assert resumed.complete([brevo.wait_import("1")]) == []
    summary = resumed.finish()
    assert (summary["added"], summary["rejected"], summary["api_calls"]) == (1, 1, 3 + 4)
    assert opened == [True, False]  # a fresh run starts its ledger over, a resumed one appends
