"""Deferrable wait for Brevo background processes (imports, object upserts).

Brevo's ``GET /processes/{id}`` is in the "all other endpoints" bucket: 100 requests per hour on the General plan.
So the trigger polls sparingly: rounds grow apart (doubling up to ``max_interval``), and each round polls every
unfinished process once. The people sync submits few, large imports (bytes-bounded), so a round costs a few calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

FINISHED = frozenset({"completed", "failed", "cancelled", "canceled"})


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
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated in Airflow
        self.process_ids = [str(p) for p in process_ids]
        self.brevo_conn_id = brevo_conn_id
        self.end_time = float(end_time)
        self.poll_interval = float(poll_interval)
        self.max_interval = float(max_interval)
        self.hook_params = dict(hook_params or {})

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
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_customerio.hooks.brevo import BrevoHook

        return BrevoHook(brevo_conn_id=self.brevo_conn_id, **self.hook_params)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        finished: dict[str, dict[str, Any]] = {}
        interval = self.poll_interval
        try:
            while True:
                for pid in self.process_ids:
                    if pid in finished:
                        continue
                    # The hook is synchronous (requests); keep the triggerer's event loop free.
                    process = await asyncio.to_thread(hook.get_process, int(pid))
                    if str(process.get("status", "")) in FINISHED:
                        finished[pid] = process
                pending = [p for p in self.process_ids if p not in finished]
                if not pending:
                    yield _event({"status": "success", "processes": finished})
                    return
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    yield _event({"status": "timeout", "processes": finished, "pending": pending})
                    return
                self.log.info(
                    "Brevo process(es) %s still running; next check in %.0f s",
                    ", ".join(pending),
                    min(interval, remaining),
                )
                await asyncio.sleep(min(interval, remaining))
                interval = min(self.max_interval, interval * 2)
        except Exception as exc:
            yield _event({"status": "error", "message": f"{exc.__class__.__name__}: {exc}", "processes": finished})
        finally:
            close = getattr(hook, "close", None)
            if callable(close):
                close()
