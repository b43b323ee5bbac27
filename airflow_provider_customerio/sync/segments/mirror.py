"""Segment replication: mirror a Customer.io segment into a Brevo list, removals included.

Pure logic, no Airflow and no HTTP: the vendors are reached through two small ports
(:class:`~.ports.SegmentSource`, :class:`~.ports.ListTarget`) that the operator builds on the hooks.

One run of :class:`SegmentMirror` for one ``segment_id -> list_id`` pair:

1. reads the segment's state and skips it (and says so) unless it is ``finished``;
2. checks that the list exists (or creates it when ``create_missing_lists`` is on);
3. reads the full segment membership and the list's current members, and diffs them
   (:func:`diff_membership`): people are matched on Brevo ``EXT_ID`` = Customer.io ``id``, then on email;
4. applies the removal brake (:func:`check_removal_brake`) before any write;
5. upserts the missing people with Brevo imports that carry the list id (attributes hydrated from
   Customer.io by ``cio_id``, at most 100 per call, mapped through ``field_mapping``), one import at a time: the
   first one is sent as soon as it is packed and the rest of the plan is staged while Brevo processes it; each
   import's people are read back from the list while the next import is processed, to check that each one
   reached it; people without an email go through the contact endpoints by ``ext_id``;
6. writes the optional lifecycle attribute where it differs, and removes the leavers, at most 150 per call.

Every member ends in the list or in the ledger (through ``reject``) with a reason. A re-run with no change makes
zero writes: everything is decided by diffing live state, so a killed or failed run is resumed by running again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from airflow_provider_customerio.sync.config import LifecycleSettings, MappedField, SegmentSettings
from airflow_provider_customerio.sync.mapping import BrevoAttribute, check_mapping, missing_attributes_error
from airflow_provider_customerio.sync.ports import SyncState
from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.segments.diff import (
    MembershipDiff,
    brake_exceeded,
    check_removal_brake,
    diff_membership,
)
from airflow_provider_customerio.sync.segments.fields import fields_for, resolve_lifecycle
from airflow_provider_customerio.sync.segments.model import (
    FINISHED_STATE,
    IMPORT_MAX_BYTES,
    ListContact,
    ListNotFoundError,
    MirrorRequest,
    SegmentMember,
    SegmentMirrorError,
    clean_text,
    mirror_list_name,
    mirror_list_prefix,
)
from airflow_provider_customerio.sync.segments.ports import ListTarget, RejectSink, SegmentSource
from airflow_provider_customerio.sync.segments.result import MirrorResult
from airflow_provider_customerio.sync.segments.writes import SETTLE_DELAYS, MemberWriter


class SegmentMirror:
    """Mirror one Customer.io segment into one Brevo list.

    :param source: Customer.io port.
    :param target: Brevo port.
    :param settings: ``connectors.customerio.segments`` (removal brake, list creation, lifecycle).
    :param reject: ledger sink ``(record, reason_code, message)`` for every person not mirrored.
    :param field_mapping: ``connectors.customerio.field_mapping``; requested attributes go through it.
    :param log: optional ``(message, *args)`` logger for lifecycle events.
    :param import_max_bytes: byte bound of one Brevo import body.
    :param sample_size: how many planned adds/removes a dry run lists in its summary.
    :param settle_delays: waits (s) before reading the list again when more imported people are missing from it
        than the import report accounts for: Brevo's contact reads lag its imports, so a person is ledgered only
        if still missing after them.
    :param sleep: how to wait (tests pass the sandbox clock's).
    :param check_lease: called right before every Brevo write (list creation, import, contact and list writes):
        raises :class:`~airflow_provider_customerio.store.fencing.LeaseLost` when this try's lease of the mirror
        was taken over (the operator passes the sync store's ``check_lease``), so a stalled try that wakes after
        its retry took over sends Brevo nothing.
    :param state: the sync state store, where the run keeps its plan, its pending import and its counts between
        :meth:`start`, :meth:`complete` and :meth:`finish` (a deferred task resumes from there).
    :param run_key: the run's key in ``state``.

    :meth:`run` mirrors blocking; the steps :meth:`start` -> (wait) :meth:`complete` ... -> :meth:`finish` let the
    caller wait for each Brevo import elsewhere (the operator defers to the triggerer).
    """

    def __init__(
        self,
        source: SegmentSource,
        target: ListTarget,
        settings: SegmentSettings,
        *,
        reject: RejectSink,
        field_mapping: Sequence[MappedField] = (),
        log: Callable[..., None] | None = None,
        import_max_bytes: int = IMPORT_MAX_BYTES,
        sample_size: int = 20,
        settle_delays: Sequence[float] = SETTLE_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
        check_lease: Callable[[], None] = lambda: None,
        state: SyncState,
        run_key: str,
    ) -> None:
        self.check_lease = check_lease
        self.state = state
        self.run_key = run_key
        self._done: MirrorResult | None = None
        self._first_staged = False
        self._stage_rest: Callable[[], None] = lambda: None
        self.source = source
        self.target = target
        self.settings = settings
        self.reject = reject
        self.field_mapping = tuple(field_mapping)
        self.log = log or (lambda *a, **k: None)
        self.import_max_bytes = import_max_bytes
        self.sample_size = sample_size
        self.settle_delays = tuple(settle_delays)
        self.sleep = sleep

    @property
    def writer(self) -> MemberWriter:
        """The run's Brevo writes, with this mirror's current settings (tests and the operator may set
        ``check_lease`` or ``sleep`` after construction)."""
        return MemberWriter(
            self.source,
            self.target,
            self.state,
            run_key=self.run_key,
            reject=self.reject,
            lifecycle=self.lifecycle,
            import_max_bytes=self.import_max_bytes,
            settle_delays=self.settle_delays,
            sleep=self.sleep,
            check_lease=self.check_lease,
        )

    @property
    def lifecycle(self) -> LifecycleSettings | None:
        """The lifecycle settings when a lifecycle attribute is configured (non-empty ``order``)."""
        life = self.settings.lifecycle
        return life if life is not None and life.order else None

    # ------------------------------------------------------------------ top level
    def run(self, request: MirrorRequest) -> MirrorResult:
        """Mirror ``request.segment_id`` into ``request.list_id``, waiting for each import; return what was done."""
        pending = self.start(request)
        while pending:
            pending = self.complete([self.target.wait_import(pid) for pid in pending])
        return self.finish()

    def start(self, request: MirrorRequest) -> list[str]:
        """Read both sides, diff, brake, and stage the writes; submit the first import and return its process id
        (``[]``: no import to wait for, e.g. a dry run or a segment still building)."""
        self._done = self._plan(request)
        if self._done is not None:
            return []
        writer = self.writer
        # the first import of new members goes before the rest of the plan is mapped and staged
        pending = writer.next_import() if self._first_staged else []
        self._stage_rest()
        return pending or writer.next_import()

    def complete(self, states: Iterable[ProcessState]) -> list[str]:
        """Take the ended imports; return the imports to wait for next (``[]``: go on to :meth:`finish`)."""
        return self.writer.complete(states)

    def finish(self) -> MirrorResult:
        """The contact writes and removals after the imports; what the run did."""
        if self._done is not None:
            return self._done
        result = self.writer.finish()
        self._log_done(result)
        return result

    def _plan(self, request: MirrorRequest) -> MirrorResult | None:
        """The run's result when it is decided without writes (building segment, dry run), else ``None`` with the
        writes staged."""
        result = MirrorResult(
            segment_id=request.segment_id,
            list_id=request.list_id,
            dry_run=request.dry_run,
            forced=request.force,
            requested_list_id=request.list_id,
        )
        state, name = self.source.segment_state(request.segment_id)
        result.segment_state, result.segment_name = state, name
        if state != FINISHED_STATE:
            result.skipped_building = True
            self.log(
                "Customer.io segment %s is %r (still building): skipped, its membership is incomplete. "
                "The next run mirrors it once it is finished.",
                request.segment_id,
                state,
            )
            return result
        return self._mirror(request, name, result)

    def _mirror(self, request: MirrorRequest, name: str, result: MirrorResult) -> MirrorResult | None:
        """Plan a finished segment: read both sides, diff, brake, then stage the writes (or plan, in a dry run)."""

        list_id, list_is_new = self._resolve_list(request, name, result)
        members = [SegmentMember.from_identifiers(i) for i in self.source.iter_members(request.segment_id)]
        contacts = [] if list_is_new else list(self.target.iter_list_contacts(list_id))
        diff = diff_membership(members, contacts)
        result.segment_size = diff.segment_size
        result.list_size_before = diff.list_size
        result.held = len(diff.held)
        result.unchanged = len(diff.matched)

        lifecycle = self._lifecycle_values(request, diff, result)
        lifecycle_updates = self._lifecycle_updates(diff, lifecycle)
        fields = fields_for(request.include_attributes, self.field_mapping)
        brevo_attributes: list[BrevoAttribute] = []
        if diff.adds or lifecycle_updates:
            brevo_attributes = self._check_attributes(fields, lifecycle is not None)

        exceeded = brake_exceeded(len(diff.removes), diff.list_size, self.settings.removal_brake)
        result.brake_tripped = exceeded and not request.force
        if request.dry_run:
            return self._plan_only(result, diff, lifecycle_updates)
        check_removal_brake(
            len(diff.removes),
            diff.list_size,
            self.settings.removal_brake,
            force=request.force,
            segment_id=request.segment_id,
            list_id=list_id,
        )

        self._first_staged, self._stage_rest = self.writer.stage(
            request, list_id, diff, fields, brevo_attributes, lifecycle, lifecycle_updates, result
        )
        return None

    def _log_done(self, result: MirrorResult) -> None:
        self.log(
            "Mirrored Customer.io segment %s into Brevo list %s: %d added, %d removed, %d unchanged, "
            "%d rejected, %d lifecycle updates, %d write calls.",
            result.segment_id,
            result.list_id,
            result.added,
            result.removed,
            result.unchanged,
            result.rejected,
            result.lifecycle_updated,
            result.write_calls,
        )

    # ------------------------------------------------------------------ steps
    def _resolve_list(self, request: MirrorRequest, segment_name: str, result: MirrorResult) -> tuple[int, bool]:
        lists = {int(i): str(n) for i, n in self.target.lists()}
        if request.list_id in lists:
            return request.list_id, False
        if not self.settings.create_missing_lists:
            raise ListNotFoundError(
                f"Brevo list {request.list_id}, the mirror target of Customer.io segment {request.segment_id}, "
                "does not exist. Create it in Brevo and use its id (connectors.customerio.segments.mirror or the "
                "list_id param), or set connectors.customerio.segments.create_missing_lists: true to let the "
                "sync create it."
            )
        name = mirror_list_name(request.segment_id, segment_name)
        prefix = mirror_list_prefix(request.segment_id)
        for list_id, existing in sorted(lists.items()):
            if existing.startswith(prefix):  # created by an earlier run (maybe before a rename): never create twice
                self.log(
                    "Brevo list %s does not exist; mirroring into list %s (%r), created by an earlier run. "
                    "Put %s in connectors.customerio.segments.mirror.",
                    request.list_id,
                    list_id,
                    name,
                    list_id,
                )
                result.list_id = list_id
                return list_id, False
        result.list_created = True
        if request.dry_run:
            self.log("Dry run: would create Brevo list %r in folder %s.", name, self.settings.folder_id)
            return request.list_id, True
        self.check_lease()  # a stalled try whose lease was taken over writes nothing (store/fencing.py)
        list_id = int(self.target.create_list(name, self.settings.folder_id))
        result.write_calls += 1
        result.list_id = list_id
        self.log(
            "Created Brevo list %s (%r) in folder %s for segment %s; put %s in connectors.customerio.segments.mirror.",
            list_id,
            name,
            self.settings.folder_id,
            request.segment_id,
            list_id,
        )
        return list_id, True

    def _check_attributes(self, fields: Sequence[MappedField], with_lifecycle: bool) -> list[BrevoAttribute]:
        """Brevo's attribute list; fails before any write when a target attribute is missing (imports drop
        unknown attributes silently)."""
        needs = [f for f in fields if not f.is_email]
        life = self.lifecycle
        if not needs and not (with_lifecycle and life is not None):
            return []
        attributes = [BrevoAttribute.from_api(a) for a in self.target.list_attributes()]
        missing = check_mapping(needs, attributes)
        if missing:
            raise missing_attributes_error(missing)
        if with_lifecycle and life is not None:
            if life.attribute.upper() not in {a.name for a in attributes}:
                raise SegmentMirrorError(
                    f"Brevo has no contact attribute {life.attribute} (connectors.customerio.segments.lifecycle."
                    "attribute); Brevo would silently drop its values. Create it in Brevo (Contacts > Settings > "
                    "Contact attributes, type text) or change the setting."
                )
        return attributes

    def _lifecycle_values(
        self, request: MirrorRequest, diff: MembershipDiff, result: MirrorResult
    ) -> dict[str, str | None] | None:
        life = self.lifecycle
        if life is None:
            return None
        own = {m.cio_id for m, _ in diff.matched} | {m.cio_id for m in diff.adds}
        memberships: dict[int, AbstractSet[str]] = {}
        for rule in life.order:
            if rule.segment_id in memberships:
                continue
            if rule.segment_id == request.segment_id:
                memberships[rule.segment_id] = own
                continue
            state, _ = self.source.segment_state(rule.segment_id)
            if state != FINISHED_STATE:
                result.lifecycle_skipped_segments.append(rule.segment_id)
                continue
            memberships[rule.segment_id] = frozenset(
                clean_text(i.get("cio_id")) or "" for i in self.source.iter_members(rule.segment_id)
            )
        if result.lifecycle_skipped_segments:
            self.log(
                "Lifecycle attribute %s not written this run: segments %s are still building.",
                life.attribute,
                result.lifecycle_skipped_segments,
            )
            return None
        return {cio_id: resolve_lifecycle(life.order, cio_id, memberships) for cio_id in own}

    def _lifecycle_updates(
        self, diff: MembershipDiff, lifecycle: Mapping[str, str | None] | None
    ) -> list[tuple[ListContact, str | None]]:
        life = self.lifecycle
        if lifecycle is None or life is None:
            return []
        attribute = life.attribute.upper()
        updates = []
        for member, contact in diff.matched:
            wanted = lifecycle.get(member.cio_id)
            if (wanted or None) != clean_text(contact.attributes.get(attribute)):
                updates.append((contact, wanted))
        return updates

    def _plan_only(
        self,
        result: MirrorResult,
        diff: MembershipDiff,
        lifecycle_updates: Sequence[tuple[ListContact, str | None]],
    ) -> MirrorResult:
        result.added = len(diff.adds)
        result.removed = len(diff.removes)
        result.rejected = len(diff.rejected)
        result.lifecycle_updated = len(lifecycle_updates)
        result.planned_adds = [m.as_record() for m in diff.adds[: self.sample_size]]
        result.planned_removes = [c.as_record() for c in diff.removes[: self.sample_size]]
        self.log(
            "Dry run, nothing written: segment %s -> list %s would add %d, remove %d (removal brake: %s), "
            "update the lifecycle attribute of %d, reject %d.",
            result.segment_id,
            result.list_id,
            result.added,
            result.removed,
            "would trip, needs force=true" if result.brake_tripped else "ok",
            result.lifecycle_updated,
            result.rejected,
        )
        return result
