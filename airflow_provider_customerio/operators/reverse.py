"""Operator syncing Brevo contacts into Customer.io people (the reverse direction of the people sync).

Thin: it resolves its arguments and the run's window, builds the three hooks, wraps them in the ports of
:mod:`airflow_provider_customerio.sync.reverse` and delegates. Echo suppression, conflicts, batching and the
ledger live in the sync package, free of Airflow and HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.reverse import BrevoContactSource, CustomerIOPeopleWriter
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    as_bool,
    incremental_window,
    load_customerio_config,
    open_sync_store,
    pool_hook_params,
    record_summary,
    run_task_ids,
    skip,
    sync_lease,
)
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL, CUSTOMERIO_TRACK_POOL
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.people import RunWindow
from airflow_provider_customerio.sync.reverse.job import check_conflict_policy, check_mode, disabled_by
from airflow_provider_customerio.sync.reverse.run import WATERMARK, ReverseSync
from airflow_provider_customerio.sync.state import StateStore

if TYPE_CHECKING:
    from airflow.sdk import Context


class BrevoToCustomerIOPeopleOperator(LineageMixin, BaseOperator):
    """Sync the Brevo contacts changed in the run's data interval into Customer.io people (Track v2 batches).

    What the Customer.io -> Brevo sync wrote does not come back (echo suppression through the shared sync state),
    a mere list touch writes nothing, a field changed in Brevo only always flows, and a field changed on both
    sides since the last sync is a conflict resolved by ``conflict_policy`` (field by field). A contact Brevo
    blacklisted (unsubscribe, hard bounce) becomes ``unsubscribed: true``.
    Attributes are written with the current time, never a historical timestamp (Customer.io drops older
    updates silently). Returns the run summary (read, updated, unchanged, echoes, conflicts, rejected, ledger...).

    :param mode: ``incremental`` (the data interval, or ``[since, ...)``) or ``full`` (every contact) (templated).
    :param since: start of the window for manual runs, ``YYYY-MM-DD`` or ISO date-time (templated).
    :param dry_run: decide and count, write nothing (templated).
    :param conflict_policy: ``customerio_wins``, ``brevo_wins`` or ``newest_wins``; default
        ``connectors.customerio.reverse.conflict_policy`` (itself ``customerio_wins``) (templated).
    :param config_path: the provider's YAML config; default ``$CUSTOMERIO_PROVIDER_CONFIG`` or
        ``customerio_config.yaml`` in the DAGs folder (templated).
    :param state_path: the embedded SQLite store used when the store connection does not exist; it MUST be the
        one the Customer.io -> Brevo sync uses; default ``connectors.customerio.people.state_path``, else
        ``$AIRFLOW_HOME/customerio_sync/state.db`` (templated).
    :param brevo_conn_id: Brevo connection.
    :param customerio_track_conn_id: Customer.io Track API connection (writes).
    :param customerio_app_conn_id: Customer.io App API connection (profiles, to check conflicts).
    :param brevo_hook_params: keyword arguments of the Brevo hook (default: the rate this task's pool allows).
    :param customerio_track_hook_params: keyword arguments of the Track hook (default: the pool's rate).
    :param customerio_app_hook_params: keyword arguments of the App hook (default: the pool's rate).
    """

    lineage_capability = "reverse"
    template_fields: Sequence[str] = (
        "mode",
        "since",
        "dry_run",
        "conflict_policy",
        "config_path",
        "state_path",
        "brevo_conn_id",
        "customerio_track_conn_id",
        "customerio_app_conn_id",
    )
    ui_color = "#c4d7f2"

    def __init__(
        self,
        *,
        mode: str = "incremental",
        since: str | None = None,
        dry_run: bool | str = False,
        conflict_policy: str | None = None,
        config_path: str | None = None,
        state_path: str | None = None,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        customerio_track_conn_id: str = CustomerIOTrackHook.default_conn_name,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_hook_params: Mapping[str, Any] | None = None,
        customerio_track_hook_params: Mapping[str, Any] | None = None,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.since = since
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.conflict_policy = conflict_policy
        self.config_path = config_path
        self.state_path = state_path
        self.brevo_conn_id = brevo_conn_id
        self.customerio_track_conn_id = customerio_track_conn_id
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_hook_params = brevo_hook_params
        self.customerio_track_hook_params = customerio_track_hook_params
        self.customerio_app_hook_params = customerio_app_hook_params

        declare_outlets(self, "reverse")

    def _hook_params(self, given: Mapping[str, Any] | None, api_pool: str) -> dict[str, Any]:
        """The given hook params, else the rate this task's pool allows for that API (see ``pools.py``)."""
        return pool_hook_params(given, api_pool, self.pool)

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook (reads, plus the attribute list)."""
        return BrevoHook(self.brevo_conn_id, **self._hook_params(self.brevo_hook_params, BREVO_POOL))

    @cached_property
    def track_hook(self) -> CustomerIOTrackHook:
        """Customer.io Track API hook (the batches)."""
        return CustomerIOTrackHook(
            self.customerio_track_conn_id, **self._hook_params(self.customerio_track_hook_params, CUSTOMERIO_TRACK_POOL)
        )

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook (profiles, to check conflicts)."""
        return CustomerIOAppHook(
            self.customerio_app_conn_id, **self._hook_params(self.customerio_app_hook_params, CUSTOMERIO_APP_POOL)
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the sync and return its summary."""
        mode = check_mode(self.mode)
        dry_run = as_bool(self.dry_run, "dry_run")
        policy = check_conflict_policy(self.conflict_policy)
        config = load_customerio_config(self.config_path)
        why = disabled_by(config)
        if why is not None:
            skip(f"{why} is false")

        store = open_sync_store(config, self.state_path)
        with sync_lease(store, "people:reverse", context):
            return self._run(context, config, store, mode, dry_run, policy)

    def _run(
        self,
        context: Context,
        config: CustomerIOConfig,
        store: SyncStore,
        mode: str,
        dry_run: bool,
        policy: str | None,
    ) -> dict[str, Any]:
        state = store.state()
        try:
            window = self._window(context, mode, state)
            dag_id, run_id, task_id = run_task_ids(context, self.task_id)
            run_key = f"{dag_id}/{run_id}/{task_id}"
            cp = ReverseSync.load_checkpoint(state, run_key)
            truncate = int(cp["ledger_offset"]) if cp and not dry_run and "ledger_offset" in cp else None
            ledger = store.ledger(dag_id, run_id, task_id, truncate_to=truncate)
            try:
                sync = ReverseSync(
                    config=config,
                    source=BrevoContactSource(self.brevo_hook),
                    writer=CustomerIOPeopleWriter(self.track_hook, self.app_hook),
                    state=state,
                    ledger=ledger,
                    run_key=run_key,
                    conflict_policy=policy,
                )
                try:
                    summary = sync.run(window=window, dry_run=dry_run)
                finally:
                    sync.summary.api_calls = (
                        self.brevo_hook.api_calls + self.track_hook.api_calls + self.app_hook.api_calls
                    )
            finally:
                ledger.close()
        finally:
            state.close()
        result = summary.to_xcom()
        if ledger.total:
            self.log.warning("%d rejected record(s) for this run: %s", ledger.total, ledger.location)
        record_summary(store, "reverse", context, self.task_id, result)
        return result

    def _window(self, context: Context | Mapping[str, Any], mode: str, state: StateStore) -> RunWindow | None:
        """The run's window: ``since`` param, else the data interval, else (manual run without one) the end of the
        last window this direction synced."""
        return incremental_window(context, mode=mode, since=self.since or None, state=state, watermark_key=WATERMARK)


__all__ = ["BrevoToCustomerIOPeopleOperator"]
