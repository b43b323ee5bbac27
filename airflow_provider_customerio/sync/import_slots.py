"""At most N Brevo imports in flight per account, across every task and machine (import slots).

Brevo's help centre ("Best practices for importing contacts", https://help.brevo.com): "Do not import multiple files
at the same time. Wait for your current import to finish before starting a new one." Imports sent side by side get
stuck, so the provider takes a *slot* in the shared sync store before every
``POST /contacts/import`` and frees it once that process is known finished (a poll or a notice read it):

* :meth:`ImportSlots.try_take` takes a free slot, or the one this holder took and never bound (a killed task that
  resumes takes its own slot back instead of waiting for it); :meth:`ImportSlots.take` waits for one, on a growing
  schedule, up to a timeout;
* :meth:`ImportSlots.start` runs the submission in a slot and binds it to the returned process id (a submission
  that failed frees the slot only when it certainly started nothing; a lost answer keeps it held);
* :meth:`ImportSlots.release` frees the slots of finished processes;
* the holder renews its slots while it waits (:meth:`ImportSlots.renew`, :meth:`ImportSlots.kept_alive`); a
  holder that dies stops renewing, so its slots lapse after ``ttl`` seconds and others go on.

The people sync uses it so: with every slot taken and imports of its own in flight, ``load`` stops and lets the
caller wait for them (blocking, or deferred to the triggerer); with every slot held by others, it waits for one.
No Airflow, no HTTP: the store is a port (:class:`SlotTable`), time is a :class:`~.processes.Clock`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from airflow_provider_customerio.exceptions import ApiError, ConfigError, CustomerIOProviderError
from airflow_provider_customerio.store.fencing import LeaseLost
from airflow_provider_customerio.sync.processes import Clock, SystemClock, poll_delays

log = logging.getLogger(__name__)


def certainly_not_started(exc: BaseException) -> bool:
    """True when a failed import submission certainly started no Brevo process: Brevo refused it (an
    :class:`~airflow_provider_customerio.exceptions.ApiError` whose every attempt was refused or never reached
    Brevo: ``maybe_applied`` is false), or it was never sent (a configuration error, or this try lost its lease
    before sending). Anything else (a timeout, a 5xx, the task killed mid-request) may hide an import Brevo
    accepted."""
    if isinstance(exc, ApiError):
        return not exc.maybe_applied
    return isinstance(exc, (ConfigError, LeaseLost))


class SlotTable(Protocol):
    """The store side (:class:`airflow_provider_customerio.store.slots.ImportSlotTable`)."""

    def take(self, account: str, holder: str, *, limit: int, ttl: float, now: float) -> int | None: ...

    def bind(self, account: str, slot: int, holder: str, process_id: str, *, ttl: float, now: float) -> bool: ...

    def release(self, account: str, process_ids: Iterable[str | int]) -> int: ...

    def release_slot(self, account: str, slot: int, holder: str) -> None: ...

    def renew(self, account: str, holder: str, *, ttl: float, now: float) -> int: ...

    def in_flight(self, account: str, *, now: float) -> Sequence[Any]: ...


class ImportSlotTimeout(CustomerIOProviderError):
    """Every import slot of the account stayed held by other runs for the whole wait."""


class ImportSlots:
    """The import slots of one Brevo account, as one holder (a sync run) sees them.

    :param table: the store's slot table.
    :param account: :func:`account_key` of the Brevo connection.
    :param holder: who holds the slots (the run; a retry of the run is the same holder).
    :param limit: imports in flight at most (``max_imports_in_flight``).
    :param ttl: seconds a slot outlives its holder's last renewal.
    :param clock: monotonic time and sleep for the waits (a fake in tests).
    :param wall: seconds since the epoch, the time the store compares across machines (default: ``clock``'s
        when it has ``time()``, else :func:`time.time`).
    :param delays: the wait schedule for another holder's slot.
    :param finished: ``finished(process_id) -> bool`` (one ``GET /processes/{id}``): lets :meth:`take` free the
        slots this holder bound to processes it no longer tracks (a killed task whose retry does not re-find its
        import, e.g. the segment mirror) instead of waiting for them to lapse. Asked once per :meth:`take`.
    :param renew_every: seconds between the renewals of :meth:`kept_alive` (default ``ttl / 3``, at least 0.5).
    """

    def __init__(
        self,
        table: SlotTable,
        account: str,
        holder: str,
        *,
        limit: int = 1,  # Brevo's advice; the connection's setting: hooks.brevo_slots
        ttl: float = 600.0,
        clock: Clock | None = None,
        wall: Callable[[], float] | None = None,
        delays: Callable[[], Iterator[float]] | None = None,
        finished: Callable[[str], bool] | None = None,
        renew_every: float | None = None,
    ) -> None:
        self.finished = finished
        self.renew_every = max(0.5, ttl / 3) if renew_every is None else float(renew_every)
        self.table = table
        self.account = account
        self.holder = holder[:191]
        self.limit = max(1, int(limit))
        self.ttl = float(ttl)
        self.clock = clock or SystemClock()
        self.wall = wall or time.time
        self._delays = delays or (lambda: poll_delays(initial=1.0, factor=2.0, cap=30.0))

    def try_take(self) -> int | None:
        """A slot now, or ``None`` when all are held (by others, or by this holder's imports in flight)."""
        return self.table.take(self.account, self.holder, limit=self.limit, ttl=self.ttl, now=self.wall())

    def take(self, *, timeout: float) -> int:
        """A slot, waiting up to ``timeout`` seconds for one to be freed (or to lapse), renewing this holder's
        own slots meanwhile. Only call it when this holder has no import in flight it could wait for instead.

        :raises ImportSlotTimeout: still none after ``timeout`` seconds; the message names the holders.
        """
        deadline = self.clock.monotonic() + timeout
        delays = self._delays()
        self._reclaim_own()
        while True:
            slot = self.try_take()
            if slot is not None:
                return slot
            left = deadline - self.clock.monotonic()
            if left <= 0:
                held = self.table.in_flight(self.account, now=self.wall())
                who = "; ".join(f"{h.holder} (process {h.process_id or 'being sent'})" for h in held) or "nobody now"
                raise ImportSlotTimeout(
                    f"Brevo account busy: {self.limit} import(s) in flight already (held by {who}) for {timeout:.0f}"
                    " s. Brevo processes one import at a time per account; re-run the task when those finish, or "
                    "raise the Brevo connection's extra 'max_imports_in_flight' if your account allows more."
                )
            log.info("All %d Brevo import slot(s) are held by other runs; checking again shortly", self.limit)
            self.clock.sleep(min(next(delays), left))
            self.renew()

    def _reclaim_own(self) -> None:
        """Free this holder's slots whose process has ended (with :attr:`finished`): an earlier, killed attempt's."""
        if self.finished is None:
            return
        own = [h for h in self.table.in_flight(self.account, now=self.wall()) if h.holder == self.holder]
        ended = [str(h.process_id) for h in own if h.process_id is not None and self.finished(str(h.process_id))]
        if ended:
            log.info("Brevo import(s) %s of an earlier attempt ended: their slots are free", ", ".join(ended))
            self.release(ended)

    def start(self, slot: int, submit: Callable[[], str]) -> str:
        """Run ``submit`` (sends the import, returns its process id) in ``slot`` and bind the slot to the id.

        A submission that certainly started nothing (:func:`certainly_not_started`: Brevo refused it, or it was
        never sent) frees the slot. Any other failure (a lost answer: a timeout, a reset connection, a 5xx, the task
        killed mid-request) may hide an import Brevo accepted, so the slot stays held, bound to no process: it
        lapses ``ttl`` seconds after its holder's last renewal, or this holder's retry takes it back (and adopts
        the earlier import when its notice names it, see ``adapters/brevo_notices.py``)."""
        try:
            process_id = str(submit())
        except BaseException as exc:
            if certainly_not_started(exc):
                self.table.release_slot(self.account, slot, self.holder)
            else:
                self._renew_quietly()  # the import may have started at the failure: the ttl counts from it
                log.warning(
                    "The Brevo import sent in slot %d got no answer (%s): it may be running, so the slot stays held "
                    "until it lapses (%.0f s) or a retry of %s takes it back",
                    slot,
                    type(exc).__name__,
                    self.ttl,
                    self.holder,
                )
            raise
        if not self.table.bind(self.account, slot, self.holder, process_id, ttl=self.ttl, now=self.wall()):
            log.warning("Brevo import slot %d lapsed before process %s was recorded", slot, process_id)
        return process_id

    def _renew_quietly(self) -> None:
        try:
            self.renew()
        except Exception as exc:  # the slot lapses a little sooner; the submission's error is what matters
            log.warning("Could not renew the Brevo import slots of %s: %s", self.holder, exc)

    def submit(self, submit: Callable[[], str], *, timeout: float) -> str:
        """:meth:`take` a slot (waiting) and :meth:`start` ``submit`` in it."""
        return self.start(self.take(timeout=timeout), submit)

    def release(self, process_ids: Iterable[str | int]) -> None:
        """The processes ended: free their slots (any holder's: the process is what the slot stood for)."""
        self.table.release(self.account, process_ids)

    def renew(self) -> None:
        """Keep this holder's slots (a wait in progress is a sign of life)."""
        self.table.renew(self.account, self.holder, ttl=self.ttl, now=self.wall())

    @contextmanager
    def kept_alive(self) -> Iterator[ImportSlots]:
        """Renew this holder's slots every ``renew_every`` seconds from a background thread for the block; a holder
        killed without letting go stops renewing, so its slots lapse within ``ttl``."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.renew_every):
                self._renew_quietly()  # a failed renewal is retried at the next beat

        thread = threading.Thread(target=beat, name="import-slots", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=30)


__all__ = [
    "ImportSlotTimeout",
    "ImportSlots",
    "SlotTable",
    "certainly_not_started",
]
