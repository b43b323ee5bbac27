"""One events run Customer.io -> Brevo: copy the window's behavioural events from the activity feed into the event
store (moving the store's activity watermark), then forward every pending event (:class:`~.forward.EventForwarder`)
or, in a dry run, plan it (:func:`~.plan.plan_forwarding`); purge finished rows; build the summary.

No Airflow and no HTTP: the store, the Brevo sink and the activity feed are ports, the run's context a plain
mapping (only ``data_interval_start``/``data_interval_end`` are read).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_customerio.exceptions import ApiError
from airflow_provider_customerio.store.inbox import PENDING
from airflow_provider_customerio.sync.events.forward import EventForwarder, ForwardStats
from airflow_provider_customerio.sync.events.mapping import EventMapper
from airflow_provider_customerio.sync.events.plan import plan_forwarding
from airflow_provider_customerio.sync.events.ports import EventSink, OutboxPort
from airflow_provider_customerio.sync.events.windows import ACTIVITY_WATERMARK, activity_window
from airflow_provider_customerio.sync.ports import RunLedger
from airflow_provider_customerio.sync.summary import SyncSummary


class EventStorePort(OutboxPort, Protocol):
    """The event store (:class:`airflow_provider_customerio.store.inbox.EventStore` satisfies it)."""

    def iter_status(self, status: str) -> Iterable[Any]: ...
    def get(self, event_id: str) -> Any | None: ...
    def get_meta(self, name: str) -> str | None: ...
    def set_meta(self, name: str, value: str) -> None: ...
    def purge(self, older_than_seconds: float) -> int: ...
    def counts(self) -> dict[str, int]: ...


class ActivityFeed(Protocol):
    """The Customer.io activity feed's ``event`` items (:class:`airflow_provider_customerio.adapters.events.
    CustomerIOActivityFeed` satisfies it)."""

    def ingest(self, store: Any, start: int, end: int) -> tuple[int, int]:
        """Copy the activities of ``[start, end)`` into the store (deduplicated); return ``(read, new)``."""
        ...

    def unseen(self, store: Any, start: int, end: int, known: set[str]) -> list[Any]:
        """Store rows of the activities of ``[start, end)`` neither in ``known`` nor in the store (nothing is
        written: a dry run)."""
        ...


@dataclass(frozen=True)
class EventsSettings:
    """How an events run reads and forwards.

    :param window_start: explicit start of the activity window (ISO-8601 or unix seconds), else the data interval.
    :param window_end: explicit end of the activity window.
    :param lookback_seconds: the window is read this much earlier (late arrivals; re-reading is harmless).
    :param reconcile_grace_seconds: in-flight events younger than this are left for a later run.
    :param in_flight_wait_seconds: wait up to this long for in-flight events to reach the grace.
    :param retention_days: finished rows older than this are purged.
    """

    window_start: Any = None
    window_end: Any = None
    lookback_seconds: int = 3600
    reconcile_grace_seconds: float = 60.0
    in_flight_wait_seconds: float = 0.0
    retention_days: float = 14.0


class EventsRun:
    """One events run (see the module docstring).

    :param store: the event store (the outbox).
    :param sink: the Brevo port.
    :param feed: the activity feed, ``None`` when the run does not read it (``include_activities`` off).
    :param mapper: names and builds the Brevo events.
    :param context: the run's context (only its data interval is read).
    :param log: where progress lines go.
    :param now: wall time in unix seconds (tests pass a fake).
    :param api_calls: the vendor calls made so far (for the summary).
    :param dry_run: plan only (:meth:`plan`), else forward (:meth:`forward`), when run as a sync job.
    :param ledger: opens the run's ledger (a real run only).
    :param on_close: let go of the store and the hooks, in this order (the job's :meth:`close`).
    """

    def __init__(
        self,
        *,
        store: EventStorePort,
        sink: EventSink,
        feed: ActivityFeed | None,
        mapper: EventMapper,
        settings: EventsSettings,
        context: Mapping[str, Any],
        log: Callable[[str], None] = lambda _msg: None,
        now: Callable[[], float] = time.time,
        api_calls: Callable[[], int] = lambda: 0,
        dry_run: bool = False,
        ledger: Callable[[], RunLedger] | None = None,
        on_close: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.store = store
        self.sink = sink
        self.feed = feed
        self.mapper = mapper
        self.settings = settings
        self.context = context
        self.log = log
        self.now = now
        self.api_calls = api_calls
        self.dry_run = dry_run
        self._ledger = ledger
        self._on_close = on_close
        self._out: dict[str, Any] = {}
        self.summary = SyncSummary(direction="cio_events_to_brevo", mode="events")
        #: an activity feed error of :meth:`forward`: the stored events were forwarded anyway; raise it after
        self.feed_error: ApiError | None = None

    def window(self) -> tuple[int, int, str]:
        """The activity window ``[start, end)`` and where it came from (explicit, data interval or watermark)."""
        s = self.settings
        watermark = self.store.get_meta(ACTIVITY_WATERMARK)
        start, end, origin = activity_window(
            s.window_start, s.window_end, self.context, watermark=watermark, now=self.now()
        )
        self.summary.window_start = datetime.fromtimestamp(start, tz=timezone.utc).isoformat()
        self.summary.window_end = datetime.fromtimestamp(end, tz=timezone.utc).isoformat()
        return start, end, origin

    # ------------------------------------------------------------------------------------------ dry run

    def plan(self) -> dict[str, Any]:
        """Dry run: the stored pending events plus the window's activity-feed events not stored yet, mapped and
        packed as a real run would; nothing is written anywhere. Returns the summary with its ``plan``."""
        pending = list(self.store.iter_status(PENDING))
        if self.feed is not None:
            start, end, _origin = self.window()
            known = {r.event_id for r in pending}
            pending += self.feed.unseen(self.store, start - int(self.settings.lookback_seconds), end, known)
        in_flight = sum(len(rows) for rows in self.store.in_flight().values())
        plan = plan_forwarding(pending, self.mapper, in_flight=in_flight)
        self.summary.read = len(pending)
        self.summary.api_calls = self.api_calls()
        self.summary.finish()
        out = self.summary.to_xcom()
        out.update({"dry_run": True, "plan": plan.as_dict()})
        self.log(
            f"Dry run: {plan.send} events would be sent in {plan.batches} Brevo calls, {sum(plan.skip.values())} "
            f"skipped, {sum(plan.reject.values())} rejected; nothing was written"
        )
        return out

    # ------------------------------------------------------------------------------------------ the run

    def ingest(self) -> tuple[int, int]:
        """Copy the window's activity-feed events into the store and move the watermark: ``(read, new)``. A feed
        error is kept in :attr:`feed_error`, not raised: the stored webhooks are still forwarded, and the window
        is not consumed (the watermark stays, the next run re-reads it)."""
        if self.feed is None:
            return 0, 0
        start, end, origin = self.window()
        lookback = int(self.settings.lookback_seconds)
        self.log(
            f"Reading behavioural events of {self.summary.window_start} .. {self.summary.window_end} "
            f"({origin}, {lookback} s lookback)"
        )
        read = new = 0
        try:
            if start - lookback < end:
                read, new = self.feed.ingest(self.store, start - lookback, end)
        except ApiError as exc:
            self.log(f"Reading the activity feed failed ({exc}); forwarding the stored events anyway")
            self.feed_error = exc
            return read, new
        previous = self.store.get_meta(ACTIVITY_WATERMARK)
        if previous is None or int(previous) < end:
            self.store.set_meta(ACTIVITY_WATERMARK, str(end))
        return read, new

    def forward(self, ledger: RunLedger) -> dict[str, Any]:
        """Ingest, forward everything pending, purge; return the summary (with ``activities_read``,
        ``activities_new``, the store's counts per status and ``purged``). The ledger is closed here."""
        activities_read, activities_new = self.ingest()
        s = self.settings
        forwarder = EventForwarder(
            self.store,
            self.sink,
            ledger,
            self.mapper,
            reconcile_grace_seconds=s.reconcile_grace_seconds,
            in_flight_wait_seconds=s.in_flight_wait_seconds,
            log=self.log,
        )
        try:
            stats = forwarder.forward()
        finally:
            ledger.close()
        purged = self.store.purge(float(s.retention_days) * 86400)
        self.summary.ledger = ledger.key if ledger.total else None
        out = self.summarise(stats)
        out.update(
            {
                "activities_read": activities_read,
                "activities_new": activities_new,
                "store": self.store.counts(),
                "purged": purged,
            }
        )
        return out

    def summarise(self, stats: ForwardStats) -> dict[str, Any]:
        """The run's summary (the XCom) from the forwarder's counters."""
        summary = self.summary
        summary.read = stats.drained
        summary.created = stats.forwarded
        summary.rejected = stats.rejected
        summary.events_processed = stats.forwarded
        summary.rejects_by_reason = stats.rejects_by_reason
        summary.api_calls = self.api_calls()
        summary.finish()
        out = summary.to_xcom()
        out.update(
            {
                "skipped_events": stats.skipped,
                "requeued": stats.requeued,
                "batches": stats.batches,
                "events_per_call": stats.events_per_call,
                "reconciled_sent": stats.reconciled_sent,
                "reconciled_resent": stats.reconciled_resent,
                "in_flight_deferred": stats.in_flight_deferred,
            }
        )
        self.log(
            f"Forwarded {stats.forwarded} events in {stats.batches} Brevo calls ({stats.events_per_call:.1f} per "
            f"call); {stats.skipped} skipped, {stats.rejected} rejected (ledger {summary.ledger or '-'}); "
            f"{stats.reconciled_sent} reconciled as already in Brevo, {stats.reconciled_resent} resent"
        )
        return out

    # ------------------------------------------------------------------------------------------ as a sync job

    def run(self) -> Sequence[str]:
        """Plan (a dry run) or forward; no Brevo process to wait for."""
        if self.dry_run:
            self._out = self.plan()
        else:
            if self._ledger is None:
                raise ValueError("EventsRun: a run that forwards needs its ledger")
            self._out = self.forward(self._ledger())
        return []

    def resume(self) -> None:
        """Nothing to pick up: an events run never waits."""

    def complete(self, states: Sequence[Any]) -> Sequence[str]:
        """Nothing is pending: an events run never waits."""
        return []

    def save(self) -> None:
        """Nothing to keep: the outbox holds every event's state."""

    def finish(self) -> Mapping[str, Any]:
        """The summary of :meth:`run`."""
        return self._out

    def close(self) -> None:
        """Let go of the store and the hooks."""
        for close in self._on_close:
            close()
