"""Operator mirroring one Customer.io segment into one Brevo list.

The operator is thin: it resolves its arguments, builds the two hooks, wraps them in the ports that
:mod:`airflow_provider_customerio.sync.segments` expects, and delegates. The diff, the removal brake, the dry run
and the chunking live in the sync module, free of Airflow and HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.brevo import BrevoListTarget
from airflow_provider_customerio.adapters.brevo_imports import BrevoImports
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.adapters.customerio_app import CustomerIOSegmentSource
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import ledger_sink
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL
from airflow_provider_customerio.runs.context import run_ids, task_key
from airflow_provider_customerio.runs.lease import brevo_import_slots, sync_lease
from airflow_provider_customerio.runs.settings import load_customerio_config, open_sync_store, pool_hook_params
from airflow_provider_customerio.runs.summary import record_summary
from airflow_provider_customerio.runs.values import as_bool, as_id, as_names
from airflow_provider_customerio.sync.segments import (
    MirrorRequest,
    SegmentMirror,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class CustomerIOSegmentToBrevoListOperator(LineageMixin, BaseOperator):
    """Mirror a Customer.io segment into a Brevo list: add the missing people, remove the leavers.

    Segments still building are skipped (and reported); a run that would remove more than
    ``connectors.customerio.segments.removal_brake`` of the list fails unless ``force`` is set; ``dry_run``
    reports the adds and removes without writing. Returns a small summary (segment, list, added, removed,
    unchanged, skipped_building, rejected, dry_run, api_calls, ...).

    :param segment_id: Customer.io segment id (templated).
    :param list_id: Brevo list id (templated).
    :param include_attributes: Customer.io attributes written on added people, mapped through
        ``connectors.customerio.field_mapping`` (templated; a list or a comma-separated string).
    :param dry_run: report only, write nothing (templated).
    :param force: remove beyond the removal brake (templated).
    :param state_path: the embedded SQLite sync store, used when the store connection does not exist
        (templated); default ``connectors.customerio.people.state_path``, else
        ``$AIRFLOW_HOME/customerio_sync/state.db``.
    :param config_path: the provider's YAML config; default: ``$CUSTOMERIO_PROVIDER_CONFIG`` or
        ``customerio_config.yaml`` in the DAGs folder (templated).
    :param customerio_app_conn_id: Customer.io App API connection.
    :param brevo_conn_id: Brevo connection.
    :param import_timeout: seconds to wait for one Brevo import process.
    :param import_check_interval: first interval between polls of a Brevo import process.
    :param customerio_app_hook_params: keyword arguments of the App API hook (default: the rate this task's
        pool allows, see :mod:`airflow_provider_customerio.pools`).
    :param brevo_hook_params: keyword arguments of the Brevo hook (default: the rate of this task's pool).
    """

    lineage_capability = "segments"
    template_fields: Sequence[str] = (
        "segment_id",
        "list_id",
        "include_attributes",
        "dry_run",
        "force",
        "config_path",
        "state_path",
        "customerio_app_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#7ed3c4"

    def __init__(
        self,
        *,
        segment_id: int | str,
        list_id: int | str,
        include_attributes: Sequence[str] | str | None = None,
        dry_run: bool | str = False,
        force: bool | str = False,
        config_path: str | None = None,
        state_path: str | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        import_timeout: float = 3600.0,
        import_check_interval: float = 5.0,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.segment_id = segment_id
        self.list_id = list_id
        self.include_attributes = include_attributes
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.force = force
        self.config_path = config_path
        self.state_path = state_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.import_timeout = import_timeout
        self.import_check_interval = import_check_interval
        self.customerio_app_hook_params = customerio_app_hook_params
        self.brevo_hook_params = brevo_hook_params

        declare_outlets(self, "segments")

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(
            self.customerio_app_conn_id,
            **pool_hook_params(self.customerio_app_hook_params, CUSTOMERIO_APP_POOL, self.pool),
        )

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return BrevoHook(self.brevo_conn_id, **pool_hook_params(self.brevo_hook_params, BREVO_POOL, self.pool))

    def execute(self, context: Context) -> dict[str, Any]:
        """Mirror the segment and return the run summary."""
        request = MirrorRequest(
            segment_id=as_id(self.segment_id, "segment_id"),
            list_id=as_id(self.list_id, "list_id"),
            include_attributes=as_names(self.include_attributes),
            dry_run=as_bool(self.dry_run, "dry_run"),
            force=as_bool(self.force, "force"),
        )
        config = load_customerio_config(self.config_path)
        dag_id, run_id, map_index = run_ids(context)
        task = task_key(f"segment_{request.segment_id}_to_list_{request.list_id}", map_index)
        store = open_sync_store(config, self.state_path)
        slots = brevo_import_slots(store, self.brevo_hook, f"{dag_id}/{run_id}/{task}")
        slots.finished = BrevoImports(self.brevo_hook).finished  # a retry frees what its killed attempt left running
        target = BrevoListTarget(
            self.brevo_hook,
            timeout=self.import_timeout,
            check_interval=self.import_check_interval,
            notices=BrevoImportNotices.for_hook(self.brevo_hook, store),
            slots=slots,
        )
        # truncate_to=0: every attempt re-derives all of its rejections from live state, so a retry replaces them
        with (
            sync_lease(store, f"segments:{request.segment_id}->{request.list_id}", context),
            store.ledger(dag_id, run_id, task, truncate_to=0) as ledger,
            slots.kept_alive(),
        ):
            mirror = SegmentMirror(
                CustomerIOSegmentSource(self.app_hook),
                target,
                config.segments,
                reject=ledger_sink(ledger),
                field_mapping=config.field_mapping,
                log=self.log.info,
                check_lease=store.state().check_lease,  # before each Brevo write: a stalled try sends nothing
            )
            result = mirror.run(request)
        result.api_calls = self.app_hook.api_calls + self.brevo_hook.api_calls
        summary = result.summary()
        if ledger.total:
            summary["ledger"] = ledger.key
            self.log.warning("%d people not mirrored; reasons in the %s", ledger.total, ledger.location)
        self.log.info("Segment mirror summary: %s", {k: v for k, v in summary.items() if not k.startswith("sample_")})
        record_summary(store, "segments", context, self.task_id, summary)
        return summary
