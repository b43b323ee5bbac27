"""The Brevo side of a people run (:meth:`PeopleSync.load`'s steps): pack the staged rows by bytes into imports,
submit them, and apply the deletes by ``delete_policy``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.people.run import PeopleRun

log = logging.getLogger(__name__)

#: ``{"jsonBody": [...], "listIds": [...], "updateExistingContacts": true, ...}`` around the rows.
IMPORT_OVERHEAD_BYTES = 1024
BREVO_IMPORT_LIMIT_BYTES = 10 * 1024 * 1024


class PeopleLoad(PeopleRun):
    """The load steps of a people run: ``load``, ``load_blacklisted`` (imports) and ``deletes``."""

    def _new_packer(self) -> Packer[tuple[str, str, dict[str, Any]]]:
        budget = min(self.config.people.import_batch_bytes, BREVO_IMPORT_LIMIT_BYTES)
        return Packer(
            max_bytes=budget,
            max_count=self.max_import_rows,
            size_of=lambda t: json_size(t[2], compact=True),
            overhead_bytes=IMPORT_OVERHEAD_BYTES,
            separator_bytes=2,
        )

    def _load_rows(self, kind: str, *, blacklist: bool, dry_run: bool) -> None:
        if dry_run:
            return
        packer = self._new_packer()
        offset = int(self._checkpoint.get("offset", 0))
        last = offset - 1
        for seq, key, _kind, data in self.state.iter_staged(self.run_key, from_seq=offset, kind=kind):
            last = seq
            if not data:
                continue
            cio_id = key.split(":", 1)[1]
            # batches completed by this add hold only items before `seq`
            self._emit(packer.add((cio_id, data["hash"], data["row"])), blacklist=blacklist, next_offset=seq)
        self._emit(packer.flush(), blacklist=blacklist, next_offset=last + 1)

    def _emit(
        self,
        outputs: list[Batch[tuple[str, str, dict[str, Any]]] | Oversize[tuple[str, str, dict[str, Any]]]],
        *,
        blacklist: bool,
        next_offset: int,
    ) -> None:
        for out in outputs:
            if isinstance(out, Oversize):
                self._ledger_oversize(out, next_offset, blacklist=blacklist)
            else:
                self._submit_batch(
                    out, blacklist=blacklist, may_wait=True, offset_key="offset", next_offset=next_offset
                )

    def _ledger_oversize(self, out: Oversize[tuple[str, str, dict[str, Any]]], seq: int, *, blacklist: bool) -> None:
        """Ledger a row too large for any import (once: the item at staged ``seq``; rows and blacklisted rows are
        packed in passes of their own, so each kind keeps its own mark)."""
        mark = "oversize_seen_blacklist" if blacklist else "oversize_seen"
        if seq <= int(self._checkpoint.get(mark, -1)):
            return  # ledgered before load() stopped for a slot and started again from the checkpoint
        self._checkpoint[mark] = seq
        cio_id, _h, row = out.item
        self.ledger.reject(
            record_id=cio_id,
            reason=out.reason,
            stage="pack",
            message=out.message,
            identifiers={"email": row.get("email"), "id": (row.get("attributes") or {}).get("EXT_ID")},
        )

    def _submit_batch(
        self,
        batch: Batch[tuple[str, str, dict[str, Any]]],
        *,
        blacklist: bool,
        may_wait: bool,
        offset_key: str,
        next_offset: int,
    ) -> None:
        """Send ``batch`` as one import, record it pending with its rows, move ``offset_key`` past it."""
        rows = [r for _, _, r in batch.items]
        pid = self._start_import(rows, blacklist=blacklist, may_stop=True, may_wait=may_wait)
        # the position after the batch travels with the pending import: a kill before the checkpoint below moves
        # is repaired on resume (run.py ``_recover_offsets``), so the batch is not packed and sent again
        options = {
            "email_blacklist": blacklist,
            "written_at": self._sent_at,
            "step": self.step,
            "offset_key": offset_key,
            "next_offset": next_offset,
        }
        self.state.add_pending(self.run_key, pid, batch.items, options=options)
        self.summary.imports += 1
        log.info("Submitted Brevo import process %s: %d rows, %d bytes", pid, len(batch.items), batch.nbytes)
        self._save(**{offset_key: next_offset})

    def _deletes(self, dry_run: bool) -> None:
        policy = self.config.people.delete_policy
        offset = int(self._checkpoint.get("offset", 0))
        for seq, cio_id, kind, data in self.state.iter_staged(self.run_key, from_seq=offset):
            if kind != "delete":
                continue
            self._delete_one(cio_id, kind, data or {}, policy, dry_run)
            if not dry_run:
                self._save(offset=seq + 1)

    def _delete_one(self, cio_id: str, kind: str, data: Mapping[str, Any], policy: str, dry_run: bool) -> None:
        ident = self.state.get_identity(cio_id)
        ext_id = (ident.ext_id if ident else None) or data.get("id")
        email = (ident.email if ident else None) or data.get("email")
        if ext_id:
            identifier, id_type = str(ext_id), "ext_id"
        elif email:
            identifier, id_type = str(email).strip().lower(), "email_id"
        else:
            self.summary.notes.append(f"{kind} of {cio_id}: no Brevo identifier known, nothing to do")
            if not dry_run:
                self.state.delete_hashes(CIO_TO_BREVO, [cio_id])
            return
        action = policy
        if action == "ignore":
            return
        if dry_run:
            if action == "delete":
                self.summary.deleted += 1
                self.summary.plan_add("deletes", items=[cio_id])
            else:
                self.summary.blacklisted += 1
                self.summary.plan_add("blacklists", items=[cio_id])
            return
        try:
            if action == "delete":
                if self.sink.delete_contact(identifier, id_type):
                    self.summary.deleted += 1
                self.state.forget_identity(cio_id)
            elif self.sink.blacklist_contact(identifier, id_type):
                self.summary.blacklisted += 1
        except Exception as exc:
            self.ledger.reject(
                record_id=cio_id,
                reason="delete_failed",
                stage="delete",
                message=f"{action} failed: {exc.__class__.__name__}: {str(exc)[:200]}",
                identifiers={id_type: identifier},
            )
            return
        self.state.delete_hashes(CIO_TO_BREVO, [cio_id])
