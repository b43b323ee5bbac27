"""Operator mirroring one Customer.io segment into one Brevo list.

The operator is thin: it builds the two hooks, wraps them in the ports that
:mod:`airflow_provider_customerio.sync.segments` expects, and hands :class:`~.base.SyncOperator` the run's job.
The diff, the removal brake, the dry run
and the chunking live in the sync module, free of Airflow and HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_customerio.adapters.segments import BrevoListTarget, CustomerIOSegmentSource
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import declare_outlets
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL
from airflow_provider_customerio.runs.settings import with_state_path
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.runs.values import as_bool, as_optional_str
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.segments.job import MirrorJob
from airflow_provider_customerio.sync.segments.mirror import SegmentMirror
from airflow_provider_customerio.sync.segments.model import mirror_request, positive_id
from airflow_provider_customerio.sync.segments.ports import RejectSink


class CustomerIOSegmentToBrevoListOperator(SyncOperator):
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
    :param import_check_interval: first interval between polls of a Brevo import process (the base's
        ``poll_interval``).
    :param customerio_app_hook_params: keyword arguments of the App API hook (default: the rate this task's
        pool allows, see :mod:`airflow_provider_customerio.pools`).
    :param brevo_hook_params: keyword arguments of the Brevo hook (default: the rate of this task's pool).

    :param sync_name: names the run's staging, import slot and ledger (default ``segment_<id>_to_list_<id>``).

    ``deferrable`` (wait for each Brevo import in the triggerer): see :class:`~.base.SyncOperator`.
    """

    capability = "segments"
    config_switch = "segments"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "segment_id",
        "list_id",
        "include_attributes",
        "force",
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
        force: bool | str = False,
        state_path: str | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        import_check_interval: float = 5.0,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        sync_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        # one run per pair (a retry, whatever its task id, finds its killed try's staging and import slot)
        sync_name = sync_name or f"segment_{segment_id}_to_list_{list_id}"
        super().__init__(sync_name=sync_name, poll_interval=import_check_interval, **kwargs)
        self.segment_id = segment_id
        self.list_id = list_id
        self.include_attributes = include_attributes
        self.force = force
        self.state_path = state_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.import_check_interval = import_check_interval
        self.customerio_app_hook_params = customerio_app_hook_params
        self.brevo_hook_params = brevo_hook_params
        declare_outlets(self, "segments")

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook (rate of this task's pool unless given)."""
        return self.make_hook(
            CustomerIOAppHook, self.customerio_app_conn_id, self.customerio_app_hook_params, CUSTOMERIO_APP_POOL
        )

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook (rate of this task's pool unless given)."""
        return self.make_hook(BrevoHook, self.brevo_conn_id, self.brevo_hook_params, BREVO_POOL)

    def load_config(self) -> CustomerIOConfig:
        return with_state_path(super().load_config(), as_optional_str(self.state_path))

    def lease_name(self, run: SyncRun) -> str:
        return f"segments:{positive_id(self.segment_id, 'segment_id')}->{positive_id(self.list_id, 'list_id')}"

    def build_sync(self, run: SyncRun) -> MirrorJob:
        request = mirror_request(
            self.segment_id,
            self.list_id,
            self.include_attributes,
            dry_run=run.dry_run,
            force=as_bool(self.force, "force"),
        )
        imports = run.brevo_imports(
            self.brevo_hook, hold_slots=True, slot_timeout=self.import_timeout, poll_interval=self.poll_interval
        )
        assert run.slots is not None  # set by brevo_imports
        run.slots.finished = imports.finished  # a retry frees what its killed attempt left running
        target = BrevoListTarget(
            self.brevo_hook,
            timeout=self.import_timeout,
            check_interval=self.poll_interval,
            notices=imports.notices,
            slots=run.slots,
        )
        state = run.store.state()

        def make_mirror(reject: RejectSink) -> SegmentMirror:
            return SegmentMirror(
                CustomerIOSegmentSource(self.app_hook),
                target,
                run.config.segments,
                reject=reject,
                field_mapping=run.config.field_mapping,
                log=self.log.info,
                check_lease=state.check_lease,  # before each Brevo write: a stalled try sends nothing
                state=state,
                run_key=run.run_key,
            )

        return MirrorJob(
            make_mirror,
            request,
            # a fresh attempt re-derives all of its rejections from live state, so it replaces them
            open_ledger=lambda fresh: run.store.ledger(
                run.dag_id, run.run_id, run.sync_name, truncate_to=0 if fresh else None
            ),
            api_calls=self.take_api_calls,
        )


__all__ = ["CustomerIOSegmentToBrevoListOperator"]
