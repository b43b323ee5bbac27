"""Event forwarding operators.

* :class:`CustomerIOEventsToBrevoOperator`: drains the webhook event store (filled by the receiver on the
  api-server) and the data interval's behavioural events from the App API activity feed into Brevo
  (``POST /events/batch``), with the outbox guarantee of :mod:`airflow_provider_customerio.sync.events`.
* :class:`CustomerIOTrackEventsOperator`: sends events to Customer.io Track from a file or XCom, each with a
  deterministic id so that a replay is deduplicated by Customer.io.

Both are thin (the lifecycle is in ``base.py``): hooks and the event store in the ports of ``sync.events``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.adapters.events import (
    BrevoEventSink,
    CustomerIOActivityFeed,
    CustomerIOTrackEventSink,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.lineage import declare_outlets
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.pools import BREVO_POOL
from airflow_provider_customerio.runs.settings import load_connector_config, with_state_path
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.runs.values import as_bool
from airflow_provider_customerio.store.inbox import EventStore
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.events.mapping import EventMapper
from airflow_provider_customerio.sync.events.run import EventsRun, EventsSettings
from airflow_provider_customerio.sync.events.track import TrackJob, read_events_input

if TYPE_CHECKING:
    from airflow.sdk import Context


class CustomerIOEventsToBrevoOperator(SyncOperator):
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
    :param brevo_hook_params: extra keyword arguments of the Brevo hook (e.g. ``rate_limit``).
    :param customerio_app_hook_params: extra keyword arguments of the App API hook.

        ``dry_run`` plans only:  the summary's ``plan`` says how many events would be sent (per Brevo
        event name, in how many batches), skipped and rejected (per reason); nothing is sent, stored, marked or
        ledgered, and the activity feed's events of the window are read but not stored.
    ``config_path`` and ``sync_name``: see :class:`~.base.SyncOperator`.
    """

    capability = "events"
    config_switch = "events"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "state_path",
        "brevo_conn_id",
        "customerio_app_conn_id",
        "webhook_store_conn_id",
        "include_activities",
        "window_start",
        "window_end",
    )
    ui_color = "#0b996e"

    def __init__(
        self,
        *,
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
        brevo_hook_params: Mapping[str, Any] | None = None,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        return self.make_hook(BrevoHook, self.brevo_conn_id, self.brevo_hook_params, BREVO_POOL)

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(self.customerio_app_conn_id, **self.customerio_app_hook_params)

    def load_config(self) -> CustomerIOConfig:
        return with_state_path(super().load_config(), self.state_path)

    def lease_name(self, run: SyncRun) -> str:
        return "events:forward"

    def execute(self, context: Context) -> Any:
        """Ingest the window's behavioural events, forward everything pending, return the summary; a failed read
        of the activity feed fails the task after the stored events were forwarded (the window is read again)."""
        out = super().execute(context)
        job: EventsRun | None = getattr(self, "_job", None)
        if job is not None and job.feed_error is not None:
            raise job.feed_error
        return out

    def build_sync(self, run: SyncRun) -> EventsRun:
        store_conn = self.webhook_store_conn_id or run.config.events.webhook_store_conn_id
        store = EventStore.from_conn_id(store_conn) if store_conn else EventStore(run.store.engine)
        include = as_bool(self.include_activities, "include_activities")
        self._job = EventsRun(
            store=store,
            sink=BrevoEventSink(self.brevo_hook),
            feed=CustomerIOActivityFeed(self.app_hook) if include else None,
            mapper=EventMapper(run.config.event_mapping, run.config.events.unmapped),
            settings=EventsSettings(
                window_start=self.window_start,
                window_end=self.window_end,
                lookback_seconds=int(self.activity_lookback_seconds),
                reconcile_grace_seconds=self.reconcile_grace_seconds,
                in_flight_wait_seconds=self.in_flight_wait_seconds,
                retention_days=self.retention_days,
            ),
            context=run.context,
            log=lambda msg: self.log.info("%s", msg),
            api_calls=self.take_api_calls,
            dry_run=run.dry_run,
            ledger=lambda: run.store.ledger(run.dag_id, run.run_id, run.sync_name),
            on_close=(store.dispose, self.brevo_hook.close, self.app_hook.close),
        )
        return self._job


# --------------------------------------------------------------------------------- events -> Customer.io (Track)
class CustomerIOTrackEventsOperator(SyncOperator):
    """Send events to Customer.io Track (``/api/v1/customers/{id}/events``, anonymous ``/api/v1/events``).

    Each event gets a deterministic id (a ULID derived from its content, or the ``id`` it carries), so re-running
    the task, or replaying the same file, is deduplicated by Customer.io. Invalid events and events Customer.io
    refuses go to the rejected-records ledger; the others are sent.

    Input events: ``{"name": ..., "customer_id"|"email"|"cio_id"|"identifier"|"anonymous_id": ..., "data": {...},
    "timestamp": unix or ISO-8601, "id": optional}``.

    :param events: a list of events, e.g. ``upstream.output`` (templated).
    :param events_path: a JSON array or JSON Lines file (templated).
    :param customerio_track_conn_id: Track API connection.
    :param state_path: the embedded SQLite store of the ledger, used when the store connection does not exist.
    :param track_hook_params: extra keyword arguments of the Track hook (e.g. ``rate_limit``).

    ``dry_run`` (parse and count, send and ledger nothing) and ``config_path``: see :class:`~.base.SyncOperator`.
    """

    capability = "track_events"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "events",
        "events_path",
        "customerio_track_conn_id",
        "state_path",
    )
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

    def load_config(self) -> CustomerIOConfig:
        """The config (its defaults when there is no config file: this task needs none)."""
        return with_state_path(load_connector_config(self.config_path), self.state_path)

    def build_sync(self, run: SyncRun) -> TrackJob:
        return TrackJob(
            read_events_input(self.events, self.events_path),
            CustomerIOTrackEventSink(self.track_hook),
            ledger=lambda: run.store.ledger(run.dag_id, run.run_id, run.sync_name),
            events_path=self.events_path,
            dry_run=run.dry_run,
            api_calls=self.take_api_calls,
            on_close=self.track_hook.close,
        )


__all__ = ["CustomerIOEventsToBrevoOperator", "CustomerIOTrackEventsOperator"]
