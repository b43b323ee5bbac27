"""Event forwarding operators.

* :class:`CustomerIOEventsToBrevoOperator`: drains the webhook event store (filled by the receiver on the
  api-server) and the data interval's behavioural events from the App API activity feed into Brevo
  (``POST /events/batch``), with the outbox guarantee of
  :class:`~airflow_provider_customerio.sync.events.EventForwarder`.
* :class:`CustomerIOTrackEventsOperator`: sends events to Customer.io Track from a file or XCom, each with a
  deterministic id so that a replay is deduplicated by Customer.io.

Both are thin: they resolve arguments, build hooks and the store, wrap them in the ports of
:mod:`airflow_provider_customerio.sync.events`, and delegate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.brevo import BrevoEventSink
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
    sync_lease,
)
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.events import (
    PENDING,
    SOURCE_ACTIVITY,
    EventForwarder,
    EventMapper,
    Rejection,
    TrackEvent,
    activity_event_key,
    iter_window_activities,
    parse_track_event,
    plan_forwarding,
)
from airflow_provider_customerio.sync.summary import SyncSummary
from airflow_provider_customerio.webhooks.store import EventStore, StoredEvent

if TYPE_CHECKING:
    from airflow.sdk import Context

ACTIVITY_WATERMARK = "activity_window_end"
DEFAULT_MANUAL_WINDOW_SECONDS = 3600


def _to_epoch(value: Any, name: str) -> int | None:
    """Unix seconds from a datetime, a number or an ISO-8601 string; ``None`` for empty values."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name}: {text!r} is not a date-time; use ISO-8601 (2026-01-31T13:45:00Z) or unix seconds"
        ) from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp())


# -------------------------------------------------------------------------------------------- ports


def ingest_activities(
    app_hook: CustomerIOAppHook, store: EventStore, start: int | None, end: int | None, *, chunk: int = 500
) -> tuple[int, int]:
    """Copy the ``event`` activities of ``[start, end)`` into the store (deduplicated). Returns (read, new)."""
    read = new = 0
    rows: list[StoredEvent] = []
    feed = app_hook.iter_activities(type="event")
    for act in iter_window_activities(feed, start, end):
        read += 1
        rows.append(
            StoredEvent(
                event_id=activity_event_key(act),
                source=SOURCE_ACTIVITY,
                payload=json.dumps(act, separators=(",", ":"), ensure_ascii=False),
                event_ts=int(act["timestamp"]),
            )
        )
        if len(rows) >= chunk:
            new += len(store.add(rows))
            rows = []
    new += len(store.add(rows))
    return read, new


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
        return forward_events_to_brevo(self, context)


def resolve_window(
    op: CustomerIOEventsToBrevoOperator, context: Context, store: EventStore, now: float
) -> tuple[int, int, str]:
    """The activity window ``[start, end)`` and where it came from (explicit, data interval or watermark)."""
    start = _to_epoch(op.window_start, "window_start")
    end = _to_epoch(op.window_end, "window_end")
    if start is not None or end is not None:
        origin = "explicit window_start/window_end"
    elif context.get("data_interval_start") is not None and context.get("data_interval_end") is not None:
        start = _to_epoch(context["data_interval_start"], "data_interval_start")
        end = _to_epoch(context["data_interval_end"], "data_interval_end")
        origin = "data interval"
    else:
        mark = store.get_meta(ACTIVITY_WATERMARK)
        end = int(now)
        if mark:  # a window may be empty (two manual runs in the same second): nothing new, not an error
            return min(int(mark), end), end, "from the end of the last window read (manual run, no data interval)"
        return end - DEFAULT_MANUAL_WINDOW_SECONDS, end, "the last hour (manual run, no data interval, first run)"
    end = int(now) if end is None else end
    start = end - DEFAULT_MANUAL_WINDOW_SECONDS if start is None else start
    if start >= end:
        raise ValueError(f"window_start ({start}) must be before window_end ({end}); fix the params of the run")
    return start, end, origin


def forward_events_to_brevo(op: CustomerIOEventsToBrevoOperator, context: Context) -> dict[str, Any]:
    """The body of :meth:`CustomerIOEventsToBrevoOperator.execute` (wiring only; logic in ``sync.events``)."""
    config = load_customerio_config(op.config_path)
    summary = SyncSummary(direction="cio_events_to_brevo", mode="events")
    if not config.sync.events:
        summary.skipped = "connectors.customerio.sync.events is false"
        summary.finish()
        return summary.to_xcom()
    mapper = EventMapper(config.event_mapping, config.events.unmapped)
    sync_store = open_sync_store(config, op.state_path)
    store_conn = op.webhook_store_conn_id or config.events.webhook_store_conn_id
    store = EventStore.from_conn_id(store_conn) if store_conn else EventStore(sync_store.engine)
    if as_bool(op.dry_run, "dry_run"):
        return _plan(op, context, summary, mapper, store)
    with sync_lease(sync_store, "events:forward", context):
        return _forward(op, context, config, summary, mapper, sync_store, store)


def _plan(
    op: CustomerIOEventsToBrevoOperator,
    context: Context,
    summary: SyncSummary,
    mapper: EventMapper,
    store: EventStore,
) -> dict[str, Any]:
    """Dry run: the stored pending events plus the window's activity-feed events not stored yet, mapped and packed
    as a real run would; nothing is written anywhere."""
    try:
        pending = list(store.iter_status(PENDING))
        known = {r.event_id for r in pending}
        if as_bool(op.include_activities, "include_activities"):
            start, end, _origin = resolve_window(op, context, store, time.time())
            summary.window_start = datetime.fromtimestamp(start, tz=timezone.utc).isoformat()
            summary.window_end = datetime.fromtimestamp(end, tz=timezone.utc).isoformat()
            feed = op.app_hook.iter_activities(type="event")
            for act in iter_window_activities(feed, start - int(op.activity_lookback_seconds), end):
                key = activity_event_key(act)
                if key not in known and store.get(key) is None:
                    known.add(key)
                    pending.append(
                        StoredEvent(key, SOURCE_ACTIVITY, json.dumps(act, separators=(",", ":")), int(act["timestamp"]))
                    )
        in_flight = sum(len(rows) for rows in store.in_flight().values())
        plan = plan_forwarding(pending, mapper, in_flight=in_flight)
    finally:
        store.dispose()
        op.app_hook.close()
    summary.read = len(pending)
    summary.api_calls = op.app_hook.api_calls
    summary.finish()
    out = summary.to_xcom()
    out.update({"dry_run": True, "plan": plan.as_dict()})
    op.log.info(
        "Dry run: %d events would be sent in %d Brevo calls, %d skipped, %d rejected; nothing was written",
        plan.send,
        plan.batches,
        sum(plan.skip.values()),
        sum(plan.reject.values()),
    )
    return out


def _forward(
    op: CustomerIOEventsToBrevoOperator,
    context: Context,
    config: CustomerIOConfig,
    summary: SyncSummary,
    mapper: EventMapper,
    sync_store: SyncStore,
    store: EventStore,
) -> dict[str, Any]:
    dag_id, run_id, _ = run_ids(context, default_run_id="manual")
    ledger = sync_store.ledger(dag_id, run_id, op.task_id)
    op.log.info("Event store: %s (%s)", store.engine.url.render_as_string(hide_password=True), store.counts())
    now = time.time()
    try:
        activities_read = activities_new = 0
        activity_error: ApiError | None = None
        if as_bool(op.include_activities, "include_activities"):
            start, end, origin = resolve_window(op, context, store, now)
            summary.window_start = datetime.fromtimestamp(start, tz=timezone.utc).isoformat()
            summary.window_end = datetime.fromtimestamp(end, tz=timezone.utc).isoformat()
            op.log.info(
                "Reading behavioural events of %s .. %s (%s, %d s lookback)",
                summary.window_start,
                summary.window_end,
                origin,
                op.activity_lookback_seconds,
            )
            read_from = start - int(op.activity_lookback_seconds)
            try:
                if read_from < end:
                    activities_read, activities_new = ingest_activities(op.app_hook, store, read_from, end)
            except ApiError as exc:
                # the stored webhooks are still forwarded; the task fails afterwards so the window is re-read
                activity_error = exc
                op.log.error("Reading the activity feed failed (%s); forwarding the stored events anyway", exc)
            else:
                previous = store.get_meta(ACTIVITY_WATERMARK)
                if previous is None or int(previous) < end:
                    store.set_meta(ACTIVITY_WATERMARK, str(end))
        forwarder = EventForwarder(
            store,
            BrevoEventSink(op.brevo_hook),
            ledger,
            mapper,
            reconcile_grace_seconds=op.reconcile_grace_seconds,
            log=lambda msg: op.log.info("%s", msg),
        )
        try:
            stats = forwarder.forward()
        finally:
            ledger.close()
        purged = store.purge(float(op.retention_days) * 86400)
        counts = store.counts()
    finally:
        store.dispose()
        op.brevo_hook.close()
        op.app_hook.close()
    summary.read = stats.drained
    summary.created = stats.forwarded
    summary.rejected = stats.rejected
    summary.events_processed = stats.forwarded
    summary.rejects_by_reason = stats.rejects_by_reason
    summary.api_calls = op.brevo_hook.api_calls + op.app_hook.api_calls
    summary.ledger = ledger.key if ledger.total else None
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
            "activities_read": activities_read,
            "activities_new": activities_new,
            "store": counts,
            "purged": purged,
        }
    )
    op.log.info(
        "Forwarded %d events in %d Brevo calls (%.1f per call); %d skipped, %d rejected (ledger %s); "
        "%d reconciled as already in Brevo, %d resent; store now %s",
        stats.forwarded,
        stats.batches,
        stats.events_per_call,
        stats.skipped,
        stats.rejected,
        summary.ledger or "-",
        stats.reconciled_sent,
        stats.reconciled_resent,
        counts,
    )
    record_summary(sync_store, "events", context, op.task_id, out)
    if activity_error is not None:
        raise activity_error
    return out


# --------------------------------------------------------------------------------- events -> Customer.io
def read_events_input(events: Any, path: str | None) -> Iterator[Any]:
    """Events from XCom (a list, or JSON text of a list) or from a file (a JSON array, or JSON Lines)."""
    if (events is None) == (not path):
        raise ValueError("give exactly one of `events` (a list, e.g. from XCom) or `events_path` (a file)")
    if events is not None:
        if isinstance(events, str):
            try:
                events = json.loads(events)
            except ValueError:
                raise ValueError("events: the text is not JSON; pass a list of event objects") from None
        if isinstance(events, Mapping):
            events = [events]
        if not isinstance(events, Iterable):
            raise ValueError(f"events: expected a list of event objects, got {type(events).__name__}")
        yield from events
        return
    p = Path(str(path))
    if not p.is_file():
        raise ValueError(f"events_path: {p} does not exist; write the events there (JSON array or JSON Lines)")
    with p.open(encoding="utf-8") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        fh.seek(0)
        if head == "[":
            yield from json.load(fh)
            return
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                yield {"__invalid_line__": n}


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
        return send_events_to_track(self, context)


def send_events_to_track(op: CustomerIOTrackEventsOperator, context: Context) -> dict[str, Any]:
    """The body of :meth:`CustomerIOTrackEventsOperator.execute`."""
    dag_id, run_id, _ = run_ids(context, default_run_id="manual")
    ledger = open_sync_store(None, op.state_path).ledger(dag_id, run_id, op.task_id)
    read = sent = rejected = 0
    try:
        for index, raw in enumerate(read_events_input(op.events, op.events_path)):
            read += 1
            if isinstance(raw, Mapping) and "__invalid_line__" in raw:
                parsed: TrackEvent | Rejection = Rejection(
                    f"line {raw['__invalid_line__']}",
                    "malformed_event",
                    f"line {raw['__invalid_line__']} of {op.events_path} is not JSON",
                )
            else:
                parsed = parse_track_event(raw, index)
            if isinstance(parsed, Rejection):
                ledger.reject(record_id=parsed.event_id, reason=parsed.reason, message=parsed.message, stage="parse")
                rejected += 1
                continue
            try:
                if parsed.identifier is not None:
                    op.track_hook.track_event(
                        parsed.identifier,
                        parsed.name,
                        dict(parsed.data),
                        event_id=parsed.event_id,
                        timestamp=parsed.timestamp,
                    )
                else:
                    op.track_hook.track_anonymous_event(
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
                rejected += 1
                continue
            sent += 1
    finally:
        ledger.close()
        op.track_hook.close()
    op.log.info(
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
        "api_calls": op.track_hook.api_calls,
    }


__all__ = ["CustomerIOEventsToBrevoOperator", "CustomerIOTrackEventsOperator"]
