"""The Brevo adapters over a mocked API (requests-mock, hook level): the account's import slots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.retry import RetryPolicy

BASE = "https://api.brevo.test/v3"


# ------------------------------------------------------------------------------------------ import slots


@pytest.fixture
def slotted(airflow_conn: Any, tmp_path: Path) -> Any:
    from airflow_provider_customerio.store import SyncStore
    from airflow_provider_customerio.sync.import_slots import ImportSlots

    airflow_conn("brevo_t", conn_type="brevo", host=BASE, password="k")
    hook = BrevoHook("brevo_t", retry_policy=RetryPolicy(max_attempts=2, backoff_base=0), rate_limit=0)
    hook._sleep = lambda s: None
    table = SyncStore.at(tmp_path / "store.db").import_slots()
    return hook, table, lambda holder: ImportSlots(table, "brevo:t", holder)


def test_a_segment_import_holds_the_slot_until_its_process_ended(slotted: Any, requests_mock: Any) -> None:
    from airflow_provider_customerio.adapters.brevo import BrevoListTarget

    hook, table, slots = slotted
    requests_mock.post(f"{BASE}/contacts/import", status_code=202, json={"processId": 9})
    held: list[list[str | None]] = []

    def process(request: Any, context: Any) -> dict[str, Any]:
        held.append([h.process_id for h in table.in_flight("brevo:t", now=0)])
        return {"id": 9, "status": "processing" if len(held) < 2 else "completed"}

    requests_mock.get(f"{BASE}/processes/9", json=process)
    target = BrevoListTarget(hook, timeout=60, check_interval=0, slots=slots("run S"))
    assert target.import_contacts([{"email": "a@b.co"}], 12).status == "completed"
    assert held == [["9"], ["9"]]  # in flight: the slot was bound to process 9 while it ran
    assert table.in_flight("brevo:t", now=0) == []  # and freed once it ended


def test_a_workflow_import_waits_for_another_runs_slot(slotted: Any, requests_mock: Any) -> None:
    from airflow_provider_customerio.adapters.brevo import BrevoImportSink

    hook, table, slots = slotted
    other = slots("run other")
    other.start(other.try_take(), lambda: "77")  # another run's import in flight
    mine = slots("run W")
    mine.clock.sleep = lambda s: other.release(["77"])  # type: ignore[method-assign]  # it ends while we wait
    route = requests_mock.post(f"{BASE}/contacts/import", status_code=202, json={"processId": 78})
    sink = BrevoImportSink(hook, list_ids=[12], timeout=60, check_interval=0, slots=mine)
    assert sink.submit([{"email": "a@b.co"}]) == "78"
    assert route.call_count == 1 and [h.holder for h in table.in_flight("brevo:t", now=0)] == ["run W"]
