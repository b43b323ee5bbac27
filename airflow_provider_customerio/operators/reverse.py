"""Operator syncing Brevo contacts into Customer.io people (the reverse direction of the people sync).

Thin: the lifecycle is :class:`~.base.SyncOperator`'s; it builds the three hooks, wraps them in the ports of
:mod:`airflow_provider_customerio.sync.reverse` and returns its job. Echo suppression, conflicts, batching and the
ledger live in the sync package, free of Airflow and HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.adapters.reverse import BrevoContactSource, CustomerIOPeopleWriter
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.lineage import declare_outlets
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL, CUSTOMERIO_TRACK_POOL
from airflow_provider_customerio.runs.context import data_interval
from airflow_provider_customerio.runs.settings import pool_hook_params, with_state_path
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.reverse.job import (
    ReverseJob,
    check_conflict_policy,
    check_mode,
    disabled_by,
    ledger_offset,
    reverse_window,
)
from airflow_provider_customerio.sync.reverse.run import ReverseSync


class BrevoToCustomerIOPeopleOperator(SyncOperator):
    """Sync the Brevo contacts changed in the run's data interval into Customer.io people (Track v2 batches).

    What the Customer.io -> Brevo sync wrote does not come back (echo suppression through the shared sync state),
    a mere list touch writes nothing, a field changed in Brevo only always flows, and a field changed on both
    sides since the last sync is a conflict resolved by ``conflict_policy`` (field by field). A contact Brevo
    blacklisted (unsubscribe, hard bounce) becomes ``unsubscribed: true``.
    Attributes are written with the current time, never a historical timestamp (Customer.io drops older
    updates silently). Returns the run summary (read, updated, unchanged, echoes, conflicts, rejected, ledger...).

    :param mode: ``incremental`` (the data interval, or ``[since, ...)``) or ``full`` (every contact) (templated).
    :param since: start of the window for manual runs, ``YYYY-MM-DD`` or ISO date-time (templated).
    :param conflict_policy: ``customerio_wins``, ``brevo_wins`` or ``newest_wins``; default
        ``connectors.customerio.reverse.conflict_policy`` (itself ``customerio_wins``) (templated).
    :param state_path: the embedded SQLite store used when the store connection does not exist; it MUST be the
        one the Customer.io -> Brevo sync uses; default ``connectors.customerio.people.state_path``, else
        ``$AIRFLOW_HOME/customerio_sync/state.db`` (templated).
    :param brevo_conn_id: Brevo connection.
    :param customerio_track_conn_id: Customer.io Track API connection (writes).
    :param customerio_app_conn_id: Customer.io App API connection (profiles, to check conflicts).
    :param brevo_hook_params: keyword arguments of the Brevo hook (default: the rate this task's pool allows).
    :param customerio_track_hook_params: keyword arguments of the Track hook (default: the pool's rate).
    :param customerio_app_hook_params: keyword arguments of the App hook (default: the pool's rate).

    ``dry_run`` (decide and count, write nothing), ``config_path`` and ``sync_name``: see
    :class:`~.base.SyncOperator`.
    """

    capability = "reverse"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "mode",
        "since",
        "conflict_policy",
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
        conflict_policy: str | None = None,
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
        self.conflict_policy = conflict_policy
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
        return self.make_hook(BrevoHook, self.brevo_conn_id, self.brevo_hook_params, BREVO_POOL)

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

    def load_config(self) -> CustomerIOConfig:
        """The config, after the params are checked (a bad ``mode`` or ``conflict_policy`` fails before any call)."""
        check_mode(self.mode)
        check_conflict_policy(self.conflict_policy)
        return with_state_path(super().load_config(), self.state_path)

    def enabled(self, config: CustomerIOConfig) -> bool:
        """On when ``enabled``, ``sync.people`` and ``reverse.enabled`` are; else the task ends skipped, naming
        the switch."""
        why = disabled_by(config)
        if why is not None:
            raise AirflowSkipException(f"{why} is false: the capability is off, nothing to do.")
        return True

    def lease_name(self, run: SyncRun) -> str:
        return "people:reverse"

    def build_sync(self, run: SyncRun) -> ReverseJob:
        mode = check_mode(self.mode)
        state = run.store.state()
        now = datetime.now(timezone.utc)
        window = reverse_window(data_interval(run.context), mode=mode, since=self.since or None, state=state, now=now)
        truncate = ledger_offset(state, run.run_key, dry_run=run.dry_run)
        ledger = run.store.ledger(run.dag_id, run.run_id, run.sync_name, truncate_to=truncate)
        sync = ReverseSync(
            config=run.config,
            source=BrevoContactSource(self.brevo_hook),
            writer=CustomerIOPeopleWriter(self.track_hook, self.app_hook),
            state=state,
            ledger=ledger,
            run_key=run.run_key,
            conflict_policy=check_conflict_policy(self.conflict_policy),
        )
        return ReverseJob(
            sync,
            window=window,
            dry_run=run.dry_run,
            api_calls=self.take_api_calls,
            on_close=(ledger.close, state.close),
        )


__all__ = ["BrevoToCustomerIOPeopleOperator"]
