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

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.events import BrevoEventSink, CustomerIOActivityFeed, CustomerIOTrackEventSink
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
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.events.mapping import EventMapper
from airflow_provider_customerio.sync.events.run import EventsRun, EventsSettings
from airflow_provider_customerio.sync.events.track import read_events_input, send_track_events
from airflow_provider_customerio.webhooks.store import EventStore

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
        sync_store = open_sync_store(config, self.state_path)
        store_conn = self.webhook_store_conn_id or config.events.webhook_store_conn_id
        store = EventStore.from_conn_id(store_conn) if store_conn else EventStore(sync_store.engine)
        run = self._run(config, store, context)
        try:
            if as_bool(self.dry_run, "dry_run"):
                return run.plan()
            with sync_lease(sync_store, "events:forward", context):
                dag_id, run_id, _ = run_ids(context, default_run_id="manual")
                self.log.info(
                    "Event store: %s (%s)", store.engine.url.render_as_string(hide_password=True), store.counts()
                )
                out = run.forward(sync_store.ledger(dag_id, run_id, self.task_id))
        finally:
            store.dispose()
            self.brevo_hook.close()
            self.app_hook.close()
        record_summary(sync_store, "events", context, self.task_id, out)
        if run.feed_error is not None:
            raise run.feed_error
        return out

    def _run(self, config: CustomerIOConfig, store: EventStore, context: Context) -> EventsRun:
        return EventsRun(
            store=store,
            sink=BrevoEventSink(self.brevo_hook),
            feed=CustomerIOActivityFeed(self.app_hook)
            if as_bool(self.include_activities, "include_activities")
            else None,
            mapper=EventMapper(config.event_mapping, config.events.unmapped),
            settings=EventsSettings(
                window_start=self.window_start,
                window_end=self.window_end,
                lookback_seconds=int(self.activity_lookback_seconds),
                reconcile_grace_seconds=self.reconcile_grace_seconds,
                in_flight_wait_seconds=self.in_flight_wait_seconds,
                retention_days=self.retention_days,
            ),
            context=context,
            log=lambda msg: self.log.info("%s", msg),
            api_calls=lambda: self.brevo_hook.api_calls + self.app_hook.api_calls,
        )


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
        try:
            events = read_events_input(self.events, self.events_path)
            result = send_track_events(
                events, CustomerIOTrackEventSink(self.track_hook), ledger, events_path=self.events_path
            )
        finally:
            ledger.close()
            self.track_hook.close()
        self.log.info(
            "Sent %d of %d events to Customer.io Track; %d rejected (ledger %s)",
            result.sent,
            result.read,
            result.rejected,
            ledger.location if result.rejected else "-",
        )
        return {
            "read": result.read,
            "sent": result.sent,
            "rejected": result.rejected,
            "ledger": ledger.key if result.rejected else None,
            "api_calls": self.track_hook.api_calls,
        }


__all__ = ["CustomerIOEventsToBrevoOperator", "CustomerIOTrackEventsOperator"]
