"""The segment mirror's Brevo adapter (``adapters/segments.py``) over a mocked API (requests-mock, hook level)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.hooks._base import RetryPolicy
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.sync.segments.ports import ListTarget

BASE = "https://api.brevo.test/v3"


@pytest.fixture
def slotted(airflow_conn: Any, tmp_path: Path) -> Any:
    from airflow_provider_customerio.store.sync_store import SyncStore
    from airflow_provider_customerio.sync.import_slots import ImportSlots

    airflow_conn("brevo_t", conn_type="brevo", host=BASE, password="k")
    hook = BrevoHook("brevo_t", retry_policy=RetryPolicy(max_attempts=2, backoff_base=0), rate_limit=0)
    hook._sleep = lambda s: None
    table = SyncStore.at(tmp_path / "store.db").import_slots()
    return hook, table, lambda holder: ImportSlots(table, "brevo:t", holder)


def test_a_segment_import_holds_the_slot_until_its_process_ended(slotted: Any, requests_mock: Any) -> None:
    from airflow_provider_customerio.adapters.segments import BrevoListTarget

    hook, table, slots = slotted
    requests_mock.post(f"{BASE}/contacts/import", status_code=202, json={"processId": 9})
    held: list[list[str | None]] = []

    def process(request: Any, context: Any) -> dict[str, Any]:
        held.append([h.process_id for h in table.in_flight("brevo:t", now=0)])
        return {"id": 9, "status": "processing" if len(held) < 2 else "completed"}

    requests_mock.get(f"{BASE}/processes/9", json=process)
    target = BrevoListTarget(hook, timeout=60, check_interval=0, slots=slots("run S"))
    assert target.wait_import(target.start_import([{"email": "a@b.co"}], 12)).succeeded
    assert held == [["9"], ["9"]]  # in flight: the slot was bound to process 9 while it ran
    assert table.in_flight("brevo:t", now=0) == []  # and freed once it ended


def test_the_list_target_is_the_mirror_port_and_reports_a_completed_import_as_succeeded(
    slotted: Any, requests_mock: Any
) -> None:
    from airflow_provider_customerio.adapters.segments import BrevoListTarget

    hook, _table, _slots = slotted
    target: ListTarget = BrevoListTarget(hook, timeout=60, check_interval=0)  # mypy checks the port
    requests_mock.post(f"{BASE}/contacts/import", status_code=202, json={"processId": 5})
    requests_mock.get(
        f"{BASE}/processes/5", json={"id": 5, "status": "completed", "info": {"import": {"invalid_emails": 2}}}
    )
    state = target.wait_import(target.start_import([{"email": "a@b.co"}], 12))
    assert (state.succeeded, state.status, dict(state.report.counts)) == (True, "completed", {"invalid_emails": 2})
