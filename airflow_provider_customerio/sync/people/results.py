"""When a Brevo import process of a people run ends: commit the hashes and identities of the rows it applied and
ledger those it refused, or resubmit a failed process (up to ``max_import_attempts``), then ledger its rows."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_customerio.store.state import CIO_TO_BREVO, TO_BREVO
from airflow_provider_customerio.sync.hashing import value_digests
from airflow_provider_customerio.sync.mapping import row_field_values
from airflow_provider_customerio.sync.people.run import HASH_CHUNK, PeopleRun
from airflow_provider_customerio.sync.processes import ImportReport
from airflow_provider_customerio.sync.stale import BLACKLIST_FIELD

log = logging.getLogger(__name__)


class PeopleImportResults(PeopleRun):
    """What a people run does with its finished import processes."""

    def _commit_process(self, process_id: str, report: ImportReport, options: Mapping[str, Any] | None = None) -> None:
        s = self.summary
        commit_all = not report.unidentified
        written_at = float((options or {}).get("written_at") or self.now())
        blacklist = [(BLACKLIST_FIELD, True)] if (options or {}).get("email_blacklist") else []
        for unnamed_reason, count in report.unidentified.items():
            self.ledger.reject(
                record_id=None,
                reason=unnamed_reason,
                stage="import",
                message=f"Brevo's import process {process_id} refused {count} row(s) without naming "
                "them; the batch will be compared again next run",
                detail={"process_id": process_id, "count": count},
            )
        with self.state.transaction():
            rows = self.state.iter_pending_rows(self.run_key, process_id)
            while chunk := list(itertools.islice(rows, HASH_CHUNK)):
                # one read of the stored hashes and one identity write per chunk, not per row
                known = self.state.get_hashes(CIO_TO_BREVO, [pr.person_key for pr in chunk])
                hashes: list[tuple[str, str]] = []
                fields: list[tuple[str, dict[str, str]]] = []
                identities: list[tuple[str, str | None, str | None]] = []
                own: list[tuple[str, str, Any]] = []
                for pr in chunk:
                    row = pr.row
                    email = row.get("email")
                    ext_id = (row.get("attributes") or {}).get("EXT_ID")
                    reason = report.rejected.get(email or "") or report.rejected.get(str(ext_id or ""))
                    if reason:
                        self.ledger.reject(
                            record_id=pr.person_key,
                            reason=reason,
                            stage="import",
                            message=f"Brevo import process {process_id} refused the row ({reason})",
                            identifiers={"email": email, "id": ext_id},
                            detail={"process_id": process_id},
                        )
                        continue
                    if pr.person_key in known:
                        s.updated += 1
                    else:
                        s.created += 1
                    if commit_all:
                        hashes.append((pr.person_key, pr.hash))
                        values = row_field_values(row)
                        fields.append((pr.person_key, value_digests(values, 16)))
                        if self.two_way:  # what Brevo will show once read: the reverse sync's stale-read check
                            own.extend((pr.person_key, k, v) for k, v in [*values.items(), *blacklist])
                    identities.append((pr.person_key, email, str(ext_id) if ext_id else None))
                self.state.upsert_identities(identities)
                self.state.set_hashes(CIO_TO_BREVO, hashes)
                self.state.set_field_digests(fields)
                self.state.record_own_writes(TO_BREVO, own, written_at)
        self._end_process(process_id)

    def _end_process(self, process_id: str) -> None:
        """The import's rows are committed (idempotent writes, above): now its counts and rejects, with its end. A
        kill before this leaves the import pending, and its retry commits it again (the counts and rejects from the
        last checkpoint: nothing counted or ledgered twice; people created then count as updated)."""
        self._checkpoint["ledger_offset"] = self.ledger.flush()  # rejects so far: only this commit's (see _pump)
        self._checkpoint["summary"] = self.summary.to_state()
        with self.state.transaction():
            self.state.save_checkpoint(self.run_key, self._checkpoint)
            self.state.drop_pending(self.run_key, process_id)

    def _failed_process(self, process_id: str, attempt: int, options: Mapping[str, Any], error: str | None) -> None:
        rows = list(self.state.iter_pending_rows(self.run_key, process_id))
        if attempt < self.max_import_attempts:
            log.warning(
                "Brevo import process %s failed (%s); resubmitting its %d rows, attempt %d/%d",
                process_id,
                error,
                len(rows),
                attempt + 1,
                self.max_import_attempts,
            )
            new_pid = self._start_import(
                [r.row for r in rows], blacklist=bool(options.get("email_blacklist")), may_stop=False
            )
            self.summary.imports += 1
            options = {**options, "written_at": self._sent_at}
            with self.state.transaction():
                self.state.add_pending(
                    self.run_key,
                    new_pid,
                    [(r.person_key, r.hash, r.row) for r in rows],
                    attempt=attempt + 1,
                    options=options,
                )
                self.state.drop_pending(self.run_key, process_id)
            return
        for r in rows:
            self.ledger.reject(
                record_id=r.person_key,
                reason="import_failed",
                stage="import",
                message=f"Brevo import process {process_id} failed {attempt} times ({error}); the "
                "person will be retried by the next run",
                identifiers={"email": r.row.get("email"), "id": (r.row.get("attributes") or {}).get("EXT_ID")},
                detail={"process_id": process_id},
            )
        self.state.drop_pending(self.run_key, process_id)
