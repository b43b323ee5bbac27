"""Object data sync Customer.io -> Brevo: objects (companies, accounts, ...) into Brevo custom objects, with
their relationships to people mirrored as associations to Brevo contacts.

The sync talks to two ports, :class:`~.ports.ObjectSource` (Customer.io App API) and :class:`~.ports.ObjectSink`
(Brevo); the operator adapts the hooks to them, tests use in-memory fakes. No Airflow and no HTTP imports here.

Flow of one run (checkpointed in the state store under ``dag_id/run_id/task_id``):

1. ``check`` (:mod:`.plan`): every configured Customer.io object type must exist (``GET /v1/object_types``), and
   every target Brevo object type must exist. Brevo creates object types and their attributes only in its UI, and
   drops unknown attribute keys silently, so a missing type fails the run **before anything is written**, with
   one message listing every type and attribute key to create.
2. ``collect`` and 3. ``load`` (:mod:`.load`): stage the object ids of each type, then read, map, diff, pack and
   submit the changed objects; objects no longer listed follow ``objects.delete_policy`` (:mod:`.gone`).
4. ``wait``: wait for the upsert processes (deferrable in the operator); a finished process commits its rows
   (hash + linked set); a failed one is resubmitted, then ledgered (:mod:`.outcome`).
5. ``verify`` (:mod:`.verify`): attribute keys not yet known to exist in Brevo are checked by reading back records
   written by this run; a key Brevo dropped fails the run naming the keys to create.

Related contacts are checked to exist before they are linked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from airflow_provider_customerio.sync.objects import gone, load, outcome
from airflow_provider_customerio.sync.objects.mapping import TypePlan
from airflow_provider_customerio.sync.objects.plan import check_brevo_types, plan_types
from airflow_provider_customerio.sync.objects.ports import MissingBrevoAttributes, ObjectSyncError
from airflow_provider_customerio.sync.objects.run import DIRECTION, ForwardRun
from airflow_provider_customerio.sync.objects.verify import verify
from airflow_provider_customerio.sync.processes import ProcessState, wait_for_pending
from airflow_provider_customerio.sync.summary import SyncSummary

log = logging.getLogger(__name__)


class ObjectSync(ForwardRun):
    """One object sync run Customer.io -> Brevo: ``run`` (check, collect, load) returns the upsert processes to
    wait for; then :meth:`wait` (blocking) or :meth:`complete` with finished process states (deferral), and
    :meth:`finish`. The arguments are those of :class:`~.run.ForwardRun`.
    """

    def run(self, *, dry_run: bool = False) -> list[str]:
        """Run (or resume) check, collect and load. Returns the process ids to wait for; then call :meth:`wait`
        (blocking) or :meth:`complete` with finished process states (deferral), and :meth:`finish`."""
        cp = self.state.get_checkpoint(self.run_key)
        if cp and cp.get("kind") == "objects" and not dry_run and not cp.get("dry_run"):
            self.checkpoint = cp
            self.summary = SyncSummary.from_state(cp.get("summary") or {})
            log.info("Resuming %s from step %s (offset %s)", self.run_key, cp.get("step"), cp.get("offset"))
        else:
            if cp:
                self.state.clear_run(self.run_key)
            self.checkpoint = {
                "kind": "objects",
                "step": "check",
                "offset": 0,
                "dry_run": dry_run,
                "counters": {"links": 0, "unlinks": 0, "records": 0},
                "verify": {},
            }
            self.summary = SyncSummary(direction=DIRECTION, mode="full", dry_run=dry_run)
        self.summary.ledger = self.ledger.key
        plans = self.check()
        self.plans = {p.type_id: p for p in plans}
        if self.checkpoint["step"] == "check":
            self.checkpoint["plans"] = [
                {
                    "type_id": p.type_id,
                    "name": p.name,
                    "brevo_type": p.brevo_type,
                    "field_mapping": dict(p.field_mapping),
                }
                for p in plans
            ]
            self._save(step="collect", offset=0)
        if self.checkpoint["step"] == "collect":
            load.collect(self, plans)
            self._save(step="load", offset=0)
        if self.checkpoint["step"] == "load":
            load.load(self, dry_run)
            gone.remove_gone(self, plans)
            self._save(step="wait", offset=0)
        return [p.process_id for p in self.state.pending_processes(self.run_key)]

    def attach(self) -> None:
        """Load the checkpoint of this run without running any step (back from a deferral)."""
        cp = self.state.get_checkpoint(self.run_key)
        if not cp or cp.get("kind") != "objects":
            raise ObjectSyncError(f"no unfinished object sync run {self.run_key} to resume: re-run the task.")
        self.checkpoint = cp
        self.summary = SyncSummary.from_state(cp.get("summary") or {})
        self.summary.ledger = self.ledger.key
        self.plans = {
            p["type_id"]: TypePlan(p["type_id"], p["name"], p["brevo_type"], p["field_mapping"])
            for p in cp.get("plans") or []
        }

    def save_progress(self) -> None:
        """Keep the checkpoint now (the ledger's offset and the summary included), e.g. before a deferral."""
        self._save()

    def check(self) -> list[TypePlan]:
        """Check the Customer.io and Brevo preconditions; raise before anything is written."""
        plans = plan_types(self.config, self.source.list_object_types(), self.type_ids)
        probes = check_brevo_types(plans, self.sink)
        for plan in plans:
            seen = set(probes[plan.brevo_type].sample_keys) & set(plan.target_keys)
            if seen - set(self.verified_keys(plan.brevo_type)):
                self.set_verified_keys(plan.brevo_type, set(self.verified_keys(plan.brevo_type)) | seen)
        return plans

    def wait(self, *, timeout: float, delays: Iterable[float] | None = None) -> None:
        """Block until every pending upsert process is finished, handling each as it finishes.

        :raises BrevoProcessTimeout: some are still running after ``timeout`` seconds (their records stay pending).
        """

        wait_for_pending(
            self, timeout=timeout, delays=delays, what="object upsert", held="records", timeout_option="process_timeout"
        )

    def complete(self, states: Iterable[ProcessState]) -> list[str]:
        """Handle finished processes. Returns the process ids still pending (resubmissions included)."""
        pending = {p.process_id: p for p in self.state.pending_processes(self.run_key)}
        for st in states:
            p = pending.get(str(st.process_id))
            if p is None or not st.finished:
                continue
            if st.succeeded:
                outcome.commit(self, p.process_id, st.error)
            else:
                outcome.failed(self, p.process_id, p.attempt, st.error)
        self._save()
        return [p.process_id for p in self.state.pending_processes(self.run_key)]

    def finish(self) -> dict[str, Any]:
        """Verify attribute keys, close the run and return its summary (the XCom dict)."""
        if self.state.pending_processes(self.run_key):
            raise ObjectSyncError("finish() called while upserts are pending; call wait() or complete() first.")
        s = self.summary
        try:
            if not s.dry_run:
                verify(self)
        except MissingBrevoAttributes:
            # The objects were invalidated: a retry of this task must write them again, not resume.
            self.ledger.close()
            self.state.clear_run(self.run_key)
            raise
        s.rejected = self.ledger.record_rejects
        s.value_rejects = self.ledger.total - self.ledger.record_rejects
        s.rejects_by_reason = self.ledger.counts.copy()
        s.finish()
        self.ledger.close()
        if not s.dry_run:
            self.state.set_watermark("objects.cio_to_brevo.last_sync", s.last_sync or "")
        counters = dict(self.counters)
        self.state.clear_run(self.run_key)
        out = s.to_xcom()
        out.update(
            links_added=counters["links"],
            links_removed=counters["unlinks"],
            records_sent=counters["records"],
            gone=counters.get("gone", 0),
            flagged=counters.get("flagged", 0),
            delete_policy=self.config.objects.delete_policy,
            objects_known=self.objects.count(),
            types={p.type_id: p.brevo_type for p in self.plans.values()},
        )
        return out

    # -------------------------------------------------------------- steps


def run_blocking(
    sync: ObjectSync, *, dry_run: bool = False, timeout: float = 3600.0, delays: Iterable[float] | None = None
) -> dict[str, Any]:
    """Run a whole object sync without deferral: load, wait for every upsert, verify, finish."""
    sync.run(dry_run=dry_run)
    sync.wait(timeout=timeout, delays=delays)
    return sync.finish()
