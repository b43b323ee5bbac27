"""People sync Customer.io -> Brevo: the operator.

The sync has two phases, so a DAG can run each in the pool of the API it uses: ``step="extract"`` (Customer.io App
API: activity feed, hydrate, export) and ``step="load"`` (Brevo: imports, deletes, the deferrable wait for the
import processes). ``step="all"`` runs both in one task. The lifecycle is :class:`~.base.SyncOperator`'s; the work
is :class:`~airflow_provider_customerio.sync.people.PeopleSync`'s, which knows nothing of Airflow or HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow_provider_customerio.adapters.people import BrevoContactSink, CustomerIOPeopleSource
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import declare_outlets
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL
from airflow_provider_customerio.runs.context import data_interval
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.runs.values import as_optional_str
from airflow_provider_customerio.sync.config import EMAIL_TARGET
from airflow_provider_customerio.sync.people.job import PeopleJob, check_step_and_mode
from airflow_provider_customerio.sync.people.sync import PeopleSync


class CustomerIOToBrevoPeopleOperator(SyncOperator):
    """Sync Customer.io people into Brevo contacts (incremental, full, backfill), skipping unchanged people.

    Returns a small summary: ``read``, ``created``, ``updated``, ``unchanged``, ``deleted``, ``blacklisted``,
    ``rejected``, ``api_calls``, ``lastSync``, the ledger path and per-reason reject counts.

    :param mode: ``incremental`` (people changed in the data interval, from the activity feed) or ``full``
        (everyone, from a people export) (templated).
    :param since: manual runs: start of the window (``YYYY-MM-DD`` or ISO date-time), up to the interval end or
        now (templated). A run without a data interval and without ``since`` resumes from the last synced
        watermark, and fails with a clear message when there is none.
    :param step: ``all`` (default), ``extract`` (Customer.io side only) or ``load`` (Brevo side only) (templated).
    :param customerio_app_conn_id: Customer.io App API connection (templated).
    :param brevo_conn_id: Brevo connection (templated).
    :param sync_name: names the run's checkpoint and ledger; the extract and load tasks of one run share it.
    :param export_timeout: seconds to wait for the Customer.io people export.
    :param export_check_interval: seconds between polls of the export.
    :param customerio_app_hook_params: keyword arguments of the App hook (default: the rate of this task's pool).
    :param brevo_hook_params: keyword arguments of the Brevo hook (default: the rate of this task's pool).

    ``dry_run``, ``config_path``, ``deferrable``, ``import_timeout`` and ``poll_interval``: see
    :class:`~.base.SyncOperator`.
    """

    capability = "people"
    config_switch = "people"
    default_sync_name = "people"
    template_fields: Sequence[str] = (
        *SyncOperator.template_fields,
        "mode",
        "since",
        "step",
        "customerio_app_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#a7d8f0"

    def __init__(
        self,
        *,
        mode: str = "incremental",
        since: str | None = None,
        step: str = "all",
        customerio_app_conn_id: str = "customerio_app_default",
        brevo_conn_id: str = "brevo_default",
        export_timeout: float = 3600.0,
        export_check_interval: float = 5.0,
        customerio_app_hook_params: dict[str, Any] | None = None,
        brevo_hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.mode = mode
        self.since = since
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.export_timeout = export_timeout
        self.export_check_interval = export_check_interval
        self.customerio_app_hook_params = customerio_app_hook_params
        self.brevo_hook_params = brevo_hook_params
        declare_outlets(self, "people")

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

    def lease_name(self, run: SyncRun) -> str:
        return f"people:{self.sync_name}"

    def build_sync(self, run: SyncRun) -> PeopleJob:
        step, mode = check_step_and_mode(self.step, self.mode)
        config = run.config
        loads = step != "extract"
        imports = run.brevo_imports(self.brevo_hook, hold_slots=False) if loads else None
        state = run.store.state()
        cp = state.get_checkpoint(run.run_key)
        attrs = [f.source for f in config.field_mapping if f.target != EMAIL_TARGET]
        sync = PeopleSync(
            config=config,
            source=CustomerIOPeopleSource(
                self.app_hook,
                attributes=attrs,
                export_timeout=self.export_timeout,
                export_check_interval=self.export_check_interval,
            ),
            sink=BrevoContactSink(self.brevo_hook, notices=imports.notices if imports else None),
            state=state,
            # Resuming: cut the ledger back to the last checkpoint. A new run (no checkpoint) starts a new ledger.
            ledger=run.ledger(truncate_to=int((cp or {}).get("ledger_offset") or 0)),
            run_key=run.run_key,
            process_notices=imports.notices if imports else None,
            notice_deadline_s=imports.notices.deadline_s if imports and imports.notices else None,
            slots=run.slots,
            slot_timeout=self.import_timeout,
            pipeline_poll_s=self.poll_interval,
        )
        return PeopleJob(
            sync,
            step=step,
            mode=mode,
            since=as_optional_str(self.since),
            data_interval=data_interval(run.context),
            dry_run=run.dry_run,
            api_calls=self.take_api_calls,
        )


__all__ = ["CustomerIOToBrevoPeopleOperator"]
