"""The Customer.io side of a people run (:meth:`PeopleSync.extract`'s steps): collect the changed people, read and
map them, skip the unchanged, ledger the rejects, and stage the rows to write and the deletes."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_customerio.store.state import CIO_TO_BREVO, TO_CIO, OwnWrite
from airflow_provider_customerio.sync.hashing import field_digest
from airflow_provider_customerio.sync.mapping import (
    EXT_ID_ATTRIBUTE,
    MappedRow,
    Person,
    PersonMapper,
    RejectedPerson,
    check_mapping,
    missing_attributes_error,
)
from airflow_provider_customerio.sync.people.plan import EXPORT, ExportingPeopleSource, plan_incremental, stream_export
from airflow_provider_customerio.sync.people.ports import HYDRATE_CHUNK
from airflow_provider_customerio.sync.people.run import HASH_CHUNK, PeopleRun
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.stale import BLACKLIST_FIELD, read_values, settle, with_fields
from airflow_provider_customerio.sync.summary import SyncSummary

log = logging.getLogger(__name__)


class PeopleExtract(PeopleRun):
    """The extract steps of a people run: ``collect`` (incremental) or the full read, then ``stage``."""

    def _prepare_mapper(self, dry_run: bool) -> PersonMapper:
        attributes = self.sink.list_attributes()
        missing = check_mapping(self.config.field_mapping, attributes)
        if missing:
            if not self.config.people.create_missing_attributes or dry_run:
                raise missing_attributes_error(missing)
            for f in missing:
                log.info(
                    "Creating Brevo attribute %s (%s) for Customer.io attribute %s", f.target, f.create_type, f.source
                )
                self.sink.create_attribute(f.target, f.create_type)
                self.summary.notes.append(f"created Brevo attribute {f.target} ({f.create_type})")
            attributes = self.sink.list_attributes()
            still = check_mapping(self.config.field_mapping, attributes)
            if still:
                raise missing_attributes_error(still)
        return PersonMapper(self.config.field_mapping, attributes)

    def _collect(self, window: RunWindow) -> None:
        source = self._src()

        def items() -> Iterator[tuple[str, str, dict[str, Any] | None]]:
            for ch in source.iter_changes(window.start, window.end):
                yield ch.cio_id, ch.kind, {"email": ch.email, "id": ch.id, "ts": ch.timestamp}

        n = self.state.stage_items(self.run_key, items())
        log.info("Activity feed: %d people changed in [%s, %s)", n, window.start.isoformat(), window.end.isoformat())
        if self.two_way:
            # people written by the reverse sync and not yet read back are read again until they are (a stale read
            # of them is not a change, so nothing else would bring them back once the read catches up)
            recheck = list(self.state.iter_own_write_people(TO_CIO))
            added = self.state.stage_items(self.run_key, ((cid, "upsert", None) for cid in recheck))
            if added:
                log.info("Reading again %d people whose last write from Brevo was not yet read back", added)
        self._choose_plan()

    def _choose_plan(self) -> None:
        """The incremental plan (``sync/people/plan.py``), kept in the checkpoint with its export token."""
        changed = [cid for _, cid, _, _ in self.state.iter_staged(self.run_key, kind="upsert")]
        chosen = plan_incremental(self._src(), self.state, changed, record=not self._checkpoint.get("dry_run"))
        self._checkpoint["incremental_plan"] = chosen["plan"]
        self._checkpoint["plan_token"] = chosen.get("token")
        self.summary.notes.append(chosen["note"])
        log.info("%s", chosen["note"])

    def _people_stream(self, mode: str, offset: int) -> Iterator[tuple[int, Person | None, str]]:
        """Yield ``(position, person or None if gone, cio_id)`` from ``offset`` on."""
        source = self._src()
        if mode == "full":
            token = self._checkpoint.get("full_token") or {}
            for pos, person in enumerate(source.iter_full(token)):
                if pos >= offset:
                    yield pos, person, person.cio_id
            return
        if self._checkpoint.get("incremental_plan") == EXPORT and isinstance(source, ExportingPeopleSource):
            staged = [cid for _, cid, _, _ in self.state.iter_staged(self.run_key, kind="upsert")]
            yield from stream_export(source, self._checkpoint["plan_token"], staged, offset)
            return
        chunk: list[tuple[int, str]] = []

        def flush() -> Iterator[tuple[int, Person | None, str]]:
            found = {p.cio_id: p for p in source.hydrate([cid for _, cid in chunk])}
            for seq, cid in chunk:
                yield seq, found.get(cid), cid

        for seq, cid, _kind, _data in self.state.iter_staged(self.run_key, from_seq=offset, kind="upsert"):
            chunk.append((seq, cid))
            if len(chunk) >= HYDRATE_CHUNK:
                yield from flush()
                chunk = []
        if chunk:
            yield from flush()

    def _stage(self, mapper: PersonMapper, mode: str, dry_run: bool) -> None:
        offset = int(self._checkpoint.get("offset", 0))
        s = self.summary
        track_seen = mode == "full" and not dry_run
        since_save = 0
        chunk: list[tuple[int, Person | None, str]] = []

        def flush() -> None:
            nonlocal since_save
            # one read of the stored hashes per chunk, not one per person (the store may be a network away)
            known = [cid for _, p, cid in chunk if p is not None]
            stored = self.state.get_hashes(CIO_TO_BREVO, known)
            baselines = self.state.get_field_digests(known) if self.two_way else {}
            own = self.state.get_own_writes(TO_CIO, known) if self.two_way else {}
            for pos, person, cio_id in chunk:
                self._stage_one(
                    mapper,
                    person,
                    cio_id,
                    s,
                    track_seen,
                    dry_run,
                    stored.get(cio_id),
                    baselines.get(cio_id),
                    own.get(cio_id),
                )
                since_save += 1
                if since_save >= self.checkpoint_every and not dry_run:
                    self._save(offset=pos + 1)  # everything up to pos is persisted
                    since_save = 0
                    self._pump()  # the pipeline: send a full batch or commit an ended import
            if self._settled and not dry_run:
                self.state.forget_own_writes(TO_CIO, self._settled)
            self._settled = []
            chunk.clear()

        for item in self._people_stream(mode, offset):
            chunk.append(item)
            if len(chunk) >= min(HASH_CHUNK, self.checkpoint_every):
                flush()
        flush()

    def _stage_one(
        self,
        mapper: PersonMapper,
        person: Person | None,
        cio_id: str,
        s: SyncSummary,
        track_seen: bool,
        dry_run: bool,
        stored_hash: str | None,
        baseline: Mapping[str, str] | None = None,
        own: Mapping[str, OwnWrite] | None = None,
    ) -> None:
        s.read += 1
        if person is None:
            self._settled.extend((cio_id, key) for key in own or ())  # gone from Customer.io: nothing to read back
            self.ledger.reject(
                record_id=cio_id,
                reason="not_found",
                stage="hydrate",
                message="Customer.io returned no profile for this id (deleted since the change?)",
            )
            return
        if track_seen:
            self._seen_buf.append(cio_id)
        mapped = mapper.map(person)
        if isinstance(mapped, RejectedPerson):
            self.ledger.reject(
                record_id=mapped.cio_id,
                reason=mapped.reason,
                message=mapped.message,
                stage="map",
                identifiers={"email": mapped.email, "id": mapped.ext_id},
            )
            return
        if own:
            mapped = self._settle_stale(mapper, person, mapped, own)
        digest = mapped.content_hash(self.list_ids)
        if stored_hash == digest:
            s.unchanged += 1
            return
        self._ledger_value_problems(mapped)
        if dry_run:
            self._plan(s, mapped, known=stored_hash is not None)
            return
        # Brevo's import blacklists per request, not per row: blacklisted rows go in imports of their own.
        kind = "blacklist_row" if mapped.blacklisted else "row"
        row = trim_to_changed_fields(mapped.row, baseline) if baseline else mapped.row
        data = {"hash": digest, "row": row}
        self._stage_buf.append((f"{kind}:{mapped.cio_id}", kind, data))
        if kind == "row" and self.pipeline:
            self._note_staged_row(data)

    def _ledger_value_problems(self, mapped: MappedRow) -> None:
        """Ledger each value the mapping dropped (the person is synced without it)."""
        for problem in mapped.problems:
            self.ledger.reject(
                record_id=mapped.cio_id,
                reason=problem.reason,
                stage="map",
                message=f"{problem.source} -> {problem.target}: {problem.message}; the person "
                "was synced without this value",
                identifiers={"email": mapped.email, "id": mapped.ext_id},
                detail={"attribute": problem.target},
            )

    @staticmethod
    def _plan(s: SyncSummary, mapped: MappedRow, *, known: bool) -> None:
        """Dry run: count and plan what the person's row would do (``known``: Brevo has it already)."""
        if mapped.blacklisted:
            s.blacklisted += 1
            s.plan_add("blacklists", items=[mapped.cio_id])
        else:
            s.updated += 1  # dry run: "would write"
        s.plan_add("updates" if known else "creates", items=[mapped.cio_id])

    def _settle_stale(
        self, mapper: PersonMapper, person: Person, mapped: MappedRow, own: Mapping[str, OwnWrite]
    ) -> MappedRow:
        """``mapped`` with the reverse sync's own writes in place of the values read stale (``sync/stale.py``); the
        writes read back (or superseded, or expired) are noted to be forgotten."""

        def read_time(key: str) -> float | None:
            source = "unsubscribed" if key == BLACKLIST_FIELD else mapper.field_sources.get(key)
            return person.timestamps.get(source) if source is not None else None

        result = settle(read_values(mapped), own, read_time, now=self.now(), settle_s=self.settle_s)
        self._settled.extend((mapped.cio_id, key) for key in result.settled)
        if not result.corrections:
            return mapped
        self.summary.stale_reads += len(result.corrections)
        log.info(
            "%s: Customer.io read older than the write from Brevo for %s; kept Brevo's value (a stale read, not a "
            "change)",
            mapped.cio_id,
            ", ".join(sorted(result.corrections)),
        )
        return with_fields(mapped, result.corrections)

    def _stage_full_deletes(self) -> None:
        """Full sync: people known from earlier runs but absent from Customer.io now are staged as deletes."""
        self._save()
        known = self.state.count_hashes(CIO_TO_BREVO)
        if not known:
            return
        gone = list(self.state.iter_unseen(self.run_key, CIO_TO_BREVO))
        if gone and len(gone) > max(10, known // 2):
            self.summary.notes.append(
                f"full sync: {len(gone)} of {known} known people are absent from Customer.io; not deleting that "
                "many at once (safety brake). Check the export, then delete through incremental runs."
            )
            log.warning("%s", self.summary.notes[-1])
            return
        self.state.stage_items(self.run_key, ((cid, "delete", None) for cid in gone))


def trim_to_changed_fields(row: Mapping[str, Any], baseline: Mapping[str, str]) -> dict[str, Any]:
    """The row without the fields whose value both sides last agreed on (``baseline``: per-field digests); the
    identifiers (email, ``EXT_ID``) always stay. Brevo's import leaves the attributes a row omits untouched."""
    attrs = {
        k: v
        for k, v in (row.get("attributes") or {}).items()
        if k == EXT_ID_ATTRIBUTE or baseline.get(str(k)) != field_digest(v)
    }
    out = {k: v for k, v in row.items() if k != "attributes"}
    out["attributes"] = attrs
    return out
