"""People sync Customer.io -> Brevo: the operator, and the adapters of the hooks to the sync's ports.

The operator is thin: its constructor assigns, ``execute`` builds the hooks, the ports, the state store and the
ledger and delegates to :class:`airflow_provider_customerio.sync.people.PeopleSync`, which knows nothing of
Airflow or HTTP.

The sync has two phases, so a DAG can run each in the pool of the API it uses: ``step="extract"`` (Customer.io App
API: activity feed, hydrate, export) and ``step="load"`` (Brevo: imports, deletes, the deferrable wait for the
import processes). ``step="all"`` runs both in one task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.adapters.brevo import BrevoContactSink
from airflow_provider_customerio.adapters.brevo_imports import import_process_state
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.adapters.customerio_app import CustomerIOPeopleSource
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    as_bool,
    as_optional_str,
    brevo_import_slots,
    default_deferrable,
    incremental_window,
    load_customerio_config,
    open_sync_store,
    pool_hook_params,
    record_summary,
    run_ids,
    skip,
    sync_lease,
)
from airflow_provider_customerio.pools import BREVO_POOL, CUSTOMERIO_APP_POOL
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.sync.config import EMAIL_TARGET
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.people import (
    PeopleSync,
    PeopleSyncError,
)
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout, poll_delays
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

STEPS = ("all", "extract", "load")
MODES = ("incremental", "full")


class CustomerIOToBrevoPeopleOperator(LineageMixin, BaseOperator):
    """Sync Customer.io people into Brevo contacts (incremental, full, backfill), skipping unchanged people.

    Returns a small summary: ``read``, ``created``, ``updated``, ``unchanged``, ``deleted``, ``blacklisted``,
    ``rejected``, ``api_calls``, ``lastSync``, the ledger path and per-reason reject counts.

    :param mode: ``incremental`` (people changed in the data interval, from the activity feed) or ``full``
        (everyone, from a people export) (templated).
    :param since: manual runs: start of the window (``YYYY-MM-DD`` or ISO date-time), up to the interval end or
        now (templated). A run without a data interval and without ``since`` resumes from the last synced
        watermark, and fails with a clear message when there is none.
    :param dry_run: read, map and count what would be written; write nothing to Brevo (templated).
    :param step: ``all`` (default), ``extract`` (Customer.io side only) or ``load`` (Brevo side only) (templated).
    :param config_path: the YAML config; default ``$CUSTOMERIO_PROVIDER_CONFIG`` or ``customerio_config.yaml``
        in the DAGs folder (templated).
    :param customerio_app_conn_id: Customer.io App API connection (templated).
    :param brevo_conn_id: Brevo connection (templated).
    :param sync_name: names the run's checkpoint and ledger; the extract and load tasks of one run share it.
    :param deferrable: wait for the Brevo import processes in the triggerer.
    :param import_timeout: seconds to wait for the import processes.
    :param poll_interval: first interval between polls of the import processes (it grows; ``/processes`` is
        limited to 100 requests/hour).
    :param export_timeout: seconds to wait for the Customer.io people export.
    :param export_check_interval: seconds between polls of the export.
    :param customerio_app_hook_params: keyword arguments of the App hook (default: the rate of this task's pool).
    :param brevo_hook_params: keyword arguments of the Brevo hook (default: the rate of this task's pool).
    """

    lineage_capability = "people"
    template_fields: Sequence[str] = (
        "mode",
        "since",
        "dry_run",
        "step",
        "config_path",
        "customerio_app_conn_id",
        "brevo_conn_id",
        "sync_name",
    )
    ui_color = "#a7d8f0"

    def __init__(
        self,
        *,
        mode: str = "incremental",
        since: str | None = None,
        dry_run: bool | str = False,
        step: str = "all",
        config_path: str | None = None,
        customerio_app_conn_id: str = "customerio_app_default",
        brevo_conn_id: str = "brevo_default",
        sync_name: str = "people",
        deferrable: bool | None = None,
        import_timeout: float = 3600.0,
        poll_interval: float = 5.0,
        export_timeout: float = 3600.0,
        export_check_interval: float = 5.0,
        customerio_app_hook_params: dict[str, Any] | None = None,
        brevo_hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.since = since
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.step = step
        self.config_path = config_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.sync_name = sync_name
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.import_timeout = import_timeout
        self.poll_interval = poll_interval
        self.export_timeout = export_timeout
        self.export_check_interval = export_check_interval
        self.customerio_app_hook_params = customerio_app_hook_params
        self.brevo_hook_params = brevo_hook_params

        declare_outlets(self, "people")

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the step(s); may defer while Brevo processes the imports."""
        self._resolve(context)
        return self._run()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger reported the import processes."""
        self._resolve(context)
        return self._resume(event or {})

    def _resolve(self, context: Mapping[str, Any]) -> None:
        """Resolve the rendered arguments, the config and the run's ids for this execution."""
        self._context = context
        self._mode = str(self.mode or "incremental").strip()
        if self._mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        self._step = str(self.step or "all").strip()
        if self._step not in STEPS:
            raise ValueError(f"step must be one of {', '.join(STEPS)}, got {self.step!r}")
        self._dry_run = as_bool(self.dry_run, "dry_run")
        self._since = as_optional_str(self.since)
        self._config = load_customerio_config(self.config_path)
        level = "DEBUG" if self._config.debug else self._config.log_level.upper()
        logging.getLogger("airflow_provider_customerio").setLevel(level)
        self._dag_id, self._run_id, _ = run_ids(context, default_dag_id=self.dag_id, default_run_id="manual")
        self._run_key = f"{self._dag_id}/{self._run_id}/{self.sync_name}"

    # ---------------------------------------------------------------------------------------- resources

    @cached_property
    def _store(self) -> SyncStore:
        """The shared sync store."""
        return open_sync_store(self._config)

    def _hook_params(self, given: Mapping[str, Any] | None, api_pool: str) -> dict[str, Any]:
        params = pool_hook_params(given, api_pool, self.pool)
        return {"log_api_calls": True, **params} if self._config.log_api_calls else params

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook (rate of this task's pool unless given)."""
        return CustomerIOAppHook(
            self.customerio_app_conn_id, **self._hook_params(self.customerio_app_hook_params, CUSTOMERIO_APP_POOL)
        )

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook (rate of this task's pool unless given)."""
        return BrevoHook(self.brevo_conn_id, **self._hook_params(self.brevo_hook_params, BREVO_POOL))

    @cached_property
    def _notices(self) -> BrevoImportNotices | None:
        """Brevo's end-of-import notices when the connection has ``notify_url``; else ``None`` (the waits poll)."""
        return BrevoImportNotices.for_hook(self.brevo_hook, self._store)

    @cached_property
    def _slots(self) -> ImportSlots:
        """The Brevo account's import slots, held by this run's sync (one import in flight by default)."""
        return brevo_import_slots(self._store, self.brevo_hook, self._run_key)

    def _open(self) -> PeopleSync:
        store = self._store
        state = store.state()
        cp = state.get_checkpoint(self._run_key)
        # Resuming: cut the ledger back to the last checkpoint. A new run (no checkpoint) starts a new ledger.
        ledger = store.ledger(
            self._dag_id, self._run_id, self.sync_name, truncate_to=int((cp or {}).get("ledger_offset") or 0)
        )
        attrs = [f.source for f in self._config.field_mapping if f.target != EMAIL_TARGET]
        source = CustomerIOPeopleSource(
            self.app_hook,
            attributes=attrs,
            export_timeout=self.export_timeout,
            export_check_interval=self.export_check_interval,
        )
        return PeopleSync(
            config=self._config,
            source=source,
            sink=BrevoContactSink(self.brevo_hook, notices=self._notices),
            state=state,
            ledger=ledger,
            run_key=self._run_key,
            process_notices=self._notices,
            notice_deadline_s=self._notices.deadline_s if self._notices else None,
            slots=self._slots,
            slot_timeout=self.import_timeout,
        )

    def _calls(self) -> int:
        calls = 0
        for name in ("app_hook", "brevo_hook"):
            hook = self.__dict__.get(name)
            if hook is not None:
                calls += hook.api_calls
                hook.api_calls = 0
        return calls

    @staticmethod
    def _close(sync: PeopleSync) -> None:
        sync.ledger.close()
        sync.state.close()

    # ---------------------------------------------------------------------------------------- steps

    def _run(self) -> dict[str, Any]:
        if not self._config.enabled or not self._config.sync.people:
            skip("connectors.customerio.enabled / sync.people is false")
        with sync_lease(self._store, f"people:{self.sync_name}", self._context):
            if self._step == "extract":
                return self._execute()
            with self._slots.kept_alive():
                return self._execute()

    def _execute(self) -> dict[str, Any]:
        log = self.log
        sync = self._open()
        try:
            if self._step in ("all", "extract"):
                window = incremental_window(
                    self._context,
                    mode=self._mode,
                    since=self._since,
                    state=sync.state,
                    watermark_key="people.cio_to_brevo.until",
                )
                if window is not None:
                    log.info("Incremental window [%s, %s)", window.start.isoformat(), window.end.isoformat())
                summary = sync.extract(mode=self._mode, window=window, dry_run=self._dry_run)
                summary.api_calls += self._calls()
                sync.save_progress()
                if self._step == "extract":
                    out = summary.to_xcom()
                    log.info("Extracted: %s", out)
                    return out
            while True:  # with every import slot taken, load() stops early: wait for this run's imports, go on
                pending = sync.load()
                if pending and self.deferrable:
                    log.info("Waiting for Brevo import process(es) %s in the triggerer", ", ".join(pending))
                    self._defer(sync, pending)
                sync.wait(timeout=self.import_timeout, delays=poll_delays(initial=self.poll_interval))
                if sync.loaded:
                    return self._finish(sync)
        finally:
            self._close(sync)

    def _resume(self, event: Mapping[str, Any]) -> dict[str, Any]:
        with sync_lease(self._store, f"people:{self.sync_name}", self._context), self._slots.kept_alive():
            return self._complete(event)

    def _complete(self, event: Mapping[str, Any]) -> dict[str, Any]:
        sync = self._open()
        try:
            sync.attach()
            status = event.get("status")
            states = [import_process_state(p) for p in (event.get("processes") or {}).values()]
            pending = sync.complete(states)
            if status == "error":
                raise PeopleSyncError(
                    f"Waiting for the Brevo import processes failed: {event.get('message')}. "
                    "The imports stay pending; clear the task to resume waiting."
                )
            if status == "timeout" and event.get("pending"):
                raise BrevoProcessTimeout(
                    f"Brevo import process(es) {', '.join(event['pending'])} not finished after "
                    f"{self.import_timeout:.0f} s; clear the task to resume waiting.",
                    event["pending"],
                )
            if not sync.loaded:  # load() had stopped for an import slot: send the next imports
                pending = sync.load()
            if pending:  # the next imports, or failed ones resubmitted: wait for them too
                self._defer(sync, pending)
            return self._finish(sync)
        finally:
            self._close(sync)

    def _defer(self, sync: PeopleSync, pending: Sequence[str]) -> None:
        """Save the progress and wait for the import processes in the triggerer (raises ``TaskDeferred``)."""
        sync.summary.api_calls += self._calls()
        sync.save_progress()
        self.defer(
            trigger=BrevoProcessTrigger(
                process_ids=pending,
                brevo_conn_id=self.brevo_conn_id,
                end_time=time.time() + self.import_timeout,
                poll_interval=self.poll_interval,
                notify=self._notices is not None,
                store_conn_id=self._config.store_conn_id,
                store_path=str(self._config.people.state_path) if self._config.people.state_path else None,
                notice_deadline_s=self._notices.deadline_s if self._notices else None,
                slot_account=self._slots.account,
                slot_holder=self._slots.holder,
                slot_ttl=self._slots.ttl,
            ),
            method_name="execute_complete",
        )

    def _finish(self, sync: PeopleSync) -> dict[str, Any]:
        sync.summary.api_calls += self._calls()
        summary = sync.finish()
        out = summary.to_xcom()
        if summary.rejected or summary.value_rejects:
            self.log.warning(
                "%d people rejected, %d values left out; reasons in the ledger %s",
                summary.rejected,
                summary.value_rejects,
                summary.ledger,
            )
        self.log.info("People sync summary: %s", out)
        record_summary(self._store, "people", self._context, self.task_id, out)
        return out


__all__ = ["CustomerIOToBrevoPeopleOperator"]
