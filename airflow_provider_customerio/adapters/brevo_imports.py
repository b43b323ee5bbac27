"""The one Brevo imports component: every contact import of the provider (people, workflow state, segment lists)
is sent, waited for and judged here.

* :meth:`BrevoImports.start` sends ``POST /contacts/import`` with its end-of-import notice (the connection extra
  ``notify_url``; an earlier identical request whose answer was lost is adopted instead of sent again) and, when the
  component holds the account's import slots, only once a slot is free (Brevo: "Wait for your current import to
  finish before starting a new one", https://help.brevo.com/hc/en-us/articles/209499265).
* :meth:`BrevoImports.get_process` reads ``GET /processes/{id}`` into the sync core's
  :class:`~airflow_provider_customerio.sync.processes.ProcessState` (Brevo's status words are read here only).
* :meth:`BrevoImports.wait` blocks until processes end (notices first, then the growing poll schedule), and frees
  their slots. A task that defers waits in :class:`~airflow_provider_customerio.triggers.brevo.BrevoProcessTrigger`
  instead, which uses the same algorithm and frees the same slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices, request_digest, start_import
from airflow_provider_customerio.exceptions import NotFoundError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.brevo_status import BrevoProcessStatus
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.processes import (
    Clock,
    ImportReport,
    ProcessOutcome,
    ProcessState,
    poll_delays,
    wait_for_processes,
)

_IMPORT_REASONS = {"invalid_emails": "import_invalid"}


def outcome_of(process: Mapping[str, Any]) -> ProcessOutcome:
    """Brevo's status word of a ``GET /processes/{id}`` answer as the sync core's outcome (an unknown word: still
    running, so the wait polls again rather than take it for an end)."""
    if BrevoProcessStatus.is_failure(process):
        return ProcessOutcome.FAILED
    if BrevoProcessStatus.is_terminal(process):
        return ProcessOutcome.SUCCEEDED
    return ProcessOutcome.RUNNING


def process_state(process_id: str | int, process: Mapping[str, Any]) -> ProcessState:
    """A ``GET /processes/{id}`` answer (an object upsert's, or any process's) as a :class:`ProcessState`."""
    return ProcessState(
        str(process_id), outcome_of(process), error=process.get("error"), status=str(process.get("status") or "")
    )


def import_process_state(process: Mapping[str, Any]) -> ProcessState:
    """A contact import's ``GET /processes/{id}`` answer as a :class:`ProcessState`, with its report.

    ``info.import`` holds integer counts in the 2026 spec (followed by the sandbox) and report URLs in SDK 5;
    neither names the rows, so refused rows are reported as counts (``ImportReport.unidentified``), and the
    sync then leaves that batch's hashes uncommitted so the next run compares those people again.
    """
    info = ((process.get("info") or {}).get("import")) or {}
    unidentified: dict[str, int] = {}
    rejected: dict[str, str] = {}
    for key, value in info.items():
        reason = _IMPORT_REASONS.get(key, "import_duplicate" if key.startswith("duplicate") else "import_invalid")
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value > 0:
            unidentified[reason] = unidentified.get(reason, 0) + value
        elif isinstance(value, list):
            for ident in value:
                rejected[str(ident)] = reason
        elif isinstance(value, str) and value:
            unidentified[reason] = unidentified.get(reason, 0) + 1  # a report URL: at least one row
    return ProcessState(
        process_id=str(process.get("id")),
        outcome=outcome_of(process),
        error=process.get("error"),
        report=ImportReport(rejected=rejected, unidentified=unidentified, counts=import_problems(process)),
        status=str(process.get("status") or ""),
    )


def import_problems(process: Mapping[str, Any]) -> dict[str, Any]:
    """The non-zero counts of a finished import's ``info.import`` (rows Brevo refused, by kind)."""
    counts = ((process.get("info") or {}).get("import")) or {}
    return {k: v for k, v in counts.items() if v not in (None, 0, "", "0")}


class BrevoImports:
    """Brevo contact imports of one connection: send (with notice and import slot), read, wait.

    :param hook: the Brevo hook.
    :param notices: Brevo's end-of-import notices (the connection extra ``notify_url``), or ``None`` to poll.
    :param slots: the account's import slots: :meth:`start` waits for one (``slot_timeout`` seconds at most) and the
        waits free it. ``None``: the caller holds the slots itself (the people and object syncs bind them to their
        pending processes) or there are none.
    :param poll_interval: the first delay of the growing poll schedule of :meth:`wait`.
    :param clock: monotonic time and sleep (a fake in tests).
    """

    def __init__(
        self,
        hook: BrevoHook,
        *,
        notices: BrevoImportNotices | None = None,
        slots: ImportSlots | None = None,
        slot_timeout: float = 3600.0,
        poll_interval: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.hook = hook
        self.notices = notices
        self.slots = slots
        self.slot_timeout = slot_timeout
        self.poll_interval = poll_interval
        self.clock = clock

    # ------------------------------------------------------------------------------------------ send
    def start(self, rows: Sequence[Mapping[str, Any]], *, list_ids: Sequence[int] = (), **options: Any) -> str:
        """``POST /contacts/import`` of ``rows`` (``options``: the hook's ``import_contacts`` keywords), with its
        notice, in a slot; returns the process id. Never ``POST /contacts/batch`` (deprecated from 2026-10-30)."""
        list_ids = [int(i) for i in list_ids]
        options.setdefault("update_existing_contacts", True)
        options.setdefault("empty_contacts_attributes", False)

        def send(notify_url: str | None) -> int:
            return self.hook.import_contacts(json_body=rows, list_ids=list_ids, notify_url=notify_url, **options)

        digest = request_digest(rows, list_ids=list_ids, **options) if self.notices else None
        if self.slots is None:
            return str(start_import(send, self.notices, digest))
        return str(self.slots.submit(lambda: str(start_import(send, self.notices, digest)), timeout=self.slot_timeout))

    # ------------------------------------------------------------------------------------------ read and wait
    def get_process(self, process_id: str) -> ProcessState:
        """One ``GET /processes/{id}`` of an import."""
        return import_process_state(self.hook.get_process(int(process_id)))

    def finished(self, process_id: str) -> bool:
        """Whether the process has ended (for :class:`ImportSlots`: a slot bound to it may be freed)."""
        try:
            return BrevoProcessStatus.is_terminal(self.hook.get_process(int(process_id)))
        except NotFoundError:
            return True  # Brevo no longer knows it: nothing is running for it

    def wait(
        self, process_ids: Iterable[str | int], *, timeout: float, poll_first: bool = True, factor: float = 1.5
    ) -> dict[str, ProcessState]:
        """Block until every process has ended (notices first, then polls every ``poll_interval`` seconds, growing
        by ``factor`` up to 2 minutes: ``/processes`` has 100 requests/hour), free their slots, and return their
        states. ``poll_first``: poll once at once (else a just-submitted process is first waited for).

        :raises BrevoProcessTimeout: some still run after ``timeout`` seconds (their slots stay held)."""
        ids = [str(p) for p in process_ids]
        states = wait_for_processes(
            ids,
            self.get_process,
            timeout=timeout,
            finished=lambda st: st.finished,
            delays=poll_delays(initial=self.poll_interval, factor=factor, cap=120.0),
            clock=self.clock,
            poll_first=poll_first,
            **self.wait_options(),
        )
        if self.slots is not None:  # they ended: the account's next import may start
            self.slots.release(ids)
        return states

    def wait_options(self) -> dict[str, Any]:
        """The ``notices`` and ``notice_deadline_s`` keyword arguments of a wait (empty when polling)."""
        if self.notices is None:
            return {}
        return {"notices": self.notices, "notice_deadline_s": self.notices.deadline_s}


__all__ = ["BrevoImports", "import_problems", "import_process_state", "outcome_of", "process_state"]
