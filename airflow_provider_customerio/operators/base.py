"""The one lifecycle of every sync operator: :class:`SyncOperator` (it hands its capability a
:class:`~airflow_provider_customerio.runs.sync_run.SyncRun`).

A capability operator assigns its arguments in its constructor and supplies :meth:`SyncOperator.build_sync`, which
returns a :class:`~airflow_provider_customerio.sync.lifecycle.SyncJob` of the sync core for the run. The base owns
everything else, the same way for every capability: ``execute`` / ``execute_complete``, the run key, the skip
policy (the capability's config switch), the lease, the dry-run flag, the import slots kept alive, the wait for Brevo
processes (in the triggerer when deferrable, else blocking), and the summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.adapters.brevo_imports import import_process_state
from airflow_provider_customerio.lineage import LineageMixin
from airflow_provider_customerio.runs.lease import sync_lease
from airflow_provider_customerio.runs.settings import (
    default_deferrable,
    load_customerio_config,
    open_sync_store,
    pool_hook_params,
)
from airflow_provider_customerio.runs.summary import record_summary
from airflow_provider_customerio.runs.sync_run import SyncRun, SyncWaitError
from airflow_provider_customerio.runs.values import as_bool
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.lifecycle import SyncJob
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout, ProcessState
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

H = TypeVar("H")


class SyncOperator(LineageMixin, BaseOperator):
    """Base of the sync operators: the lifecycle of :mod:`~airflow_provider_customerio.sync.lifecycle`, once.

    Subclasses set :attr:`capability` (the summary's and lineage's name), :attr:`config_switch` (the
    ``connectors.customerio.sync.<switch>`` that turns the capability off: the task ends *skipped*) and implement
    :meth:`build_sync`; their constructor assigns its arguments and ends with ``declare_outlets(self, capability)``
    (the outlets depend on the connections it was given).

    :param dry_run: read, map and count what would be written; write nothing (templated).
    :param config_path: the YAML config; default ``$CUSTOMERIO_PROVIDER_CONFIG`` or ``customerio_config.yaml`` in
        the DAGs folder (templated).
    :param sync_name: names the run's checkpoint, staging and ledger; tasks of one DAG run that share it share the
        run (default: the capability's name, else the task id).
    :param deferrable: wait for Brevo's processes in the triggerer (default: Airflow's ``[operators]
        default_deferrable``).
    :param import_timeout: seconds to wait for Brevo's processes.
    :param poll_interval: first interval between polls of the processes (it grows; ``/processes`` has 100/hour).
    """

    capability: ClassVar[str] = ""
    config_switch: ClassVar[str | None] = None
    default_sync_name: ClassVar[str | None] = None
    #: The constructor argument that sets :attr:`import_timeout` (named in the timeout's message).
    timeout_option: ClassVar[str] = "import_timeout"
    template_fields: Sequence[str] = ("dry_run", "config_path", "sync_name")

    def __init__(
        self,
        *,
        dry_run: bool | str = False,
        config_path: str | None = None,
        sync_name: str | None = None,
        deferrable: bool | None = None,
        import_timeout: float = 3600.0,
        poll_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.config_path = config_path
        self.sync_name = sync_name or self.default_sync_name
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.import_timeout = import_timeout
        self.poll_interval = poll_interval
        self.lineage_capability = self.lineage_capability or self.capability

    # ------------------------------------------------------------------------------------------ for subclasses
    def build_sync(self, run: SyncRun) -> SyncJob:
        """The sync job of this run (the capability's only duty)."""
        raise NotImplementedError

    def load_config(self) -> CustomerIOConfig:
        """The ``connectors.customerio`` config of this task."""
        return load_customerio_config(self.config_path)

    def lease_name(self, run: SyncRun) -> str:
        """The lease that keeps two runs of this sync apart (default: ``<capability>:<sync_name>``)."""
        return f"{self.capability}:{run.sync_name}"

    def enabled(self, config: CustomerIOConfig) -> bool:
        """Whether the capability is on (``enabled`` and its ``sync.<config_switch>``)."""
        if not config.enabled:
            return False
        return self.config_switch is None or bool(getattr(config.sync, self.config_switch, True))

    def read_process(self, process_id: str, body: Mapping[str, Any]) -> ProcessState:
        """A ``GET /processes/{id}`` body from the trigger as the sync core's state (default: a contact import)."""
        return import_process_state({"id": process_id, **body})

    def make_hook(self, factory: Callable[..., H], conn_id: str, given: Mapping[str, Any] | None, api_pool: str) -> H:
        """A vendor hook at the rate this task's pool may use on ``api_pool`` (unless ``given``), with API-call
        logging when the config asks for it; a Brevo hook spends the account's hourly budget of "other endpoints"
        in the sync store, with every other task."""
        params = pool_hook_params(given, api_pool, self.pool)
        config = getattr(self, "_config", None)
        if config is not None and config.log_api_calls:
            params = {"log_api_calls": True, **params}
        hook = factory(conn_id, **params)
        share = getattr(hook, "share_hourly_budget", None)
        if config is not None and share is not None:
            share(open_sync_store(config).request_budget())
        return hook

    def take_api_calls(self) -> int:
        """The API calls of this task's hooks since the last call (the summary's ``api_calls``)."""
        calls = 0
        for value in list(self.__dict__.values()):
            # on the class: an unused hook's limiter (a cached property) would read its connection
            if isinstance(getattr(value, "api_calls", None), int) and hasattr(type(value), "rate_limiter"):
                calls += value.api_calls
                value.api_calls = 0
        return calls

    # ------------------------------------------------------------------------------------------ the lifecycle
    def execute(self, context: Context) -> Any:
        """Run the sync; may defer while Brevo processes what it sent."""
        run = self._start(context)
        return self._held(run, lambda job: job.run())

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger reported Brevo's processes."""
        run = self._start(context, resuming=True)
        event = event or {}

        def resume(job: SyncJob) -> Sequence[str]:
            job.resume()
            states = [self.read_process(str(pid), body) for pid, body in (event.get("processes") or {}).items()]
            pending = job.complete(states)
            if event.get("status") == "error":
                raise SyncWaitError(
                    f"Waiting for the Brevo processes failed: {event.get('message')}. What they carry stays "
                    "pending; clear the task to resume waiting."
                )
            if event.get("status") == "timeout" and event.get("pending"):
                raise self._timeout(event["pending"])
            return pending

        return self._held(run, resume)

    def _start(self, context: Mapping[str, Any], *, resuming: bool = False) -> SyncRun:
        config = self._config = self.load_config()
        level = "DEBUG" if config.debug else config.log_level.upper()
        logging.getLogger("airflow_provider_customerio").setLevel(level)
        # The switch decides whether a run starts; a resumed run has sent its processes and commits them.
        if not resuming and not self.enabled(config):
            switch = f"sync.{self.config_switch}" if self.config_switch else "enabled"
            raise AirflowSkipException(
                f"connectors.customerio.enabled / {switch} is false: the capability is off, nothing to do."
            )
        dry_run = as_bool(self.dry_run, "dry_run")
        return SyncRun(
            context, config, sync_name=self.sync_name or self.task_id, dry_run=dry_run, default_dag_id=self.dag_id
        )

    def _held(self, run: SyncRun, step: Callable[[SyncJob], Sequence[str]]) -> Any:
        """Under the run's lease: build the job, do ``step``, wait for what it started, finish."""
        with sync_lease(run.store, self.lease_name(run), run.context), ExitStack() as stack:
            job = self.build_sync(run)
            stack.callback(job.close)
            if run.slots is not None:
                stack.enter_context(run.slots.kept_alive())
            pending = list(step(job))
            while pending:
                if self.deferrable:
                    self._defer(run, job, pending)
                if run.imports is None:
                    raise RuntimeError(f"{type(self).__name__}: processes pending but no imports component")
                try:
                    states = run.imports.wait(pending, timeout=self.import_timeout, poll_first=False, factor=2.0)
                except BrevoProcessTimeout as exc:
                    job.save()  # what the processes carry stays pending: a re-run resumes waiting
                    raise self._timeout(exc.pending) from exc
                pending = list(job.complete(list(states.values())))
            return self._finish(run, job)

    def _timeout(self, pending: Sequence[str]) -> BrevoProcessTimeout:
        """The error of a wait that gave up (blocking or in the triggerer): what to do next, in the task's terms."""
        return BrevoProcessTimeout(
            f"Brevo process(es) {', '.join(pending)} not finished after {self.import_timeout:.0f} s; what they "
            f"carry stays pending: clear the task to resume waiting (or raise {self.timeout_option}).",
            pending,
        )

    def _defer(self, run: SyncRun, job: SyncJob, pending: Sequence[str]) -> None:
        """Keep the progress and wait for ``pending`` in the triggerer (raises ``TaskDeferred``)."""
        self.log.info("Waiting for Brevo process(es) %s in the triggerer", ", ".join(pending))
        job.save()
        notices = run.imports.notices if run.imports is not None else None
        slots = run.slots
        self.defer(
            trigger=BrevoProcessTrigger(
                process_ids=list(pending),
                brevo_conn_id=self._brevo_conn_id(),
                end_time=time.time() + self.import_timeout,
                poll_interval=self.poll_interval,
                notify=notices is not None,
                store_conn_id=run.config.store_conn_id,
                store_path=str(run.config.people.state_path) if run.config.people.state_path else None,
                notice_deadline_s=notices.deadline_s if notices is not None else None,
                slot_account=slots.account if slots is not None else None,
                slot_holder=slots.holder if slots is not None else None,
                slot_ttl=slots.ttl if slots is not None else 600.0,
            ),
            method_name="execute_complete",
        )

    def _brevo_conn_id(self) -> str:
        conn_id = getattr(self, "brevo_conn_id", None)
        if not conn_id:
            raise RuntimeError(f"{type(self).__name__} waits for Brevo processes but has no brevo_conn_id")
        return str(conn_id)

    def _finish(self, run: SyncRun, job: SyncJob) -> Any:
        summary = job.finish()
        out = dict(summary) if isinstance(summary, Mapping) else summary
        self.log.info("%s summary: %s", self.capability or type(self).__name__, out)
        if isinstance(out, dict) and getattr(job, "records_summary", True):
            record_summary(run.store, self.capability, run.context, self.task_id, out)
        return out


__all__ = ["SyncOperator"]
