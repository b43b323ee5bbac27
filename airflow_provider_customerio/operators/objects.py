"""Operators syncing Customer.io objects and their relationships with Brevo custom objects, both ways.

The lifecycle is :class:`~.base.SyncOperator`'s (skip policy, lease, deferrable wait for Brevo's upsert processes,
summary); the work is :class:`~airflow_provider_customerio.sync.objects.forward.ObjectSync`'s and
:class:`~airflow_provider_customerio.sync.objects.reverse.ReverseObjectSync`'s, which know nothing of Airflow or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import BrevoImports, process_state
from airflow_provider_customerio.adapters.objects import (
    BrevoObjectSink,
    BrevoRecordSource,
    CustomerIOObjectSource,
    CustomerIOObjectWriter,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.lineage import declare_outlets
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL, CUSTOMERIO_TRACK_POOL
from airflow_provider_customerio.runs.settings import with_state_path
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.runs.values import as_optional_str
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.objects.forward import ObjectSync
from airflow_provider_customerio.sync.objects.job import ObjectsJob, ReverseObjectsJob, type_ids_argument
from airflow_provider_customerio.sync.objects.reverse import ReverseObjectSync
from airflow_provider_customerio.sync.processes import ProcessState


class CustomerIOObjectsToBrevoOperator(SyncOperator):
    """Sync Customer.io objects (companies, accounts, ...) and their relationships to people into Brevo custom
    objects associated with the right contacts.

    Types and field maps come from ``connectors.customerio.objects.types`` in the provider config; the task is
    skipped while ``connectors.customerio.sync.objects`` is false. Every configured Brevo object type must exist
    (Brevo creates them only in its UI): a missing one fails the task before anything is written, naming what to
    create. Relationships removed in Customer.io are unlinked in Brevo. Re-running gives the same end state; a
    killed task resumes from its checkpoint. Returns the run summary (read, created, updated, unchanged,
    rejected, links_added, links_removed, ledger, ...).

    :param object_type_ids: restrict to these Customer.io object type ids (templated; default all configured).
    :param object_filters: ``POST /v1/objects`` filter per type id (default: every object of the type).
    :param customerio_app_conn_id: Customer.io App API connection.
    :param brevo_conn_id: Brevo connection.
    :param state_path: the embedded SQLite store, used when the store connection does not exist (templated);
        default ``connectors.customerio.people.state_path``, else ``$AIRFLOW_HOME/customerio_sync/state.db``.
    :param max_records: records per Brevo upsert call (at most 1000).
    :param max_bytes: body bytes per Brevo upsert call (at most 1 MB).
    :param process_timeout: seconds to wait for the upsert processes before failing (records stay pending; a
        retry resumes the wait). The base's ``import_timeout``.
    :param poll_interval: first interval between process polls (``/processes`` has a 100/hour budget).
    :param app_hook_params: extra keyword arguments of the App hook (e.g. ``rate_limit``).
    :param brevo_hook_params: extra keyword arguments of the Brevo hook.

    ``dry_run``, ``config_path``, ``sync_name`` and ``deferrable``: see :class:`~.base.SyncOperator`.
    """

    capability = "objects"
    config_switch = "objects"
    timeout_option = "process_timeout"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "object_type_ids",
        "state_path",
        "customerio_app_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        object_type_ids: Sequence[str] | str | None = None,
        object_filters: Mapping[str, Any] | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        state_path: str | None = None,
        max_records: int = 1000,
        max_bytes: int = 1024 * 1024,
        process_timeout: float = 3600.0,
        poll_interval: float = 10.0,
        app_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(import_timeout=process_timeout, poll_interval=poll_interval, **kwargs)
        self.object_type_ids = object_type_ids
        self.object_filters = dict(object_filters or {})
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.state_path = state_path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.process_timeout = process_timeout
        self.app_hook_params = dict(app_hook_params or {})
        self.brevo_hook_params = dict(brevo_hook_params or {})
        declare_outlets(self, "objects")

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return self.make_hook(CustomerIOAppHook, self.customerio_app_conn_id, self.app_hook_params, CUSTOMERIO_APP_POOL)

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return self.make_hook(BrevoHook, self.brevo_conn_id, self.brevo_hook_params, BREVO_POOL)

    def load_config(self) -> CustomerIOConfig:
        """The config, with ``state_path`` (when given) as the embedded store's file."""
        return with_state_path(super().load_config(), as_optional_str(self.state_path))

    def lease_name(self, run: SyncRun) -> str:
        return "objects:forward"

    def read_process(self, process_id: str, body: Mapping[str, Any]) -> ProcessState:
        return process_state(process_id, body)

    def build_sync(self, run: SyncRun) -> ObjectsJob:
        # Object upserts are not contact imports: no import slot, and Brevo sends no notice for them.
        run.imports = BrevoImports(self.brevo_hook, poll_interval=self.poll_interval)
        state = run.store.state()
        cp = state.get_checkpoint(run.run_key)
        sync = ObjectSync(
            config=run.config,
            source=CustomerIOObjectSource(self.app_hook, self.object_filters),
            sink=BrevoObjectSink(self.brevo_hook),
            state=state,
            objects=run.store.objects(),
            # Resuming: cut the ledger back to the last checkpoint; a new run appends.
            ledger=run.store.ledger(
                run.dag_id,
                run.run_id,
                run.sync_name,
                truncate_to=int(cp["ledger_offset"]) if cp and "ledger_offset" in cp else None,
            ),
            run_key=run.run_key,
            type_ids=type_ids_argument(self.object_type_ids),
            max_records=int(self.max_records),
            max_bytes=int(self.max_bytes),
        )
        return ObjectsJob(sync, dry_run=run.dry_run, api_calls=self.take_api_calls)


class BrevoObjectsToCustomerIOOperator(SyncOperator):
    """The reverse direction: Brevo custom object records that come from elsewhere -> Customer.io objects, with
    their associated contacts as relationships (Track v2 object ``identify`` with ``cio_relationships``).

    Uses the types of ``connectors.customerio.objects.types`` with each ``field_mapping`` inverted; skipped while
    ``connectors.customerio.sync.objects`` is false. Records written by the Customer.io -> Brevo direction are
    skipped (no echo), and the objects written here are left alone by that direction. Relationships are only
    added (Brevo lists at most 5 associated contacts per record). Returns the run summary.

    :param object_type_ids: restrict to these Customer.io object type ids (templated).
    :param customerio_track_conn_id: Customer.io Track API connection.
    :param brevo_conn_id: Brevo connection.
    :param state_path: the embedded SQLite store (templated); default as for the forward direction.
    :param track_hook_params: extra keyword arguments of the Track hook (e.g. ``rate_limit``).
    :param brevo_hook_params: extra keyword arguments of the Brevo hook.

    ``dry_run``, ``config_path`` and ``sync_name``: see :class:`~.base.SyncOperator`.
    """

    capability = "objects_reverse"
    config_switch = "objects"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "object_type_ids",
        "state_path",
        "customerio_track_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        object_type_ids: Sequence[str] | str | None = None,
        customerio_track_conn_id: str = CustomerIOTrackHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        state_path: str | None = None,
        track_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_type_ids = object_type_ids
        self.customerio_track_conn_id = customerio_track_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.state_path = state_path
        self.track_hook_params = dict(track_hook_params or {})
        self.brevo_hook_params = dict(brevo_hook_params or {})
        declare_outlets(self, "objects_reverse")

    def load_config(self) -> CustomerIOConfig:
        """The config, with ``state_path`` (when given) as the embedded store's file."""
        return with_state_path(super().load_config(), as_optional_str(self.state_path))

    def lease_name(self, run: SyncRun) -> str:
        return "objects:reverse"

    def build_sync(self, run: SyncRun) -> ReverseObjectsJob:
        brevo = self.make_hook(BrevoHook, self.brevo_conn_id, self.brevo_hook_params, BREVO_POOL)
        track = self.make_hook(
            CustomerIOTrackHook, self.customerio_track_conn_id, self.track_hook_params, CUSTOMERIO_TRACK_POOL
        )
        sync = ReverseObjectSync(
            config=run.config,
            source=BrevoRecordSource(brevo),
            writer=CustomerIOObjectWriter(track),
            state=run.store.state(),
            objects=run.store.objects(),
            ledger=run.store.ledger(run.dag_id, run.run_id, run.sync_name),
            type_ids=type_ids_argument(self.object_type_ids),
        )
        return ReverseObjectsJob(sync, dry_run=run.dry_run, api_calls=lambda: brevo.api_calls + track.api_calls)


__all__ = ["BrevoObjectsToCustomerIOOperator", "CustomerIOObjectsToBrevoOperator"]
