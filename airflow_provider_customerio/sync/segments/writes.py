"""The Brevo writes of a segment mirror run, staged in the sync state store so that the run can wait for its
imports anywhere (blocking, or deferred to the triggerer) and resume (the imports: :mod:`.imports`).

:meth:`MemberWriter.stage` records the plan of a run (the imports of new members and of lifecycle values, one
store item per import, the people without an email, the per-contact lifecycle updates and the leavers, 150 per
item) with the run's counts, the first import first so that it can be sent before the rest is staged;
:meth:`MemberWriter.next_import` submits the imports one at a time (one import in flight per account);
:meth:`MemberWriter.complete` takes the ended ones, sends the next and then reads the ended one's people back from
the list (:meth:`MemberWriter.check_ended`, while Brevo processes the next); :meth:`MemberWriter.finish` confirms
the people no read-back found, then makes the contact writes and removes the leavers.

Pure logic, no Airflow and no HTTP: Brevo and Customer.io are reached through the ports of
:mod:`airflow_provider_customerio.sync.segments.ports`. Every write is preceded by ``check_lease``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.config import LifecycleSettings, MappedField
from airflow_provider_customerio.sync.mapping import (
    EXT_ID_ATTRIBUTE,
    BrevoAttribute,
    Person,
    PersonMapper,
    RejectedPerson,
)
from airflow_provider_customerio.sync.ports import SyncState
from airflow_provider_customerio.sync.segments.diff import (
    MembershipDiff,
    chunked,
    is_valid_email,
    latest_timestamp,
    normalise_email,
)
from airflow_provider_customerio.sync.segments.imports import StagedRun, reject_member
from airflow_provider_customerio.sync.segments.model import (
    IMPORT_MAX_BYTES,
    MAX_HYDRATE,
    MAX_LIST_CHANGE,
    ListContact,
    MirrorRequest,
    SegmentMember,
    clean_text,
)
from airflow_provider_customerio.sync.segments.ports import ListTarget, RejectSink, SegmentSource
from airflow_provider_customerio.sync.segments.result import MirrorResult

#: Waits before the list is read again for imported people not in it yet (Brevo's reads lag its imports): ~1 min.
SETTLE_DELAYS: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0, 30.0)


def _member(record: Mapping[str, Any]) -> SegmentMember:
    return SegmentMember(cio_id=str(record.get("cio_id") or ""), id=record.get("id"), email=record.get("email"))


def _compact(member: SegmentMember) -> list[Any]:
    """A member as staged with its import row: ``[cio_id, id, email]`` (``SegmentMember(*it)`` reads it back)."""
    return [member.cio_id, member.id, member.email]


class MemberWriter(StagedRun):
    """The writes of one mirror run (see :class:`~airflow_provider_customerio.sync.segments.mirror.SegmentMirror`
    for the parameters).

    :param state: the sync state store: the run's plan, pending import and counts live there.
    :param run_key: the run's key in it (one per ``segment -> list`` pair and DAG run).
    :param lifecycle: the lifecycle settings when a lifecycle attribute is configured, else ``None``.
    """

    def __init__(
        self,
        source: SegmentSource,
        target: ListTarget,
        state: SyncState,
        *,
        run_key: str,
        reject: RejectSink,
        lifecycle: LifecycleSettings | None,
        import_max_bytes: int = IMPORT_MAX_BYTES,
        settle_delays: Sequence[float] = SETTLE_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
        check_lease: Callable[[], None] = lambda: None,
    ) -> None:
        self.source = source
        self.target = target
        self.state = state
        self.run_key = run_key
        self.reject = reject
        self.lifecycle = lifecycle
        self.import_max_bytes = import_max_bytes
        self.settle_delays = tuple(settle_delays)
        self.sleep = sleep
        self.check_lease = check_lease

    def stage(
        self,
        request: MirrorRequest,
        list_id: int,
        diff: MembershipDiff,
        fields: Sequence[MappedField],
        brevo_attributes: Sequence[BrevoAttribute],
        lifecycle: Mapping[str, str | None] | None,
        lifecycle_updates: Sequence[tuple[ListContact, str | None]],
        result: MirrorResult,
    ) -> tuple[bool, Callable[[], None]]:
        """Record the run's plan: the rejections go to the ledger, the writes to the store.

        Only the first import of new members is staged here (with the run's checkpoint), so that it can be sent
        at once; returns whether there is one, and the function that maps, packs and stages the rest (call it after
        sending the first import: Brevo processes it meanwhile). A run killed in between is planned again from both
        sides by its retry, as any killed run."""
        for rejection in diff.rejected:
            reject_member(self.reject, request, result, rejection.record, rejection.reason, rejection.message)
        by_ext_id: list[tuple[SegmentMember, dict[str, Any]]] = []
        chunks: Iterator[tuple[str, str, Mapping[str, Any] | None]] = iter(())
        if diff.adds:
            people = self._people(request, diff.adds, fields, result)
            entries = self._entries(request, list_id, people, fields, brevo_attributes, lifecycle, result, by_ext_id)
            chunks = self.import_items("add", entries, request, result)
        first = next(chunks, None)
        checkpoint = {
            "request": dataclasses.asdict(request),
            "list_id": list_id,
            "mark": diff.latest_modified or (self.target.clock_mark() if diff.adds else None),
            "phase": 0,
            "next_seq": 0,
            "report": {},
        }
        with self.state.transaction():
            self.state.clear_run(self.run_key)
            self.state.stage_items(self.run_key, [first] if first else [])
            self._save(checkpoint, result)

        def stage_rest() -> None:
            items = list(chunks)
            items += [(f"ext:{m.cio_id}", "ext", {"member": m.as_record(), "attrs": a}) for m, a in by_ext_id]
            items += self._lifecycle_items(lifecycle_updates, request, result)
            removes = [c.contact_id for c in diff.removes]
            chunked_removes = enumerate(chunked(removes, MAX_LIST_CHANGE))
            items += [(f"rm:{n}", "remove", {"contact_ids": chunk}) for n, chunk in chunked_removes]
            result.lifecycle_updated = len(lifecycle_updates) if self.lifecycle is not None else 0
            with self.state.transaction():
                self.state.stage_items(self.run_key, items)
                saved = self._checkpoint()  # the first import may have been sent: keep its progress
                result.write_calls = int(saved["result"].get("write_calls") or 0)
                self._save(saved, result)

        return first is not None, stage_rest

    def _lifecycle_items(
        self, updates: Sequence[tuple[ListContact, str | None]], request: MirrorRequest, result: MirrorResult
    ) -> list[tuple[str, str, Mapping[str, Any] | None]]:
        life = self.lifecycle
        if not updates or life is None:
            return []
        attribute = life.attribute.upper()
        items: list[tuple[str, str, Mapping[str, Any] | None]] = []
        rows: list[tuple[Mapping[str, Any], None]] = []
        for contact, value in updates:
            if value is not None and is_valid_email(contact.email):
                rows.append(({"email": normalise_email(contact.email), "attributes": {attribute: value}}, None))
            else:  # no email, or clearing the value: per-contact update by Brevo id
                items.append(
                    (f"lc:{contact.contact_id}", "life_contact", {"contact_id": contact.contact_id, "value": value})
                )
        return [*self.import_items("life", rows, request, result), *items]

    # ------------------------------------------------------------------ after the imports
    def finish(self) -> MirrorResult:
        """Check the new members against the list, write the people without an email and the per-contact lifecycle
        values, remove the leavers; drop the run's staging and return what the run did."""
        self.check_ended()  # a run resumed after its last import ended but before its check
        checkpoint, request, result = self._loaded()
        list_id = int(checkpoint["list_id"])
        added = self._check_imported(request, list_id, checkpoint, result)
        ext = [(_member(d["member"]), dict(d["attrs"])) for d in self._staged("ext")]
        result.added = added + self._add_by_ext_id(request, list_id, ext, result)
        self._update_contacts(self._staged("life_contact"), result)
        removes = [int(i) for d in self._staged("remove") for i in d["contact_ids"]]
        result.removed = self._apply_removes(list_id, removes, result)
        self.state.clear_run(self.run_key)
        return result

    def _staged(self, kind: str) -> list[Mapping[str, Any]]:
        return [d for _s, _k, _kind, d in self.state.iter_staged(self.run_key, kind=kind) if d]

    def _entries(
        self,
        request: MirrorRequest,
        list_id: int,
        people: Iterable[tuple[SegmentMember, Person]],
        fields: Sequence[MappedField],
        brevo_attributes: Sequence[BrevoAttribute],
        lifecycle: Mapping[str, str | None] | None,
        result: MirrorResult,
        by_ext_id: list[tuple[SegmentMember, dict[str, Any]]],
    ) -> Iterator[tuple[dict[str, Any], list[Any]]]:
        """Map the people to add, lazily: their import rows (by email, the first of an email wins) with their
        members; the people without an email go to ``by_ext_id``."""
        mapper = PersonMapper(fields, brevo_attributes)
        life = self.lifecycle
        emails: set[str] = set()
        for member, person in people:
            mapped = mapper.map(person)
            if isinstance(mapped, RejectedPerson):
                reject_member(self.reject, request, result, member.as_record(), mapped.reason, mapped.message)
                continue
            for problem in mapped.problems:
                result.attribute_problems += 1
                self.reject(
                    {
                        **member.as_record(),
                        "field": problem.source,
                        "segment_id": request.segment_id,
                        "list_id": list_id,
                    },
                    problem.reason,
                    f"{problem.target} not written ({problem.message}); the person is still added to the list",
                )
            attrs = dict(mapped.row.get("attributes") or {})
            if life is not None and lifecycle is not None and lifecycle.get(member.cio_id):
                attrs[life.attribute.upper()] = lifecycle[member.cio_id]
            if mapped.email is None:
                by_ext_id.append((member, attrs))
            elif mapped.email not in emails:
                emails.add(mapped.email)
                yield {"email": mapped.email, "attributes": attrs}, _compact(member)

    def _add_by_ext_id(
        self,
        request: MirrorRequest,
        list_id: int,
        by_ext_id: Sequence[tuple[SegmentMember, dict[str, Any]]],
        result: MirrorResult,
    ) -> int:
        # Brevo documents no way to key an import row on EXT_ID alone, so people without an email are written one
        # by one through the contact endpoints, which do take ext_id (rare: most workspaces key on email).
        added = 0
        for member, attrs in by_ext_id:
            extra = {k: v for k, v in attrs.items() if k != EXT_ID_ATTRIBUTE}
            self.check_lease()
            outcome = self.target.upsert_by_ext_id(str(member.id), extra, list_id)
            result.write_calls += outcome.calls
            if outcome.error is not None:
                reject_member(
                    self.reject,
                    request,
                    result,
                    member.as_record(),
                    "vendor_rejected",
                    f"Brevo refused the contact with EXT_ID {member.id!r} (no email): {outcome.error}",
                )
                continue
            added += 1
        return added

    def _people(
        self,
        request: MirrorRequest,
        adds: Sequence[SegmentMember],
        fields: Sequence[MappedField],
        result: MirrorResult,
    ) -> Iterator[tuple[SegmentMember, Person]]:
        """Pair each member to add with its Customer.io profile, hydrated by cio_id (100 per call, lazily: the first
        import goes once its people are read) when attributes are needed."""
        if not any(f.source not in ("email", "id") for f in fields):
            yield from ((m, Person(cio_id=m.cio_id, id=m.id, email=m.email)) for m in adds)
            return
        for chunk in chunked(adds, MAX_HYDRATE):
            yield from self._hydrated(request, chunk, result)

    def _hydrated(
        self, request: MirrorRequest, adds: Sequence[SegmentMember], result: MirrorResult
    ) -> list[tuple[SegmentMember, Person]]:
        profiles: dict[str, Mapping[str, Any]] = {}
        if adds:
            for item in self.source.people_attributes([m.cio_id for m in adds]):
                item = item.get("customer", item) if "customer" in item else item
                identifiers = item.get("identifiers") or {}
                attributes = item.get("attributes") or {}
                cio_id = clean_text(identifiers.get("cio_id")) or clean_text(attributes.get("cio_id"))
                if cio_id is not None:
                    profiles[cio_id] = item
        out = []
        for member in adds:
            profile = profiles.get(member.cio_id)
            if profile is None:
                reject_member(
                    self.reject,
                    request,
                    result,
                    member.as_record(),
                    "not_found",
                    "Customer.io returned no profile for this cio_id (deleted after the membership was read?); "
                    "not added. The next run decides again.",
                )
                continue
            out.append(
                (
                    member,
                    Person(
                        cio_id=member.cio_id,
                        id=member.id,
                        email=member.email,
                        attributes=profile.get("attributes") or {},
                        unsubscribed=bool(profile.get("unsubscribed")),
                    ),
                )
            )
        return out

    def _not_in_list(
        self, list_id: int, members: Sequence[SegmentMember], *, modified_since: str | None
    ) -> tuple[list[SegmentMember], str | None]:
        """The members not in the list (among its contacts modified since ``modified_since``), and the latest
        ``modifiedAt`` of the contacts that stand for the others (``None``: none given)."""
        present: dict[str, ListContact] = {}
        for item in self.target.iter_list_contacts(list_id, modified_since=modified_since):
            contact = ListContact.from_brevo(item)
            if contact.ext_id:
                present["ext:" + contact.ext_id] = contact
            email_key = normalise_email(contact.email)
            if email_key:
                present[email_key] = contact
        missing: list[SegmentMember] = []
        found: list[ListContact] = []
        for m in members:
            known = present.get(normalise_email(m.email) or "")
            if known is None and m.id:
                known = present.get("ext:" + m.id)
            if known is None:
                missing.append(m)
            else:
                found.append(known)
        return missing, latest_timestamp(found)

    def check_ended(self) -> None:
        """Read back the list for the members of the imports that ended since the last check: those found are
        done; the others are kept (``missing``) for :meth:`_check_imported` to confirm after the last import.

        The read starts at the run's mark, which then moves to the latest ``modifiedAt`` of the contacts found
        (Brevo's clock): the run's imports go one at a time, so the next one's contacts are all modified later.
        Run while the next import is processed, so the read-back costs no wall time but the last one's."""
        checkpoint, _request, _result = self._loaded()
        seqs = set(checkpoint.get("unchecked") or ())
        if not seqs:
            return
        members: list[SegmentMember] = []
        for seq, _k, _kind, d in self.state.iter_staged(self.run_key, from_seq=min(seqs), kind="add"):
            if seq > max(seqs):
                break  # decode no later import
            if seq in seqs and d:
                members.extend(SegmentMember(*m) for m in d["members"])
        missing, latest = self._not_in_list(int(checkpoint["list_id"]), members, modified_since=checkpoint.get("mark"))
        checkpoint.setdefault("missing", []).extend(_compact(m) for m in missing)
        checkpoint["mark"] = latest or checkpoint.get("mark")
        checkpoint["unchecked"] = []
        checkpoint["checked"] = int(checkpoint.get("checked") or 0) + len(members)
        self.state.save_checkpoint(self.run_key, checkpoint)

    def _check_imported(
        self, request: MirrorRequest, list_id: int, checkpoint: Mapping[str, Any], result: MirrorResult
    ) -> int:
        """Confirm the members no import check found (:meth:`check_ended`) and ledger those still missing; return
        how many imported members reached the list.

        Brevo's import report only counts problems (and not all of them), so each import's members are read back
        from the list's contacts modified since the run's mark (cheap, proportional to the people imported). Anyone
        missing there is confirmed with a full read before being ledgered, after waits while more are missing than
        the import reports account for (Brevo's contact reads lag its imports).
        """
        report = checkpoint["report"]
        missing = [SegmentMember(*m) for m in checkpoint.get("missing") or ()]
        if missing:
            missing, _latest = self._not_in_list(list_id, missing, modified_since=None)
        explained = sum(v for v in report.values() if isinstance(v, int) and not isinstance(v, bool))
        for delay in self.settle_delays if len(missing) > explained else ():
            self.sleep(delay)  # Brevo's reads lag its imports: give them time before deciding
            missing, _latest = self._not_in_list(list_id, missing, modified_since=None)
            if not missing:
                break
        for member in missing:
            reject_member(
                self.reject,
                request,
                result,
                member.as_record(),
                "import_invalid",
                f"the Brevo import did not put this contact in list {list_id} "
                f"(import report: {dict(report) or 'no counts'}). Check the email and identifiers in Customer.io; "
                "the next run tries again.",
            )
        return int(checkpoint.get("checked") or 0) - len(missing)

    def _update_contacts(self, updates: Sequence[Mapping[str, Any]], result: MirrorResult) -> None:
        attribute = self._attribute()
        for update in updates:
            self.check_lease()
            self.target.update_attributes(int(update["contact_id"]), "contact_id", {attribute: update["value"] or ""})
            result.write_calls += 1

    def _apply_removes(self, list_id: int, removes: Sequence[int], result: MirrorResult) -> int:
        removed = 0
        for chunk in chunked(list(removes), MAX_LIST_CHANGE):
            self.check_lease()
            self.target.remove_from_list(list_id, contact_ids=chunk)
            result.write_calls += 1
            # A refused id already left the list (or Brevo) since it was read: either way it is no longer a
            # member, which is the goal, so the whole chunk counts.
            removed += len(chunk)
        return removed
