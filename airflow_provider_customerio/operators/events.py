"""Event forwarding operators.

* :class:`CustomerIOEventsToBrevoOperator`: drains the webhook event store (filled by the receiver on the
  api-server) and the data interval's behavioural events from the App API activity feed into Brevo
  (``POST /events/batch``), with the outbox guarantee of
  :class:`~airflow_provider_customerio.sync.events.forward.EventForwarder`.
* :class:`CustomerIOTrackEventsOperator`: sends events to Customer.io Track from a file or XCom, each with a
  deterministic id so that a replay is deduplicated by Customer.io.

Both are thin: they resolve arguments, build hooks and the store, wrap them in the ports of
:mod:`airflow_provider_customerio.sync.events`, and delegate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.events import BrevoEventSink, ingest_activities
from airflow_provider_customerio.exceptions import (
    ApiError,
    ValidationError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    as_bool,
    load_customerio_config,
    open_sync_store,
    record_summary,
    run_ids,
    skip,
    sync_lease,
)
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.sync.events.forward import EventForwarder, ForwardStats
from airflow_provider_customerio.sync.events.mapping import EventMapper
from airflow_provider_customerio.sync.events.plan import plan_forwarding
from airflow_provider_customerio.sync.events.ports import PENDING, SOURCE_ACTIVITY, Rejection
from airflow_provider_customerio.sync.events.sources import activity_event_key
from airflow_provider_customerio.sync.events.track import TrackEvent, parse_track_event, read_events_input
from airflow_provider_customerio.sync.events.windows import ACTIVITY_WATERMARK, activity_window, iter_window_activities
from airflow_provider_customerio.sync.summary import SyncSummary
from airflow_provider_customerio.webhooks.store import EventStore, StoredEvent

if TYPE_CHECKING:
    from airflow.sdk import Context


# --------------------------------------------------------------------------------- Customer.io -> Brevo
class CustomerIOEventsToBrevoOperator(LineageMixin, BaseOperator):
    """Forward Customer.io events to Brevo: stored reporting webhooks plus the interval's behavioural events.

    Names go through ``connectors.customerio.event_mapping``; unmapped events are skipped or passed through
    (``events.unmapped``); every event not forwarded has a ledger line with its reason. Events are sent with
    ``POST /events/batch`` (<= 200 events, <= 512 KB) and marked forwarded only after Brevo accepted them; a run
    interrupted between sending and marking is reconciled against ``GET /events`` by the next run, so Brevo ends
    with each event once (see :mod:`airflow_provider_customerio.sync.events` for the exact guarantee).

    Returns a summary: read, forwarded (``created``), skipped, rejected, batches, events_per_call, reconciled
    counts, the store's counts per status, the window and the ledger path.

    :param state_path: the embedded SQLite sync store, used when the store connection does not exist
        (templated); default ``connectors.customerio.people.state_path``, else
        ``$AIRFLOW_HOME/customerio_sync/state.db``.
    :param config_path: the provider's YAML config (templated); default ``$CUSTOMERIO_PROVIDER_CONFIG`` or
        ``customerio_config.yaml`` in the DAGs folder.
    :param brevo_conn_id: Brevo connection.
    :param customerio_app_conn_id: Customer.io App API connection (activity feed).
    :param webhook_store_conn_id: SQL connection of the event store (templated); default
        ``connectors.customerio.events.webhook_store_conn_id``, else the sync store (where the receiver writes).
    :param include_activities: read the activity feed's ``event`` items of the window (templated).
    :param window_start: start of the activity window (templated; ISO-8601 or unix seconds); default the data
        interval start. A manual run without a data interval reads from the end of the last window read (or one
        hour back on the first run) up to now.
    :param window_end: end of the activity window (templated); default the data interval end (or now).
    :param activity_lookback_seconds: the window starts this much earlier, to pick up events that arrived late
        (re-reading is harmless: events are deduplicated by activity id).
    :param reconcile_grace_seconds: in-flight events younger than this are left for a later run.
    :param in_flight_wait_seconds: wait up to this long for in-flight events to reach that grace, then reconcile
        them in this run (a retry right after a try killed mid-send then ends with its events resolved); ``0``
        (default): leave them for a later run.
    :param retention_days: finished rows older than this are purged (keep >= 7: Customer.io redelivers for 7 days).
    :param dry_run: plan only (templated): the summary's ``plan`` says how many events would be sent (per Brevo
        event name, in how many batches), skipped and rejected (per reason); nothing is sent, stored, marked or
        ledgered, and the activity feed's events of the window are read but not stored.
    :param brevo_hook_params: extra keyword arguments of the Brevo hook (e.g. ``rate_limit``).
    :param customerio_app_hook_params: extra keyword arguments of the App API hook.
    """

    lineage_capability = "events"
    template_fields: Sequence[str] = (
        "config_path",
        "state_path",
        "brevo_conn_id",
        "customerio_app_conn_id",
        "webhook_store_conn_id",
        "include_activities",
        "window_start",
        "window_end",
        "dry_run",
    )
    ui_color = "#0b996e"

    def __init__(
        self,
        *,
        config_path: str | None = None,
        state_path: str | None = None,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        webhook_store_conn_id: str | None = None,
        include_activities: bool | str = True,
        window_start: Any = None,
        window_end: Any = None,
        activity_lookback_seconds: int = 3600,
        reconcile_grace_seconds: float = 60.0,
        in_flight_wait_seconds: float = 0.0,
        retention_days: float = 14.0,
        dry_run: bool | str = False,
        brevo_hook_params: Mapping[str, Any] | None = None,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # a template field, as in every sync operator
        self.config_path = config_path
        self.state_path = state_path
        self.brevo_conn_id = brevo_conn_id
        self.customerio_app_conn_id = customerio_app_conn_id
        self.webhook_store_conn_id = webhook_store_conn_id
        self.include_activities = include_activities
        self.window_start = window_start
        self.window_end = window_end
        self.activity_lookback_seconds = activity_lookback_seconds
        self.reconcile_grace_seconds = reconcile_grace_seconds
        self.in_flight_wait_seconds = in_flight_wait_seconds
        self.retention_days = retention_days
        self.brevo_hook_params = dict(brevo_hook_params or {})
        self.customerio_app_hook_params = dict(customerio_app_hook_params or {})

        declare_outlets(self, "events")

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return BrevoHook(self.brevo_conn_id, **self.brevo_hook_params)

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(self.customerio_app_conn_id, **self.customerio_app_hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        """Ingest the window's behavioural events, forward everything pending, return the summary."""
        config = load_customerio_config(self.config_path)
        if not config.sync.events:
            skip("connectors.customerio.sync.events is false")
        summary = SyncSummary(direction="cio_events_to_brevo", mode="events")
        mapper = EventMapper(config.event_mapping, config.events.unmapped)
        sync_store = open_sync_store(config, self.state_path)
        store_conn = self.webhook_store_conn_id or config.events.webhook_store_conn_id
        store = EventStore.from_conn_id(store_conn) if store_conn else EventStore(sync_store.engine)
        if as_bool(self.dry_run, "dry_run"):
            return self._plan(context, summary, mapper, store)
        with sync_lease(sync_store, "events:forward", context):
            return self._forward(context, summary, mapper, sync_store, store)

    def activity_window(
        self, context: Context | Mapping[str, Any], store: EventStore, now: float
    ) -> tuple[int, int, str]:
        """The activity window ``[start, end)`` and where it came from (explicit, data interval or watermark)."""
        return activity_window(
            self.window_start, self.window_end, context, watermark=store.get_meta(ACTIVITY_WATERMARK), now=now
        )

    def _plan(self, context: Context, summary: SyncSummary, mapper: EventMapper, store: EventStore) -> dict[str, Any]:
        """Dry run: the stored pending events plus the window's activity-feed events not stored yet, mapped and
        packed as a real run would; nothing is written anywhere."""
        try:
            pending = list(store.iter_status(PENDING))
            known = {r.event_id for r in pending}
            if as_bool(self.include_activities, "include_activities"):
                start, end, _origin = self.activity_window(context, store, time.time())
                summary.window_start = datetime.fromtimestamp(start, tz=timezone.utc).isoformat()
                summary.window_end = datetime.fromtimestamp(end, tz=timezone.utc).isoformat()
                feed = self.app_hook.iter_activities(type="event")
                for act in iter_window_activities(feed, start - int(self.activity_lookback_seconds), end):
                    key = activity_event_key(act)
                    if key not in known and store.get(key) is None:
                        known.add(key)
                        pending.append(
                            StoredEvent(
                                key, SOURCE_ACTIVITY, json.dumps(act, separators=(",", ":")), int(act["timestamp"])
                            )
                        )
            in_flight = sum(len(rows) for rows in store.in_flight().values())
            plan = plan_forwarding(pending, mapper, in_flight=in_flight)
        finally:
            store.dispose()
            self.app_hook.close()
        summary.read = len(pending)
        summary.api_calls = self.app_hook.api_calls
        summary.finish()
        out = summary.to_xcom()
        out.update({"dry_run": True, "plan": plan.as_dict()})
        self.log.info(
            "Dry run: %d events would be sent in %d Brevo calls, %d skipped, %d rejected; nothing was written",
            plan.send,
            plan.batches,
            sum(plan.skip.values()),
            sum(plan.reject.values()),
        )
        return out

    def _ingest_window(
        self, context: Context, summary: SyncSummary, store: EventStore
    ) -> tuple[int, int, ApiError | None]:
        """Copy the window's activity-feed events into the store: ``(read, new, error)``. A feed error is returned,
        not raised: the stored webhooks are still forwarded, and the task fails afterwards (the window is re-read)."""
        if not as_bool(self.include_activities, "include_activities"):
            return 0, 0, None
        start, end, origin = self.activity_window(context, store, time.time())
        summary.window_start = datetime.fromtimestamp(start, tz=timezone.utc).isoformat()
        summary.window_end = datetime.fromtimestamp(end, tz=timezone.utc).isoformat()
        self.log.info(
            "Reading behavioural events of %s .. %s (%s, %d s lookback)",
            summary.window_start,
            summary.window_end,
            origin,
            self.activity_lookback_seconds,
        )
        read_from = start - int(self.activity_lookback_seconds)
        read = new = 0
        try:
            if read_from < end:
                read, new = ingest_activities(self.app_hook, store, read_from, end)
        except ApiError as exc:
            self.log.error("Reading the activity feed failed (%s); forwarding the stored events anyway", exc)
            return read, new, exc
        previous = store.get_meta(ACTIVITY_WATERMARK)
        if previous is None or int(previous) < end:
            store.set_meta(ACTIVITY_WATERMARK, str(end))
        return read, new, None

    def _forward(
        self, context: Context, summary: SyncSummary, mapper: EventMapper, sync_store: SyncStore, store: EventStore
    ) -> dict[str, Any]:
        dag_id, run_id, _ = run_ids(context, default_run_id="manual")
        ledger = sync_store.ledger(dag_id, run_id, self.task_id)
        self.log.info("Event store: %s (%s)", store.engine.url.render_as_string(hide_password=True), store.counts())
        try:
            activities_read, activities_new, activity_error = self._ingest_window(context, summary, store)
            forwarder = EventForwarder(
                store,
                BrevoEventSink(self.brevo_hook),
                ledger,
                mapper,
                reconcile_grace_seconds=self.reconcile_grace_seconds,
                in_flight_wait_seconds=self.in_flight_wait_seconds,
                log=lambda msg: self.log.info("%s", msg),
            )
            try:
                stats = forwarder.forward()
            finally:
                ledger.close()
            purged = store.purge(float(self.retention_days) * 86400)
            counts = store.counts()
        finally:
            store.dispose()
            self.brevo_hook.close()
            self.app_hook.close()
        summary.ledger = ledger.key if ledger.total else None
        out = self._summary(summary, stats)
        out.update(
            {"activities_read": activities_read, "activities_new": activities_new, "store": counts, "purged": purged}
        )
        self.log.info("Store now %s", counts)
        record_summary(sync_store, "events", context, self.task_id, out)
        if activity_error is not None:
            raise activity_error
        return out

    def _summary(self, summary: SyncSummary, stats: ForwardStats) -> dict[str, Any]:
        """The run's summary (the XCom) from the forwarder's counters."""
        summary.read = stats.drained
        summary.created = stats.forwarded
        summary.rejected = stats.rejected
        summary.events_processed = stats.forwarded
        summary.rejects_by_reason = stats.rejects_by_reason
        summary.api_calls = self.brevo_hook.api_calls + self.app_hook.api_calls
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
        self.log.info(
            "Forwarded %d events in %d Brevo calls (%.1f per call); %d skipped, %d rejected (ledger %s); "
            "%d reconciled as already in Brevo, %d resent",
            stats.forwarded,
            stats.batches,
            stats.events_per_call,
            stats.skipped,
            stats.rejected,
            summary.ledger or "-",
            stats.reconciled_sent,
            stats.reconciled_resent,
        )
        return out


# --------------------------------------------------------------------------------- events -> Customer.io
class CustomerIOTrackEventsOperator(BaseOperator):
    """Send events to Customer.io Track (``/api/v1/customers/{id}/events``, anonymous ``/api/v1/events``).

    Each event gets a deterministic id (a ULID derived from its content, or the ``id`` it carries), so re-running
    the task, or replaying the same file, is deduplicated by Customer.io. Invalid events and events Customer.io
    refuses go to the rejected-records ledger; the others are sent.

    Input events: ``{"name": ..., "customer_id"|"email"|"cio_id"|"identifier"|"anonymous_id": ..., "data": {...},
    "timestamp": unix or ISO-8601, "id": optional}``.

    :param events: a list of events, e.g. ``upstream.output`` (templated).
    :param events_path: a JSON array or JSON Lines file (templated).
    :param customerio_track_conn_id: Track API connection.
    :param track_hook_params: extra keyword arguments of the Track hook (e.g. ``rate_limit``).
    """

    template_fields: Sequence[str] = ("events", "events_path", "customerio_track_conn_id", "state_path")
    ui_color = "#3b5bdb"

    def __init__(
        self,
        *,
        events: Any = None,
        events_path: str | None = None,
        customerio_track_conn_id: str = CustomerIOTrackHook.default_conn_name,
        state_path: str | None = None,
        track_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.events = events
        self.events_path = events_path
        self.customerio_track_conn_id = customerio_track_conn_id
        self.state_path = state_path
        self.track_hook_params = dict(track_hook_params or {})

    @cached_property
    def track_hook(self) -> CustomerIOTrackHook:
        """Customer.io Track hook."""
        return CustomerIOTrackHook(self.customerio_track_conn_id, **self.track_hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        """Send every event; return ``{read, sent, rejected, ledger, api_calls}``."""
        dag_id, run_id, _ = run_ids(context, default_run_id="manual")
        ledger = open_sync_store(None, self.state_path).ledger(dag_id, run_id, self.task_id)
        read = sent = rejected = 0
        try:
            for index, raw in enumerate(read_events_input(self.events, self.events_path)):
                read += 1
                if self._send(index, raw, ledger):
                    sent += 1
                else:
                    rejected += 1
        finally:
            ledger.close()
            self.track_hook.close()
        self.log.info(
            "Sent %d of %d events to Customer.io Track; %d rejected (ledger %s)",
            sent,
            read,
            rejected,
            ledger.location if rejected else "-",
        )
        return {
            "read": read,
            "sent": sent,
            "rejected": rejected,
            "ledger": ledger.key if rejected else None,
            "api_calls": self.track_hook.api_calls,
        }

    def _send(self, index: int, raw: Any, ledger: Ledger) -> bool:
        """Parse and send one event; False when it was ledgered instead (invalid, or refused by Customer.io)."""
        if isinstance(raw, Mapping) and "__invalid_line__" in raw:
            parsed: TrackEvent | Rejection = Rejection(
                f"line {raw['__invalid_line__']}",
                "malformed_event",
                f"line {raw['__invalid_line__']} of {self.events_path} is not JSON",
            )
        else:
            parsed = parse_track_event(raw, index)
        if isinstance(parsed, Rejection):
            ledger.reject(record_id=parsed.event_id, reason=parsed.reason, message=parsed.message, stage="parse")
            return False
        try:
            if parsed.identifier is not None:
                self.track_hook.track_event(
                    parsed.identifier,
                    parsed.name,
                    dict(parsed.data),
                    event_id=parsed.event_id,
                    timestamp=parsed.timestamp,
                )
            else:
                self.track_hook.track_anonymous_event(
                    parsed.name,
                    anonymous_id=parsed.anonymous_id,
                    data=dict(parsed.data),
                    event_id=parsed.event_id,
                    timestamp=parsed.timestamp,
                )
        except ValidationError as exc:
            ledger.reject(
                record_id=parsed.event_id,
                reason="vendor_rejected",
                message=f"Customer.io refused the event: {exc.message}",
                stage="send",
                identifiers={"id": parsed.identifier, "anonymous_id": parsed.anonymous_id},
                detail={"name": parsed.name},
            )
            return False
        return True


__all__ = ["CustomerIOEventsToBrevoOperator", "CustomerIOTrackEventsOperator"]
