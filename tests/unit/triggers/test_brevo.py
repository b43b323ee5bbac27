"""The deferrable Brevo process wait drives the same waiter as the blocking waits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_provider_customerio.sync.processes import ProcessWaiter
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger


class FakeHook:
    def __init__(self, statuses: dict[int, list[str]]) -> None:
        self.statuses = statuses
        self.polls: list[int] = []
        self.closed = False

    def get_process(self, pid: int) -> dict[str, Any]:
        self.polls.append(pid)
        seq = self.statuses[pid]
        return {"id": pid, "status": seq.pop(0) if len(seq) > 1 else seq[0]}

    def close(self) -> None:
        self.closed = True


def events(trigger: BrevoProcessTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [e.payload async for e in trigger.run()]

    return asyncio.run(collect())


def make(hook: FakeHook, ids: list[int], end_in: float) -> BrevoProcessTrigger:
    trigger = BrevoProcessTrigger(
        process_ids=ids, brevo_conn_id="brevo", end_time=time.time() + end_in, poll_interval=0.01, max_interval=0.02
    )
    trigger._hook = lambda: hook  # type: ignore[method-assign]
    return trigger


def test_success_after_polling_each_running_process() -> None:
    hook = FakeHook({1: ["queued", "completed"], 2: ["failed"]})
    [event] = events(make(hook, [1, 2], 30))
    assert event["status"] == "success"
    assert {k: v["status"] for k, v in event["processes"].items()} == {"1": "completed", "2": "failed"}
    assert hook.polls == [1, 2, 1] and hook.closed


def test_timeout_names_the_pending_processes() -> None:
    hook = FakeHook({1: ["processing"], 2: ["completed"]})
    [event] = events(make(hook, [1, 2], 0.05))
    assert event["status"] == "timeout" and event["pending"] == ["1"] and list(event["processes"]) == ["2"]


def test_error_event_when_polling_fails() -> None:
    class Broken(FakeHook):
        def get_process(self, pid: int) -> dict[str, Any]:
            raise RuntimeError("down")

    [event] = events(make(Broken({}), [1], 5))
    assert event["status"] == "error" and "down" in event["message"]


def test_serialises_the_notice_deadline() -> None:
    trigger = BrevoProcessTrigger(process_ids=[3], brevo_conn_id="b", end_time=1.0, notice_deadline_s=600)
    path, kwargs = trigger.serialize()
    assert path.endswith("BrevoProcessTrigger") and kwargs["notice_deadline_s"] == 600.0
    assert kwargs["process_ids"] == ["3"]


def test_with_notices_a_notified_process_is_polled_once() -> None:
    hook = FakeHook({1: ["completed"], 2: ["completed"]})
    seen: list[list[int]] = []

    def notices(ids: Any) -> dict[int, dict[str, Any]]:
        seen.append(list(ids))
        return {i: {"status": "completed"} for i in ids if len(seen) >= 2}

    class Notified(BrevoProcessTrigger):
        def notices(self) -> Any:
            return notices

    trigger = Notified(process_ids=[1, 2], brevo_conn_id="b", end_time=time.time() + 30, poll_interval=0.01)
    trigger._hook = lambda: hook  # type: ignore[method-assign]
    trigger.waiter = lambda: ProcessWaiter(  # type: ignore[method-assign]
        trigger.process_ids, now=time.time(), deadline=trigger.end_time, notices=notices, notice_interval=0.01
    )
    [event] = events(trigger)
    assert event["status"] == "success" and hook.polls == [1, 2] and seen[0] == [1, 2]


def test_frees_the_import_slot_of_each_process_it_sees_end_and_renews_the_rest(tmp_path: Any) -> None:
    from airflow_provider_customerio.store.sync_store import SyncStore

    store = SyncStore.at(tmp_path / "store.db")
    table = store.import_slots()
    now = time.time()
    for slot, pid in ((0, "1"), (1, "2")):
        assert table.take("brevo:acct", "run A", limit=2, ttl=30, now=now) == slot
        table.bind("brevo:acct", slot, "run A", pid, ttl=30, now=now)
    hook = FakeHook({1: ["completed"], 2: ["processing", "processing", "processing", "completed"]})
    trigger = make(hook, [1, 2], 30)
    kwargs = trigger.serialize()[1]
    assert (kwargs["slot_account"], kwargs["slot_holder"]) == (None, None)  # no slots unless given
    trigger.slot_account, trigger.slot_holder = "brevo:acct", "run A"
    trigger.slot_ttl = 0.03  # renew at least every 10 ms of sleep (a second, in practice)
    trigger.store_path = str(tmp_path / "store.db")
    renewals: list[float] = []
    original = trigger.slots

    def slots() -> Any:
        held = original()
        assert held is not None
        renew = held.renew
        held.renew = lambda: renewals.append(time.time()) or renew()  # type: ignore[method-assign]
        return held

    trigger.slots = slots  # type: ignore[method-assign]
    seen: list[list[str | None]] = []
    record = ProcessWaiter.record

    def spy(self: ProcessWaiter, pid: Any, process: Any, *, finished: bool) -> None:  # slots when a poll comes back
        seen.append([h.process_id for h in table.in_flight("brevo:acct", now=time.time() - 3600)])
        record(self, pid, process, finished=finished)

    ProcessWaiter.record = spy  # type: ignore[method-assign]
    try:
        [event] = events(trigger)
    finally:
        ProcessWaiter.record = record  # type: ignore[method-assign]
    assert event["status"] == "success"
    # the first round polls both; process 1 has ended: its slot is freed before the next round
    assert seen[:3] == [["1", "2"], ["1", "2"], ["2"]]
    assert table.in_flight("brevo:acct", now=time.time() - 3600) == []  # and process 2's when it ended
    assert renewals  # the run's slots were renewed while the trigger slept


def test_a_store_blip_while_renewing_or_freeing_slots_does_not_fail_the_wait(tmp_path: Any) -> None:
    """The slots are bookkeeping around the wait: a store that fails to renew or free them is logged, and the
    trigger still reports the processes it saw end (the task frees what is left when it resumes)."""
    from airflow_provider_customerio.store.sync_store import SyncStore

    store = SyncStore.at(tmp_path / "store.db")
    table = store.import_slots()
    now = time.time()
    assert table.take("brevo:acct", "run A", limit=1, ttl=30, now=now) == 0
    table.bind("brevo:acct", 0, "run A", "1", ttl=30, now=now)
    trigger = make(FakeHook({1: ["processing", "processing", "completed"]}), [1], 30)
    trigger.slot_account, trigger.slot_holder, trigger.slot_ttl = "brevo:acct", "run A", 0.03
    trigger.store_path = str(tmp_path / "store.db")
    failures: list[str] = []
    original = trigger.slots

    def slots() -> Any:
        held = original()
        assert held is not None

        def down(*_: Any) -> None:
            failures.append("down")
            raise OSError("could not connect to the store")

        held.renew = down  # type: ignore[method-assign]
        held.release = down  # type: ignore[method-assign]
        return held

    trigger.slots = slots  # type: ignore[method-assign]
    [event] = events(trigger)
    assert event["status"] == "success" and event["processes"]["1"]["status"] == "completed", event
    assert failures  # the store was asked, failed, and the wait went on


def test_serialize_round_trips_every_argument() -> None:
    """The triggerer rebuilds the trigger from ``serialize()``: every argument must survive the trip."""
    trigger = BrevoProcessTrigger(
        process_ids=[3, "4"],
        brevo_conn_id="b",
        end_time=12.5,
        poll_interval=2,
        max_interval=30,
        hook_params={"rate_limit": 1},
        notice_deadline_s=60,
        notify=True,
        store_conn_id="store",
        store_path="/tmp/x.db",
        slot_account="acct",
        slot_holder="dag/run/t",
        slot_ttl=90,
    )
    path, kwargs = trigger.serialize()
    again = BrevoProcessTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs["process_ids"] == ["3", "4"] and kwargs["slot_ttl"] == 90.0 and kwargs["notify"] is True


def test_without_a_slot_account_the_wait_holds_no_slots() -> None:
    trigger = BrevoProcessTrigger(process_ids=[1], brevo_conn_id="b", end_time=1.0)
    assert trigger.slots() is None


class SharingHook(FakeHook):
    """A hook that records the hourly-budget ledger it is handed."""

    ledgers: list[Any]

    def share_hourly_budget(self, ledger: Any) -> None:
        self.ledgers = [*getattr(self, "ledgers", []), ledger]


def test_polls_spend_the_accounts_hourly_budget_in_the_store_when_the_trigger_has_one(tmp_path: Any) -> None:
    from airflow_provider_customerio.store.budget import RequestBudgetTable

    hook = SharingHook({1: ["completed"]})
    trigger = make(hook, [1], 30)
    trigger.slot_account, trigger.slot_holder = "brevo:acct", "run A"
    trigger.store_path = str(tmp_path / "store.db")
    assert events(trigger)[0]["status"] == "success"
    [ledger] = hook.ledgers
    assert isinstance(ledger, RequestBudgetTable) and str(tmp_path / "store.db") in str(ledger.engine.url)
    plain = SharingHook({1: ["completed"]})  # no slots, no notices: no store to share through
    assert events(make(plain, [1], 30))[0]["status"] == "success" and not hasattr(plain, "ledgers")
