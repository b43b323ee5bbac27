"""The Brevo imports of a segment mirror run, one at a time, with the run's plan kept in the sync state store.

:class:`StagedRun` holds the part of :class:`~airflow_provider_customerio.sync.segments.writes.MemberWriter` that
submits the staged import rows (new members first, then lifecycle values) and takes the ended imports, so a run
can wait for each import anywhere (blocking, or deferred to the triggerer) and resume in a new process. Pure
logic, no Airflow and no HTTP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import msgspec

from airflow_provider_customerio.sync.batching import Oversize, Packer
from airflow_provider_customerio.sync.config import LifecycleSettings
from airflow_provider_customerio.sync.ports import SyncState
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.segments.model import IMPORT_MAX_ROWS, ImportFailedError, MirrorRequest
from airflow_provider_customerio.sync.segments.ports import ListTarget, RejectSink
from airflow_provider_customerio.sync.segments.result import MirrorResult

#: The import phases, in order: new members (checked against the list afterwards), then lifecycle values.
IMPORT_KINDS = ("add", "life")


def reject_member(
    reject: RejectSink,
    request: MirrorRequest,
    result: MirrorResult,
    record: Mapping[str, Any],
    reason: str,
    message: str,
) -> None:
    """Count a person not mirrored and send it to the ledger with the pair it belongs to."""
    result.rejected += 1
    reject({**record, "segment_id": request.segment_id, "list_id": request.list_id}, reason, message)


class StagedRun:
    """The run's plan in the store, and its imports: submitted one at a time (one import in flight per account),
    each recorded as pending with the checkpoint past its rows."""

    target: ListTarget
    state: SyncState
    run_key: str
    reject: RejectSink
    lifecycle: LifecycleSettings | None
    import_max_bytes: int
    check_lease: Callable[[], None]

    def _checkpoint(self) -> dict[str, Any]:
        return dict(self.state.get_checkpoint(self.run_key) or {})

    def _save(self, checkpoint: dict[str, Any], result: MirrorResult) -> None:
        checkpoint["result"] = dataclasses.asdict(result)
        self.state.save_checkpoint(self.run_key, checkpoint)

    def _loaded(self) -> tuple[dict[str, Any], MirrorRequest, MirrorResult]:
        checkpoint = self._checkpoint()
        if "request" not in checkpoint:
            raise ImportFailedError(
                f"No staged segment mirror under {self.run_key!r} (its staging was dropped). Re-run the task: it "
                "re-reads both sides and sends only what is still missing."
            )
        req = checkpoint["request"]
        request = MirrorRequest(
            int(req["segment_id"]),
            int(req["list_id"]),
            tuple(req["include_attributes"]),
            bool(req["dry_run"]),
            bool(req["force"]),
        )
        return checkpoint, request, MirrorResult(**checkpoint["result"])

    def add_api_calls(self, calls: int) -> None:
        """Count API calls made so far in the run's checkpoint (a deferred run's summary counts every part)."""
        checkpoint = self._checkpoint()
        if "result" in checkpoint:
            checkpoint["result"]["api_calls"] = int(checkpoint["result"].get("api_calls") or 0) + calls
            self.state.save_checkpoint(self.run_key, checkpoint)

    def pending(self) -> list[str]:
        """The run's imports still to wait for."""
        return [str(p.process_id) for p in self.state.pending_processes(self.run_key)]

    def next_import(self) -> list[str]:
        """Submit the run's next import (``[process id]``), or ``[]`` when every import row has been sent."""
        checkpoint, request, result = self._loaded()
        while checkpoint["phase"] < len(IMPORT_KINDS):
            kind = IMPORT_KINDS[checkpoint["phase"]]
            process_id = self._submit_next(kind, checkpoint, request, result)
            if process_id is not None:
                return [process_id]
            checkpoint["phase"] += 1
            checkpoint["next_seq"] = 0
            self._save(checkpoint, result)
        return []

    def import_items(
        self,
        kind: str,
        entries: Iterable[tuple[Mapping[str, Any], list[Any] | None]],
        request: MirrorRequest,
        result: MirrorResult,
    ) -> Iterator[tuple[str, str, Mapping[str, Any] | None]]:
        """Pack ``(row, member)`` entries into the run's imports, lazily, one staged item per import (its rows, and
        for new members their ``[cio_id, id, email]`` for the check after it): a few large store rows instead of one
        per person. A row alone over the byte bound goes to the ledger (new members) and is never sent."""
        packer: Packer[tuple[Mapping[str, Any], list[Any] | None]] = Packer(
            max_bytes=self.import_max_bytes,
            max_count=IMPORT_MAX_ROWS,
            overhead_bytes=400,
            size_of=lambda entry: len(_encode(entry[0])),  # the hook sends compact UTF-8 JSON
        )
        count = 0
        for out in _chain((out for entry in entries for out in packer.add(entry)), packer):
            if isinstance(out, Oversize):
                row, member = out.item
                if member is not None:
                    record = {"cio_id": member[0], "id": member[1], "email": member[2]}
                    reject_member(self.reject, request, result, record, out.reason, out.message)
                continue
            data: dict[str, Any] = {"rows": [row for row, _member in out.items]}
            if kind == "add":
                data["members"] = [member for _row, member in out.items]
            yield (f"{kind}:{count}", kind, data)
            count += 1

    def _submit_next(
        self, kind: str, checkpoint: dict[str, Any], request: MirrorRequest, result: MirrorResult
    ) -> str | None:
        staged = self.state.iter_staged(self.run_key, from_seq=int(checkpoint["next_seq"]), kind=kind)
        for seq, _key, _kind, data in staged:  # one staged item per import (``import_items``)
            if data and data.get("rows"):
                return self._submit(kind, data["rows"], seq + 1, checkpoint, result)
        return None

    def _submit(
        self, kind: str, rows: list[Mapping[str, Any]], next_seq: int, checkpoint: dict[str, Any], result: MirrorResult
    ) -> str:
        self.check_lease()  # a stalled try whose lease was taken over writes nothing (store/fencing.py)
        process_id = str(self.target.start_import(rows, int(checkpoint["list_id"])))
        result.write_calls += 1
        checkpoint["next_seq"] = next_seq
        checkpoint.setdefault("in_flight", {})[process_id] = {"kind": kind, "rows": len(rows), "seq": next_seq - 1}
        with self.state.transaction():  # the pending import and the checkpoint past its rows, together
            self.state.add_pending(self.run_key, process_id, [])
            self._save(checkpoint, result)
        return process_id

    def complete(self, states: Iterable[ProcessState]) -> list[str]:
        """Take the ended imports; an import that did not succeed stops the run (its staging is dropped, so a
        re-run decides again from both sides). Returns the imports to wait for next."""
        checkpoint, _request, result = self._loaded()
        pending = set(self.pending())
        for process in states:
            if not process.finished or process.process_id not in pending:
                continue
            flight = checkpoint.get("in_flight", {}).pop(process.process_id, {"kind": "add", "rows": 0})
            if not process.succeeded:
                self.state.clear_run(self.run_key)
                purpose = "new members" if flight["kind"] == "add" else f"lifecycle attribute {self._attribute()}"
                raise ImportFailedError(
                    f"Brevo import process {process.process_id} ({purpose}, {flight['rows']} rows, list "
                    f"{checkpoint['list_id']}) ended with status {process.status!r}. Re-run the task: it re-reads "
                    "both sides and sends only what is still missing."
                )
            if flight["kind"] == "add":
                checkpoint["report"].update(
                    {f"process {process.process_id} {k}": v for k, v in process.report.counts.items()}
                )
                if "seq" in flight:  # its members are checked against the list (``check_ended``)
                    checkpoint.setdefault("unchecked", []).append(int(flight["seq"]))
            with self.state.transaction():
                self.state.drop_pending(self.run_key, process.process_id)
                self._save(checkpoint, result)
        following = self.pending() or self.next_import()
        # the next import is on its way: read back the ended one's members while Brevo processes it
        self.check_ended()
        return following

    def check_ended(self) -> None:
        """Check the members of the ended imports against the list (:class:`MemberWriter` does)."""

    def _attribute(self) -> str:
        return self.lifecycle.attribute.upper() if self.lifecycle is not None else ""


_encode = msgspec.json.Encoder().encode


def _chain(outs: Iterable[Any], packer: Packer[Any]) -> Iterable[Any]:
    yield from outs
    yield from packer.flush()
