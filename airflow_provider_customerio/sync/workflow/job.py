"""The two workflow-state tasks as jobs of the one sync lifecycle (:mod:`airflow_provider_customerio.sync.lifecycle`).

* :class:`DeriveJob`: fold the window's messages and stored webhook events, stage the people whose state changed
  (no Brevo process to wait for);
* :class:`WriteJob`: write the staged people in Brevo imports, one at a time; the operator's base waits for each
  import (in the triggerer when deferrable) and the job records the written tokens once it completed.

Pure logic, no Airflow and no HTTP: the vendors come in as callables and ports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.ports import RejectSink
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.workflow.derive import STAGED_KIND, WORKFLOW_DIRECTION, derive_changes
from airflow_provider_customerio.sync.workflow.fold import StateBuilder
from airflow_provider_customerio.sync.workflow.write import WorkflowStateWriter

log = logging.getLogger(__name__)

#: The checkpoint key holding the attributes the write task created (kept across a deferral).
CREATED_KEY = "attributes_created"


class DeriveJob:
    """The derive task's run: read, fold, compare with the written tokens, stage what changed.

    :param state: the sync state store (written tokens, the run's staging).
    :param ledger: the run's rejected-records ledger.
    :param run_key: the staging key shared with the write task.
    :param names: the Brevo attribute of each state field.
    :param window: ``(start_ts, end_ts, manual)`` of the messages read.
    :param campaign_names: ``() -> {campaign id: name}``.
    :param messages: ``(start_ts, end_ts) -> messages`` of ``/v1/messages``.
    :param events: ``(start_ts, end_ts) -> stored webhook events``, or ``None`` to read none.
    :param api_calls: the calls the task's hooks made since last asked.
    """

    #: The derive task reports its counts as its XCom only (the status page shows the write task's).
    records_summary = False

    def __init__(
        self,
        *,
        state: Any,
        ledger: Any,
        run_key: str,
        names: Mapping[str, str],
        window: tuple[int, int, bool],
        campaign_names: Callable[[], Mapping[str, str]],
        messages: Callable[[int, int], Iterable[Mapping[str, Any]]],
        events: Callable[[int, int], Iterable[Mapping[str, Any]]] | None,
        api_calls: Callable[[], int],
    ) -> None:
        self.state = state
        self.ledger = ledger
        self.run_key = run_key
        self.names = names
        self.window = window
        self.campaign_names = campaign_names
        self.messages = messages
        self.events = events
        self.api_calls = api_calls
        self.out: dict[str, Any] = {}

    def run(self) -> Sequence[str]:
        start_ts, end_ts, manual = self.window
        campaign_names = dict(self.campaign_names())
        builder = StateBuilder()
        for message in self.messages(start_ts, end_ts):
            builder.add_message(message)
        for event in self.events(start_ts, end_ts) if self.events is not None else ():
            builder.add_event(event)
        result = derive_changes(
            builder.states(),
            names=self.names,
            campaign_names=campaign_names,
            stored_tokens=lambda keys: self.state.get_hashes(WORKFLOW_DIRECTION, list(keys)),
        )
        self._ledger(result.rejected, builder.unidentified)
        staged = self.state.stage_items(
            self.run_key, [(key, STAGED_KIND, {"token": token, "row": row}) for key, token, row in result.changes]
        )
        self.out = {
            **result.counts(),
            "staged": staged,
            "messages": builder.messages_read,
            "webhook_events": builder.events_read,
            "window": {"start_ts": start_ts, "end_ts": end_ts, "manual": manual},
            "run_key": self.run_key,
            "ledger": self.ledger.key if self.ledger.total else None,
        }
        log.info(
            "Workflow state: %d people from %d messages and %d webhook events; %d new, %d changed, %d "
            "unchanged, %d stale, %d rejected; %d staged for Brevo.",
            result.people,
            builder.messages_read,
            builder.events_read,
            result.new,
            result.changed,
            result.unchanged,
            result.stale,
            len(result.rejected),
            staged,
        )
        return []

    def _ledger(self, rejected: Iterable[Any], unidentified: Iterable[Mapping[str, Any]]) -> None:
        for r in rejected:
            self.ledger.reject(
                record_id=r.person_key, reason=r.reason, message=r.message, stage="derive", identifiers=r.identifiers
            )
        for item in unidentified:
            self.ledger.reject(
                record_id=item.get("delivery_id"),
                reason="missing_identifier",
                message="a message or webhook event names no person (no cio_id, id or email)",
                stage="derive",
                detail=item,
            )

    def resume(self) -> None:
        """Nothing to resume: the derive task starts no Brevo process."""

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        return []

    def save(self) -> None:
        """Everything is in the store once :meth:`run` returns."""

    def finish(self) -> Mapping[str, Any]:
        return {**self.out, "api_calls": self.api_calls()}

    def close(self) -> None:
        self.ledger.close()


class WriteJob:
    """The write task's run: create the missing attributes, then the imports of the staged rows, one at a time.

    :param writer: the run's writer (on the sync state store).
    :param ledger: the run's rejected-records ledger (closed with the job).
    :param ensure_attributes: ``() -> names created``: checks (and, when allowed, creates) the Brevo attributes.
    :param api_calls: the calls the task's hooks made since last asked.
    """

    def __init__(
        self,
        writer: WorkflowStateWriter,
        *,
        ledger: RejectSink,
        ensure_attributes: Callable[[], list[str]],
        api_calls: Callable[[], int],
    ) -> None:
        self.writer = writer
        self.ledger = ledger
        self.ensure_attributes = ensure_attributes
        self.api_calls = api_calls

    def run(self) -> Sequence[str]:
        state, run_key = self.writer.state, self.writer.run_key
        if not self.writer.dry_run and (state.count_staged(run_key) or state.pending_processes(run_key)):
            created = self.ensure_attributes()
            state.save_checkpoint(run_key, {**(state.get_checkpoint(run_key) or {}), CREATED_KEY: created})
        return self.writer.start()

    def resume(self) -> None:
        """The writer reads its pending imports, checkpoint and counts from the store."""

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        return self.writer.complete(states)

    def save(self) -> None:
        """The writer keeps its progress in the store at each step."""

    def finish(self) -> Mapping[str, Any]:
        writer = self.writer
        created = list((writer.state.get_checkpoint(writer.run_key) or {}).get(CREATED_KEY) or [])
        result = writer.finish()
        log.info(
            "Workflow state written for %d people in %d import(s) (%d re-submitted); %d rejected.",
            result.written,
            result.imports,
            result.resubmitted,
            result.rejected,
        )
        ledger: Any = self.ledger
        out: dict[str, Any] = {
            **result.as_dict(),
            "attributes_created": created,
            "run_key": writer.run_key,
            "ledger": ledger.key if ledger.total else None,
            "api_calls": self.api_calls(),
        }
        if writer.dry_run:
            out["dry_run"] = True
            out["plan"] = {
                "creates": 0,
                "updates": writer.planned,
                "deletes": 0,
                "list_adds": 0,
                "list_removals": 0,
                "updates_items": writer.planned_keys,
            }
        return out

    def close(self) -> None:
        ledger: Any = self.ledger
        ledger.close()
