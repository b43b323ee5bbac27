"""Deferrable wait for Brevo background processes (imports, object upserts).

Brevo's ``GET /processes/{id}`` is in the "all other endpoints" bucket: 100 requests per hour on the General plan.
So the trigger polls sparingly: rounds grow apart (doubling up to ``max_interval``), and each round polls every
unfinished process once. The people sync submits few, large imports (bytes-bounded), so a round costs a few calls.
The algorithm is :class:`~airflow_provider_customerio.sync.processes.ProcessWaiter`, the one the blocking waits use;
this trigger only drives it in the triggerer's event loop.

Import slots: given ``slot_account`` (the Brevo account's key in the sync store), the trigger frees the slot of
each process it sees end, at once, so the next import (this run's or another's) need not wait for the task to
resume; and it renews its run's slots while it waits (every ``slot_ttl / 3`` seconds), so they do not lapse
during a long import. A triggerer that dies stops renewing: the slots lapse after ``slot_ttl``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_customerio.hooks.brevo_slots import DEFAULT_SLOT_TTL_S
from airflow_provider_customerio.hooks.brevo_status import BrevoProcessStatus
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.processes import Notices, ProcessWaiter, poll_delays


def _event(payload: dict[str, Any]) -> TriggerEvent:
    """A :class:`TriggerEvent` carrying ``payload`` (Airflow's ``TriggerEvent.__init__`` is unannotated)."""
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class BrevoProcessTrigger(BaseTrigger):
    """Wait until every Brevo process in ``process_ids`` is finished, or until ``end_time``.

    Fires one event: ``{"status": "success", "processes": {id: process}}`` when all finished (failed processes
    included: the operator decides what a failure means), ``{"status": "timeout", "processes": {...finished...},
    "pending": [ids]}`` at ``end_time``, or ``{"status": "error", "message": ...}`` when polling itself failed.

    :param process_ids: Brevo process ids, in submission order.
    :param brevo_conn_id: the Brevo connection.
    :param end_time: UNIX time after which the wait gives up (absolute, so a triggerer restart keeps it).
    :param poll_interval: first interval between poll rounds, seconds.
    :param max_interval: longest interval between poll rounds, seconds.
    :param hook_params: extra keyword arguments of the hook (JSON-safe, e.g. ``rate_limit``).
    :param notice_deadline_s: with notices (:meth:`notices`), seconds after which a process with no notice is
        polled on the schedule.
    :param notify: the imports were sent with a ``notifyUrl`` (the Brevo connection's extra ``notify_url``): wait
        for their notices in the shared sync store instead of polling.
    :param store_conn_id: with ``notify`` or ``slot_account``, the store's Airflow connection (the triggerer must
        have it too: on several machines the store is a shared database).
    :param store_path: the embedded SQLite file used when that connection does not exist.
    :param slot_account: the account's import-slot key (see the module docstring); ``None``: no slots.
    :param slot_holder: who holds the slots (the sync run).
    :param slot_ttl: seconds a slot outlives its holder's last renewal.
    """

    def __init__(
        self,
        *,
        process_ids: Sequence[str | int],
        brevo_conn_id: str,
        end_time: float,
        poll_interval: float = 5.0,
        max_interval: float = 120.0,
        hook_params: dict[str, Any] | None = None,
        notice_deadline_s: float | None = None,
        notify: bool = False,
        store_conn_id: str | None = None,
        store_path: str | None = None,
        slot_account: str | None = None,
        slot_holder: str | None = None,
        slot_ttl: float = DEFAULT_SLOT_TTL_S,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated in Airflow
        self.process_ids = [str(p) for p in process_ids]
        self.brevo_conn_id = brevo_conn_id
        self.end_time = float(end_time)
        self.poll_interval = float(poll_interval)
        self.max_interval = float(max_interval)
        self.hook_params = dict(hook_params or {})
        self.notice_deadline_s = None if notice_deadline_s is None else float(notice_deadline_s)
        self.notify = bool(notify)
        self.store_conn_id = store_conn_id
        self.store_path = None if store_path is None else str(store_path)
        self.slot_account = slot_account
        self.slot_holder = slot_holder
        self.slot_ttl = float(slot_ttl)
        self._renewed_at = 0.0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "process_ids": self.process_ids,
                "brevo_conn_id": self.brevo_conn_id,
                "end_time": self.end_time,
                "poll_interval": self.poll_interval,
                "max_interval": self.max_interval,
                "hook_params": self.hook_params,
                "notice_deadline_s": self.notice_deadline_s,
                "notify": self.notify,
                "store_conn_id": self.store_conn_id,
                "store_path": self.store_path,
                "slot_account": self.slot_account,
                "slot_holder": self.slot_holder,
                "slot_ttl": self.slot_ttl,
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_customerio.hooks.brevo import BrevoHook

        return BrevoHook(brevo_conn_id=self.brevo_conn_id, **self.hook_params)

    def _open_store(self) -> Any:
        from airflow_provider_customerio.store.engine import STORE_CONN_ID
        from airflow_provider_customerio.store.sync_store import SyncStore

        return SyncStore.open(conn_id=self.store_conn_id or STORE_CONN_ID, sqlite_path=self.store_path)

    def share_budget(self, hook: Any) -> None:
        """Let ``hook`` spend the account's hourly budget of "other endpoints" (``GET /processes``) in the shared
        store, with the tasks; best effort: without the store the hook keeps a budget of its own."""
        share = getattr(hook, "share_hourly_budget", None)
        if share is None:
            return
        try:
            share(self._open_store().request_budget())
        except Exception as exc:
            self.log.warning("Polling on this trigger's own hourly budget (%s: %s)", type(exc).__name__, exc)

    def slots(self) -> ImportSlots | None:
        """The run's import slots in the shared store, or ``None`` when the imports were sent without slots."""
        if not self.slot_account:
            return None
        table = self._open_store().import_slots()
        return ImportSlots(table, self.slot_account, self.slot_holder or "", ttl=self.slot_ttl)

    async def _sleep(self, seconds: float, slots: ImportSlots | None) -> None:
        """Sleep, renewing the run's import slots every ``slot_ttl / 3`` seconds (over many short sleeps too)."""
        if slots is None:
            await asyncio.sleep(seconds)
            return
        beat = max(0.001, self.slot_ttl / 3)
        while seconds > 0:
            nap = min(seconds, beat)
            await asyncio.sleep(nap)
            seconds -= nap
            if time.time() - self._renewed_at >= beat:
                await self._slot_call("renew", slots.renew)
                self._renewed_at = time.time()

    async def _slot_call(self, what: str, call: Callable[..., Any], *args: Any) -> None:
        """Renew or free the run's slots, best effort: a store that is briefly unreachable must not fail the wait
        (the next renewal tries again; the task frees what is left when it resumes; at worst a slot lapses)."""
        try:
            await asyncio.to_thread(call, *args)
        except Exception as exc:
            self.log.warning("Could not %s the run's Brevo import slots (%s: %s)", what, type(exc).__name__, exc)

    def notices(self) -> Notices | None:
        """End-of-process notices for the waiter: the shared store's, when the imports were sent with a
        ``notifyUrl``; else ``None`` (poll only)."""
        if not self.notify:
            return None
        from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices

        return BrevoImportNotices.for_hook(self._hook(), self._open_store())

    def waiter(self) -> ProcessWaiter:
        """The waiting algorithm for this trigger's processes, deadline and schedule."""
        return ProcessWaiter(
            self.process_ids,
            now=time.time(),
            deadline=self.end_time,
            delays=poll_delays(initial=self.poll_interval, factor=2.0, cap=self.max_interval),
            poll_first=True,
            notices=self.notices(),
            notice_deadline_s=self.notice_deadline_s,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        waiter: ProcessWaiter | None = None
        try:
            # Opening the store and reading notices are blocking I/O: off the triggerer's event loop.
            waiter = await asyncio.to_thread(self.waiter) if self.notify else self.waiter()
            slots = await asyncio.to_thread(self.slots) if self.slot_account else None
            if self.slot_account or self.notify:  # the store is at hand: poll on the account's hourly budget
                await asyncio.to_thread(self.share_budget, hook)
            self._renewed_at = time.time()
            while True:
                if self.notify:
                    step = await asyncio.to_thread(waiter.next_step, time.time())
                else:
                    step = waiter.next_step(time.time())
                if step.done:
                    yield _event({"status": "success", "processes": dict(waiter.finished)})
                    return
                if step.timed_out:
                    yield _event({"status": "timeout", "processes": dict(waiter.finished), "pending": waiter.pending})
                    return
                if step.sleep > 0 and step.poll:  # a poll round (not a one-second wait for notices)
                    self.log.info(
                        "Brevo process(es) %s still running; next check in %.0f s",
                        ", ".join(waiter.pending),
                        step.sleep,
                    )
                if step.sleep > 0:
                    await self._sleep(step.sleep, slots)
                for pid in step.poll:
                    # The hook is synchronous (requests); keep the triggerer's event loop free.
                    process = await asyncio.to_thread(hook.get_process, int(pid))
                    waiter.record(pid, process, finished=BrevoProcessStatus.is_terminal(process))
                ended = [pid for pid in step.poll if pid in waiter.finished]
                if slots is not None and ended:  # free the slots now: the next import need not wait for the task
                    await self._slot_call("free", slots.release, ended)
        except Exception as exc:
            finished = dict(waiter.finished) if waiter is not None else {}
            yield _event({"status": "error", "message": f"{exc.__class__.__name__}: {exc}", "processes": finished})
        finally:
            close = getattr(hook, "close", None)
            if callable(close):
                close()
