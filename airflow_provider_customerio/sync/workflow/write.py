"""Write a run's staged workflow-state rows to Brevo in import batches, and record what was written.

Pure logic, no Airflow and no HTTP: pack the staged rows into Brevo import batches, submit, wait for each process
and only then record the written tokens. A killed task resumes: submitted imports are recorded before waiting,
and a re-submitted import is an upsert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer
from airflow_provider_customerio.sync.ports import RejectSink, SyncState
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.workflow.derive import STAGED_KIND, WORKFLOW_DIRECTION

#: Brevo import bodies may be 10 MB; stay well below.
IMPORT_MAX_BYTES = 4_000_000
IMPORT_MAX_ROWS = 50_000
#: A failed import is submitted again this many times before its rows go to the ledger.
IMPORT_ATTEMPTS = 2


class ImportSink(Protocol):
    """Brevo imports: ``submit`` returns a process id; ``wait`` returns the ended process's state (its
    ``succeeded`` flag, its error and its report of refused rows)."""

    def submit(self, rows: list[dict[str, Any]]) -> str: ...
    def wait(self, process_id: str) -> ProcessState: ...


def import_problem_count(process: ProcessState) -> int:
    """Rows Brevo reported as invalid or duplicate in a finished import (the report's counts, plus the rows it
    names)."""
    return sum(process.report.unidentified.values()) + len(process.report.rejected)


@dataclass
class WriteResult:
    """Counts of :meth:`WorkflowStateWriter.run`."""

    written: int = 0
    imports: int = 0
    resubmitted: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class WorkflowStateWriter:
    """Writes a run's staged rows to Brevo in import batches and records what was written.

    :param state: the sync state store (staging, pending imports, tokens).
    :param port: Brevo imports.
    :param run_key: the run's key (shared by the derive and write tasks).
    :param rejects: the ledger.
    :param dry_run: submit nothing: count the staged rows (``planned``, with up to 50 example keys in
        ``planned_keys``) and drop the run's staging.
    """

    def __init__(
        self,
        state: SyncState,
        port: ImportSink,
        *,
        run_key: str,
        rejects: RejectSink,
        max_bytes: int = IMPORT_MAX_BYTES,
        max_rows: int = IMPORT_MAX_ROWS,
        dry_run: bool = False,
    ) -> None:
        self.state = state
        self.port = port
        self.run_key = run_key
        self.rejects = rejects
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        saved = (state.get_checkpoint(run_key) or {}).get("result") or {}
        self.result = WriteResult(**{k: int(v) for k, v in saved.items() if k in WriteResult.__dataclass_fields__})
        self.dry_run = dry_run
        self.planned = 0
        self.planned_keys: list[str] = []

    def run(self) -> WriteResult:
        """Write every staged row, blocking: :meth:`start`, wait for each import, :meth:`complete`, until nothing
        is pending; then :meth:`finish`."""
        pending = self.start()
        while pending:
            pending = self.complete([self.port.wait(pid) for pid in pending])
        return self.finish()

    def start(self) -> list[str]:
        """The imports to wait for: those an earlier (killed or deferred) attempt left pending, else the next batch,
        submitted now. A dry run submits nothing: it counts the staged rows and returns ``[]``."""
        if self.dry_run:
            self._plan()
            return []
        return self._pending_ids() or self._submit_next()

    def complete(self, states: Iterable[ProcessState]) -> list[str]:
        """Take the ended imports (their rows' tokens are recorded, or the rows ledgered or re-submitted) and return
        the imports to wait for next: what is still pending, else the next batch, submitted now."""
        attempts = {str(p.process_id): int(p.attempt) for p in self.state.pending_processes(self.run_key)}
        for process in states:
            if process.finished and process.process_id in attempts:
                self._settle(process, attempts[process.process_id])
        return self._pending_ids() or self._submit_next()

    def finish(self) -> WriteResult:
        """Drop the run's staging (every row is written, ledgered or, in a dry run, counted) and return the counts."""
        self.state.clear_run(self.run_key)
        return self.result

    def _plan(self) -> None:
        for _seq, key, _kind, data in self.state.iter_staged(self.run_key, kind=STAGED_KIND):
            if data:
                self.planned += 1
                if len(self.planned_keys) < 50:
                    self.planned_keys.append(key)

    def _pending_ids(self) -> list[str]:
        return [str(p.process_id) for p in self.state.pending_processes(self.run_key)]

    def _checkpoint(self) -> dict[str, Any]:
        return dict(self.state.get_checkpoint(self.run_key) or {})

    def _save(self, next_seq: int | None = None) -> None:
        """The checkpoint: the next staged row to pack and the counts so far (a deferred task resumes both)."""
        data = self._checkpoint()
        if next_seq is not None:
            data["next_seq"] = next_seq
        data["result"] = self.result.as_dict()
        self.state.save_checkpoint(self.run_key, data)

    def _submit_next(self) -> list[str]:
        """Pack the staged rows from the checkpoint on and submit the first full (or last) batch: one import in
        flight at a time. Oversize rows met on the way go to the ledger. ``[]``: nothing left."""
        next_seq = int(self._checkpoint().get("next_seq", 0))
        # jsonBody is a list of rows: "[", "]" and ", " between rows (requests' json= encoding)
        packer: Packer[tuple[int, str, str, dict[str, Any]]] = Packer(
            max_bytes=self.max_bytes,
            max_count=self.max_rows,
            overhead_bytes=2,
            separator_bytes=2,
            size_of=lambda item: len(json.dumps(item[3]).encode("utf-8")),
        )
        for seq, key, _kind, data in self.state.iter_staged(self.run_key, from_seq=next_seq, kind=STAGED_KIND):
            if not data:
                continue
            submitted = [
                pid
                for out in packer.add((seq, key, str(data["token"]), dict(data["row"])))
                for pid in self._handle(out)
            ]
            if submitted:
                return submitted
        return [pid for out in packer.flush() for pid in self._handle(out)]

    def _handle(
        self, out: Batch[tuple[int, str, str, dict[str, Any]]] | Oversize[tuple[int, str, str, dict[str, Any]]]
    ) -> list[str]:
        if isinstance(out, Oversize):
            seq, key, _token, row = out.item
            self.result.rejected += 1
            self.rejects.reject(
                record_id=key, reason=out.reason, message=out.message, stage="pack", identifiers=_row_identifiers(row)
            )
            self._save(next_seq=seq + 1)
            return []
        items = out.items
        rows = [(key, token, row) for _seq, key, token, row in items]
        return [self._submit(rows, attempt=1, next_seq=items[-1][0] + 1)]

    def _submit(self, rows: list[tuple[str, str, dict[str, Any]]], *, attempt: int, next_seq: int | None) -> str:
        self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
        process_id = str(self.port.submit([row for _, _, row in rows]))
        self.result.imports += 1
        with self.state.transaction():  # the pending import and the checkpoint past its rows, together
            self.state.add_pending(self.run_key, process_id, rows, attempt=attempt)
            self._save(next_seq)
        return process_id

    def _settle(self, process: ProcessState, attempt: int) -> None:
        process_id = process.process_id
        rows = [(r.person_key, r.hash, dict(r.row)) for r in self.state.iter_pending_rows(self.run_key, process_id)]
        if process.succeeded:
            with self.state.transaction():
                self._written(process_id, process, rows)
                self.state.drop_pending(self.run_key, process_id)
                self._save()
            return
        # failed or cancelled
        self.state.drop_pending(self.run_key, process_id)
        if attempt < IMPORT_ATTEMPTS and rows:
            self.result.resubmitted += 1
            self._submit(rows, attempt=attempt + 1, next_seq=None)
            return
        for key, _token, row in rows:
            self.result.rejected += 1
            self.rejects.reject(
                record_id=key,
                reason="import_failed",
                message=f"Brevo import {process_id} ended '{process.status}' ({process.error or 'no reason given'}) "
                f"after {attempt} attempts; the row is re-sent on the next run",
                stage="import",
                identifiers=_row_identifiers(row),
                detail={"process_id": process_id},
            )
        self._save()

    def _written(self, process_id: str, process: ProcessState, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Record the tokens of a completed import's rows, unless Brevo reported refused rows."""
        problems = import_problem_count(process)
        if not problems:
            self.state.set_hashes(WORKFLOW_DIRECTION, [(key, token) for key, token, _ in rows])
            self.result.written += len(rows)
            return
        # Brevo reports counts, not which rows: none of the batch is marked written (all are re-sent on the next
        # run) and each row is in the ledger, so nothing is silently lost.
        report = {"unidentified": dict(process.report.unidentified), "rejected": dict(process.report.rejected)}
        for key, _token, row in rows:
            self.result.rejected += 1
            self.rejects.reject(
                record_id=key,
                reason="import_unverified",
                message=f"Brevo import {process_id} reported {problems} invalid or duplicate rows out of "
                f"{len(rows)} without naming them; this row may not be written and is re-sent "
                "on the next run",
                stage="import",
                identifiers=_row_identifiers(row),
                detail={"process_id": process_id, "report": report},
            )


def _row_identifiers(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if row.get("email"):
        out["email"] = row["email"]
    ext = (row.get("attributes") or {}).get("EXT_ID")
    if ext:
        out["ext_id"] = ext
    return out
