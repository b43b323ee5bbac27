"""Segment replication: mirror a Customer.io segment into a Brevo list, removals included.

Pure logic, no Airflow and no HTTP: the vendors are reached through two small ports
(:class:`SegmentSource`, :class:`ListTarget`) that the operator builds on the hooks.

One run of :class:`SegmentMirror` for one ``segment_id -> list_id`` pair:

1. reads the segment's state and skips it (and says so) unless it is ``finished``;
2. checks that the list exists (or creates it when ``create_missing_lists`` is on);
3. reads the full segment membership and the list's current members, and diffs them
   (:func:`diff_membership`): people are matched on Brevo ``EXT_ID`` = Customer.io ``id``, then on email;
4. applies the removal brake (:func:`check_removal_brake`) before any write;
5. upserts the missing people with a Brevo import that carries the list id (attributes hydrated from
   Customer.io by ``cio_id``, at most 100 per call, mapped through ``field_mapping``), then checks that each
   one reached the list; people without an email go through the contact endpoints by ``ext_id``;
6. writes the optional lifecycle attribute where it differs, and removes the leavers, at most 150 per call.

Every member ends in the list or in the ledger (through ``reject``) with a reason. A re-run with no change makes
zero writes: everything is decided by diffing live state, so a killed or failed run is resumed by running again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.batching import Batch, Oversize, pack
from airflow_provider_customerio.sync.config import (
    EMAIL_TARGET,
    LifecycleRule,
    LifecycleSettings,
    MappedField,
    SegmentSettings,
)
from airflow_provider_customerio.sync.mapping import (
    EXT_ID_ATTRIBUTE,
    BrevoAttribute,
    ConversionError,
    Person,
    PersonMapper,
    RejectedPerson,
    check_mapping,
    missing_attributes_error,
)
from airflow_provider_customerio.sync.mapping import normalise_email as strict_email

#: The only segment state whose membership is complete.
FINISHED_STATE = "finished"
#: Brevo ``/contacts/lists/{id}/contacts/add|remove`` accept 1-150 identifiers per call.
MAX_LIST_CHANGE = 150
#: Customer.io ``POST /v1/customers/attributes`` accepts 1-100 ids per call.
MAX_HYDRATE = 100
#: Customer.io segment membership page size maximum.
MEMBERSHIP_LIMIT = 30000
#: Brevo accepts 10 MB import bodies and advises staying around 8 MB.
IMPORT_MAX_BYTES = 8_000_000
#: Rows per import: keeps one failed process small enough to diagnose.
IMPORT_MAX_ROWS = 50_000

_T = TypeVar("_T")

#: Customer.io attribute names with a Brevo default attribute of another name.
DEFAULT_ATTRIBUTE_NAMES = {
    "first_name": "FIRSTNAME",
    "firstname": "FIRSTNAME",
    "last_name": "LASTNAME",
    "lastname": "LASTNAME",
    "phone": "SMS",
}


# ------------------------------------------------------------------------------------------------ errors
class SegmentMirrorError(ValueError):
    """A segment cannot be mirrored as configured; the message names the setting and the fix."""


class RemovalBrakeError(SegmentMirrorError):
    """A run would remove more of a list than ``removal_brake`` allows."""


class ListNotFoundError(SegmentMirrorError):
    """The Brevo list a segment is mirrored into does not exist."""


class ImportFailedError(SegmentMirrorError):
    """A Brevo import process ended in failure; nothing about its rows is known."""


# ------------------------------------------------------------------------------------------------ values
@dataclass(frozen=True, slots=True)
class SegmentMember:
    """One person of a Customer.io segment, as the membership endpoint identifies it.

    :param cio_id: Customer.io's internal id (always present).
    :param id: the workspace's ``id`` identifier; becomes Brevo ``EXT_ID``. ``None`` when unset.
    :param email: email address, ``None`` when unset or when the workspace is id-only.
    """

    cio_id: str
    id: str | None
    email: str | None

    @classmethod
    def from_identifiers(cls, item: Mapping[str, Any]) -> SegmentMember:
        """Build from a membership ``identifiers`` item (``{"email", "id", "cio_id"}``, keys optional)."""
        return cls(
            cio_id=_text(item.get("cio_id")) or "",
            id=_text(item.get("id")),
            email=_text(item.get("email")),
        )

    def as_record(self) -> dict[str, Any]:
        """JSON-safe form for the ledger."""
        return {"cio_id": self.cio_id, "id": self.id, "email": self.email}


@dataclass(frozen=True, slots=True)
class ListContact:
    """One contact of a Brevo list.

    :param contact_id: Brevo's numeric contact id.
    :param email: the contact's email (``None`` for SMS/ext-id-only contacts).
    :param ext_id: the ``EXT_ID`` attribute, i.e. the Customer.io ``id`` it was created from.
    :param attributes: the contact's attributes, names upper-case.
    :param modified_at: Brevo's ``modifiedAt`` (its own clock), when given.
    """

    contact_id: int
    email: str | None
    ext_id: str | None
    attributes: Mapping[str, Any]
    modified_at: str | None = None

    @classmethod
    def from_brevo(cls, item: Mapping[str, Any]) -> ListContact:
        """Build from a Brevo contact object (``GET /contacts/lists/{id}/contacts`` item)."""
        attrs = {str(k).upper(): v for k, v in (item.get("attributes") or {}).items()}
        ext = item.get("ext_id")
        if ext in (None, ""):
            ext = attrs.get("EXT_ID")
        return cls(
            contact_id=int(item["id"]),
            email=_text(item.get("email")),
            ext_id=_text(ext),
            attributes=attrs,
            modified_at=_text(item.get("modifiedAt")),
        )

    def as_record(self) -> dict[str, Any]:
        """JSON-safe form for the ledger."""
        return {"brevo_contact_id": self.contact_id, "email": self.email, "ext_id": self.ext_id}


@dataclass(frozen=True)
class MirrorRequest:
    """One pair to mirror and how.

    :param segment_id: Customer.io segment id.
    :param list_id: Brevo list id.
    :param include_attributes: Customer.io attributes written on people added to the list.
    :param dry_run: plan only: report adds and removes, write nothing.
    :param force: remove even beyond the removal brake.
    """

    segment_id: int
    list_id: int
    include_attributes: tuple[str, ...] = ()
    dry_run: bool = False
    force: bool = False


def parse_mirror_pairs(
    mirror: Mapping[Any, Any] | None,
    lists: Mapping[str, Any] | None = None,
    *,
    path: str = "connectors.customerio.segments.mirror",
) -> list[tuple[int, int]]:
    """Turn the ``mirror`` map ``{segment_id: list_id | list name}`` into sorted ``(segment, list)`` pairs.

    A value may name an entry of the config's ``lists`` map (``all_contacts``, ``active_subscribers``,
    ``churned``...) instead of giving a Brevo list id.
    """
    pairs: list[tuple[int, int]] = []
    for raw_segment, raw_list in (mirror or {}).items():
        segment_id = _as_int(raw_segment, f"{path} key {raw_segment!r}")
        if isinstance(raw_list, str) and not raw_list.strip().isdigit():
            if not lists or raw_list not in lists:
                known = ", ".join(sorted(lists or {})) or "none defined"
                raise SegmentMirrorError(
                    f"{path}[{segment_id}] names list {raw_list!r}, which is not in the config's 'lists' map "
                    f"({known}). Use a Brevo list id or add {raw_list!r} to 'lists'."
                )
            raw_list = lists[raw_list]
        pairs.append((segment_id, _as_int(raw_list, f"{path}[{segment_id}]")))
    return sorted(pairs)


# ------------------------------------------------------------------------------------------------- diff
@dataclass(frozen=True, slots=True)
class Rejection:
    """A person that cannot be mirrored (goes to the rejected-records ledger).

    :param reason: ledger reason code (``sync/ledger.py`` REASONS), e.g. ``identity_clash``.
    :param message: what happened and the fix.
    """

    record: Mapping[str, Any]
    reason: str
    message: str


@dataclass
class MembershipDiff:
    """What it takes to make a list equal to a segment.

    :param adds: segment members missing from the list.
    :param removes: list contacts no longer in the segment.
    :param matched: ``(member, contact)`` pairs already in place.
    :param rejected: members that cannot be matched or created, with the reason.
    :param held: list contacts kept although unmatched, because an identity conflict involves them.
    """

    segment_size: int
    list_size: int
    adds: list[SegmentMember] = field(default_factory=list)
    removes: list[ListContact] = field(default_factory=list)
    matched: list[tuple[SegmentMember, ListContact]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    held: list[ListContact] = field(default_factory=list)
    latest_modified: str | None = None


def normalise_email(value: str | None) -> str | None:
    """Lower-cased, stripped email used as a match key (Brevo and Customer.io treat case as equal)."""
    if not value:
        return None
    value = value.strip().lower()
    return value or None


def is_valid_email(value: str | None) -> bool:
    """Whether Brevo can key a contact on this email (the people sync's check)."""
    if not value:
        return False
    try:
        strict_email(value)
    except ConversionError:
        return False
    return True


def _index_contacts(contacts: Sequence[ListContact]) -> tuple[dict[str, ListContact], dict[str, ListContact]]:
    """The list's contacts by ``EXT_ID`` and by normalised email (the first one wins)."""
    by_ext: dict[str, ListContact] = {}
    by_email: dict[str, ListContact] = {}
    for listed in contacts:
        if listed.ext_id is not None:
            by_ext.setdefault(listed.ext_id, listed)
        email_key = normalise_email(listed.email)
        if email_key is not None:
            by_email.setdefault(email_key, listed)
    return by_ext, by_email


def _unaddable(member: SegmentMember) -> Rejection | None:
    """Why an unmatched member cannot be added to the list (``None``: it can)."""
    if member.email and not is_valid_email(member.email):
        # as in the people sync: a broken email is fixed at the source, not worked around with the id
        return Rejection(
            member.as_record(),
            "invalid_email",
            f"the email {member.email!r} is not a valid address, so Brevo cannot key the contact on it. "
            "Fix the email in Customer.io; the next run adds the person.",
        )
    if member.id is None and not member.email:
        return Rejection(
            member.as_record(),
            "missing_identifier",
            "no id and no email in Customer.io: the person cannot be matched to or created as a Brevo "
            "contact. Give the person an id or an email in Customer.io.",
        )
    return None


def diff_membership(
    members: Iterable[SegmentMember | Mapping[str, Any]],
    contacts: Iterable[ListContact | Mapping[str, Any]],
) -> MembershipDiff:
    """Diff a segment's members against a list's contacts.

    A member matches the contact whose ``EXT_ID`` equals its ``id``; failing that, the contact with the same
    email, provided that contact has no ``EXT_ID`` of another person. Members with neither id nor usable email,
    and identity conflicts, are rejected with a reason; contacts caught in a conflict are held, not removed.
    """
    member_list = _dedupe_members(
        m if isinstance(m, SegmentMember) else SegmentMember.from_identifiers(m) for m in members
    )
    contact_list = [c if isinstance(c, ListContact) else ListContact.from_brevo(c) for c in contacts]
    by_ext, by_email = _index_contacts(contact_list)

    result = MembershipDiff(
        segment_size=len(member_list), list_size=len(contact_list), latest_modified=latest_timestamp(contact_list)
    )
    claimed: dict[int, SegmentMember] = {}
    held: dict[int, ListContact] = {}
    for member in member_list:
        email_key = normalise_email(member.email)
        contact = by_ext.get(member.id) if member.id is not None else None
        if contact is None and email_key is not None:
            candidate = by_email.get(email_key)
            if candidate is not None and candidate.ext_id not in (None, member.id):
                held[candidate.contact_id] = candidate
                result.rejected.append(
                    Rejection(
                        member.as_record(),
                        "identity_clash",
                        f"email {member.email!r} belongs to Brevo contact "
                        f"{candidate.contact_id} whose EXT_ID is {candidate.ext_id!r}, but the Customer.io person "
                        f"has id {member.id!r}. Fix the id or email in one system; the contact is left in the list.",
                    )
                )
                continue
            contact = candidate
        if contact is not None:
            owner = claimed.get(contact.contact_id)
            if owner is not None:
                held[contact.contact_id] = contact
                result.rejected.append(
                    Rejection(
                        member.as_record(),
                        "identity_clash",
                        f"Brevo contact {contact.contact_id} already stands for Customer.io "
                        f"person cio_id={owner.cio_id!r} (same id or email). Merge the duplicates in Customer.io.",
                    )
                )
                continue
            claimed[contact.contact_id] = member
            result.matched.append((member, contact))
            continue
        refused = _unaddable(member)
        if refused is not None:
            result.rejected.append(refused)
            continue
        result.adds.append(member)
    for contact in contact_list:
        if contact.contact_id not in claimed and contact.contact_id not in held:
            result.removes.append(contact)
    result.held = list(held.values())
    return result


def latest_timestamp(contacts: Iterable[ListContact]) -> str | None:
    """The latest ``modifiedAt`` among ``contacts``, as Brevo wrote it (``None`` when there is none); one written
    without an offset is given the UTC offset it was read with (a time filter always carries one)."""
    best: tuple[datetime, str] | None = None
    for contact in contacts:
        if not contact.modified_at:
            continue
        try:
            when = parse_iso(contact.modified_at)
        except ValueError:
            continue
        if best is None or when > best[0]:
            best = (when, contact.modified_at)
    if best is None:
        return None
    return best[1] if _has_offset(best[1]) else best[0].isoformat(timespec="milliseconds")


def _has_offset(text: str) -> bool:
    """``...Z``, ``...±HH:MM`` or ``...±HHMM`` after a time."""
    tail = text.strip()
    return (
        tail[-1:].upper() == "Z"
        or ("T" in tail and tail[-6:-5] in ("+", "-") and tail[-3:-2] == ":")
        or ("T" in tail and tail[-5:-4] in ("+", "-") and tail[-4:].isdigit())
    )


def _dedupe_members(members: Iterable[SegmentMember]) -> list[SegmentMember]:
    seen: set[str] = set()
    out: list[SegmentMember] = []
    for m in members:
        key = m.cio_id or f"id:{m.id}|email:{normalise_email(m.email)}"
        if key in seen:
            continue
        seen.add(key)
        out.append(m)
    return out


# ---------------------------------------------------------------------------------------- brake, chunks
def brake_exceeded(remove_count: int, list_size: int, removal_brake: float) -> bool:
    """True when removing ``remove_count`` of ``list_size`` contacts exceeds the ``removal_brake`` fraction."""
    if remove_count <= 0 or list_size <= 0:
        return False
    return remove_count / list_size > removal_brake


def check_removal_brake(
    remove_count: int,
    list_size: int,
    removal_brake: float,
    *,
    force: bool,
    segment_id: int,
    list_id: int,
) -> None:
    """Refuse, with the numbers and the way out, a run that removes too much of a list.

    :raises RemovalBrakeError: when the brake is exceeded and ``force`` is false.
    """
    if force or not brake_exceeded(remove_count, list_size, removal_brake):
        return
    share = remove_count / list_size
    raise RemovalBrakeError(
        f"Removal brake: mirroring Customer.io segment {segment_id} would remove {remove_count} of the "
        f"{list_size} contacts of Brevo list {list_id} ({share:.1%}), more than removal_brake "
        f"{removal_brake:g} ({removal_brake:.0%}). Nothing was written. If this is intended, trigger the run "
        "again with the param force=true (or raise connectors.customerio.segments.removal_brake); "
        "check with dry_run=true first."
    )


def chunked(items: Sequence[_T], size: int) -> Iterator[list[_T]]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def resolve_lifecycle(
    order: Sequence[LifecycleRule], cio_id: str, memberships: Mapping[int, AbstractSet[str]]
) -> str | None:
    """Lifecycle value of one person: the first rule whose segment holds ``cio_id``, else ``None``."""
    for rule in order:
        members = memberships.get(rule.segment_id)
        if members is not None and cio_id in members:
            return rule.value
    return None


def default_attribute_name(name: str) -> str:
    """Brevo attribute name for a Customer.io attribute that ``field_mapping`` does not map."""
    key = name.strip()
    return DEFAULT_ATTRIBUTE_NAMES.get(key.lower(), re.sub(r"[^A-Z0-9_]", "_", key.upper()))


def fields_for(include_attributes: Sequence[str], field_mapping: Sequence[MappedField]) -> list[MappedField]:
    """The mapped fields written for people added to a list: the email, plus each requested attribute
    through ``field_mapping`` (or an upper-cased name when it is not mapped there)."""
    fields = [MappedField("email", EMAIL_TARGET)]
    for name in include_attributes:
        name = name.strip()
        if not name or name.lower() == "email":
            continue
        mapped = [f for f in field_mapping if f.source == name and not f.is_email]
        fields.extend(mapped or [MappedField(name, default_attribute_name(name))])
    by_target: dict[str, MappedField] = {}
    for f in fields:
        by_target.setdefault(f.target, f)
    return list(by_target.values())


# ------------------------------------------------------------------------------------------------ ports
@dataclass
class ListChange:
    """Outcome of one add/remove call: which identifiers Brevo applied and which it refused."""

    success: list[Any] = field(default_factory=list)
    failure: list[Any] = field(default_factory=list)


@dataclass
class ContactWrite:
    """Outcome of a one-contact write: the calls it took and Brevo's refusal, if any."""

    calls: int = 1
    error: str | None = None


@dataclass
class ImportOutcome:
    """A finished Brevo import.

    :param process_id: Brevo process id.
    :param status: Brevo's final status word (for messages).
    :param problems: the non-empty counters of the import report (``invalid_emails``, ``duplicate_ext_id``...).
    :param succeeded: the import ended well (the adapter reads Brevo's status).
    """

    process_id: Any
    status: str = ""
    problems: dict[str, Any] = field(default_factory=dict)
    succeeded: bool = True


class SegmentSource(Protocol):
    """What a mirror run needs from Customer.io."""

    def segment_state(self, segment_id: int) -> tuple[str, str]:
        """``(state, name)`` of a segment; raises :class:`SegmentMirrorError` when it does not exist."""
        ...

    def iter_members(self, segment_id: int) -> Iterator[Mapping[str, Any]]:
        """The segment's identifier dicts ``{email, id, cio_id}``, every page."""
        ...

    def people_attributes(self, cio_ids: Sequence[str]) -> Iterable[Mapping[str, Any]]:
        """Flat person items (``{id, identifiers, attributes, ...}``) for at most 100 cio_ids."""
        ...


class ListTarget(Protocol):
    """What a mirror run needs from Brevo."""

    def lists(self) -> Iterable[tuple[int, str]]:
        """Every list of the account as ``(id, name)``."""
        ...

    def create_list(self, name: str, folder_id: int) -> int:
        """Create a list; return its id."""
        ...

    def list_attributes(self) -> Iterable[Mapping[str, Any]]:
        """The account's contact attributes (``{name, type, category, ...}``)."""
        ...

    def iter_list_contacts(self, list_id: int, modified_since: str | None = None) -> Iterator[Mapping[str, Any]]:
        """Every contact of a list (only those modified since ``modified_since``, a :meth:`clock_mark`)."""
        ...

    def clock_mark(self) -> str:
        """A point in time shortly before now, usable as ``modified_since`` (allowing for clock skew)."""
        ...

    def import_contacts(self, rows: Sequence[Mapping[str, Any]], list_id: int) -> ImportOutcome:
        """Upsert ``rows`` (``{email, attributes}``) into ``list_id`` and wait until the process ends."""
        ...

    def upsert_by_ext_id(self, ext_id: str, attributes: Mapping[str, Any], list_id: int) -> ContactWrite:
        """Add the contact with this EXT_ID to the list (creating it when Brevo has none), setting
        ``attributes``; a refusal comes back in :attr:`ContactWrite.error`, not as an exception."""
        ...

    def remove_from_list(self, list_id: int, *, contact_ids: Sequence[int]) -> ListChange:
        """Remove contacts (≤150) by Brevo contact id; refusals come back in ``failure``."""
        ...

    def update_attributes(self, identifier: str | int, identifier_type: str, attributes: Mapping[str, Any]) -> None:
        """Update one contact's attributes (``identifier_type`` is ``ext_id`` or ``contact_id``)."""
        ...


RejectSink = Callable[[Mapping[str, Any], str, str], None]
"""Ledger sink: ``(record, reason_code, message)``."""


# ----------------------------------------------------------------------------------------------- result
@dataclass
class MirrorResult:
    """What one run did (or, in a dry run, would do). :meth:`summary` is the XCom value."""

    segment_id: int
    list_id: int
    dry_run: bool = False
    forced: bool = False
    segment_name: str = ""
    segment_state: str = ""
    skipped_building: bool = False
    segment_size: int = 0
    list_size_before: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    rejected: int = 0
    held: int = 0
    lifecycle_updated: int = 0
    lifecycle_skipped_segments: list[int] = field(default_factory=list)
    attribute_problems: int = 0
    list_created: bool = False
    requested_list_id: int | None = None
    brake_tripped: bool = False
    write_calls: int = 0
    api_calls: int = 0
    planned_adds: list[dict[str, Any]] = field(default_factory=list)
    planned_removes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def list_size_after(self) -> int:
        """Contacts in the list after the run (as planned, in a dry run)."""
        return self.list_size_before + self.added - self.removed

    def summary(self) -> dict[str, Any]:
        """Small JSON-safe summary for XCom and logs."""
        out: dict[str, Any] = {
            "segment": self.segment_id,
            "list": self.list_id,
            "segment_state": self.segment_state,
            "skipped_building": self.skipped_building,
            "segment_size": self.segment_size,
            "list_size_before": self.list_size_before,
            "list_size_after": self.list_size_after,
            "added": self.added,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "held": self.held,
            "lifecycle_updated": self.lifecycle_updated,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "brake_tripped": self.brake_tripped,
            "list_created": self.list_created,
            "write_calls": self.write_calls,
            "api_calls": self.api_calls,
        }
        if self.requested_list_id is not None and self.requested_list_id != self.list_id:
            out["requested_list"] = self.requested_list_id
        if self.lifecycle_skipped_segments:
            out["lifecycle_skipped_segments"] = list(self.lifecycle_skipped_segments)
        if self.attribute_problems:
            out["attribute_problems"] = self.attribute_problems
        if self.dry_run:
            out["sample_adds"] = list(self.planned_adds)
            out["sample_removes"] = list(self.planned_removes)
            out["plan"] = {
                "creates": 0,
                "updates": self.lifecycle_updated,
                "deletes": 0,
                "list_adds": self.added,
                "list_removals": self.removed,
                "list_adds_items": list(self.planned_adds),
                "list_removals_items": list(self.planned_removes),
            }
        return out


# ------------------------------------------------------------------------------------------------ runner
#: Waits before the list is read again for imported people not in it yet (Brevo's reads lag its imports): ~1 min.
SETTLE_DELAYS: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0, 30.0)


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
    ) -> None:
        self.check_lease = check_lease
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
    def lifecycle(self) -> LifecycleSettings | None:
        """The lifecycle settings when a lifecycle attribute is configured (non-empty ``order``)."""
        life = self.settings.lifecycle
        return life if life is not None and life.order else None

    # ------------------------------------------------------------------ top level
    def run(self, request: MirrorRequest) -> MirrorResult:
        """Mirror ``request.segment_id`` into ``request.list_id`` and return what was done."""
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

        for rejection in diff.rejected:
            self._reject(request, result, rejection.record, rejection.reason, rejection.message)
        result.added = self._apply_adds(request, list_id, diff, fields, brevo_attributes, lifecycle, result)
        result.lifecycle_updated = self._apply_lifecycle_updates(list_id, lifecycle_updates, result)
        result.removed = self._apply_removes(list_id, diff.removes, result)
        self.log(
            "Mirrored Customer.io segment %s into Brevo list %s: %d added, %d removed, %d unchanged, "
            "%d rejected, %d lifecycle updates, %d write calls.",
            request.segment_id,
            list_id,
            result.added,
            result.removed,
            result.unchanged,
            result.rejected,
            result.lifecycle_updated,
            result.write_calls,
        )
        return result

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
                _text(i.get("cio_id")) or "" for i in self.source.iter_members(rule.segment_id)
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
            if (wanted or None) != _text(contact.attributes.get(attribute)):
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

    def _apply_adds(
        self,
        request: MirrorRequest,
        list_id: int,
        diff: MembershipDiff,
        fields: Sequence[MappedField],
        brevo_attributes: Sequence[BrevoAttribute],
        lifecycle: Mapping[str, str | None] | None,
        result: MirrorResult,
    ) -> int:
        adds = diff.adds
        if not adds:
            return 0
        people = self._people(request, adds, fields, result)
        mapper = PersonMapper(fields, brevo_attributes)
        life = self.lifecycle
        rows: list[dict[str, Any]] = []
        row_members: dict[str, SegmentMember] = {}
        by_ext_id: list[tuple[SegmentMember, dict[str, Any]]] = []
        for member, person in people:
            mapped = mapper.map(person)
            if isinstance(mapped, RejectedPerson):
                self._reject(request, result, member.as_record(), mapped.reason, mapped.message)
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
            if mapped.email is not None:
                rows.append({"email": mapped.email, "attributes": attrs})
                row_members[mapped.email] = member
            else:
                by_ext_id.append((member, attrs))
        added = self._import_rows(request, list_id, rows, row_members, diff.latest_modified, result) if rows else 0
        # Brevo documents no way to key an import row on EXT_ID alone, so people without an email are written one
        # by one through the contact endpoints, which do take ext_id (rare: most workspaces key on email).
        for member, attrs in by_ext_id:
            extra = {k: v for k, v in attrs.items() if k != EXT_ID_ATTRIBUTE}
            self.check_lease()
            outcome = self.target.upsert_by_ext_id(str(member.id), extra, list_id)
            result.write_calls += outcome.calls
            if outcome.error is not None:
                self._reject(
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
    ) -> list[tuple[SegmentMember, Person]]:
        """Pair each member to add with its Customer.io profile, hydrated by cio_id when attributes are needed."""
        if not any(f.source not in ("email", "id") for f in fields):
            return [(m, Person(cio_id=m.cio_id, id=m.id, email=m.email)) for m in adds]
        profiles: dict[str, Mapping[str, Any]] = {}
        for chunk in chunked([m.cio_id for m in adds], MAX_HYDRATE):
            for item in self.source.people_attributes(chunk):
                item = item.get("customer", item) if "customer" in item else item
                identifiers = item.get("identifiers") or {}
                attributes = item.get("attributes") or {}
                cio_id = _text(identifiers.get("cio_id")) or _text(attributes.get("cio_id"))
                if cio_id is not None:
                    profiles[cio_id] = item
        out = []
        for member in adds:
            profile = profiles.get(member.cio_id)
            if profile is None:
                self._reject(
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

    def _import_rows(
        self,
        request: MirrorRequest,
        list_id: int,
        rows: Sequence[dict[str, Any]],
        row_members: Mapping[str, SegmentMember],
        latest_modified: str | None,
        result: MirrorResult,
    ) -> int:
        """Import the new members, then check that each one reached the list.

        Brevo's import report only counts problems (and not all of them), so the check reads back the list's
        contacts modified since the import started: cheap, proportional to the people imported. "Since" is the
        latest ``modifiedAt`` of the list read just before (Brevo's own clock, so no skew), or the port's
        :meth:`~ListTarget.clock_mark` for an empty list. Anyone missing there is confirmed with a full read
        before being ledgered.
        """
        mark = latest_modified or self.target.clock_mark()
        report: dict[str, Any] = {}
        imported: list[SegmentMember] = []
        for batch in pack(rows, max_bytes=self.import_max_bytes, max_count=IMPORT_MAX_ROWS, overhead_bytes=400):
            if isinstance(batch, Oversize):
                member = row_members[batch.item["email"]]
                self._reject(request, result, member.as_record(), batch.reason, batch.message)
                continue
            outcome = self._import(batch.items, list_id, result, purpose="new members")
            imported.extend(row_members[r["email"]] for r in batch.items)
            report.update({f"process {outcome.process_id} {k}": v for k, v in outcome.problems.items()})
        if not imported:
            return 0
        missing = self._not_in_list(list_id, imported, modified_since=mark)
        if missing:
            missing = self._not_in_list(list_id, missing, modified_since=None)
        explained = sum(v for v in report.values() if isinstance(v, int) and not isinstance(v, bool))
        for delay in self.settle_delays if len(missing) > explained else ():
            self.sleep(delay)  # Brevo's reads lag its imports: give them time before deciding
            missing = self._not_in_list(list_id, missing, modified_since=None)
            if not missing:
                break
        for member in missing:
            self._reject(
                request,
                result,
                member.as_record(),
                "import_invalid",
                f"the Brevo import did not put this contact in list {list_id} "
                f"(import report: {report or 'no counts'}). Check the email and identifiers in Customer.io; "
                "the next run tries again.",
            )
        return len(imported) - len(missing)

    def _not_in_list(
        self, list_id: int, members: Sequence[SegmentMember], *, modified_since: str | None
    ) -> list[SegmentMember]:
        present_ext: set[str] = set()
        present_email: set[str] = set()
        for item in self.target.iter_list_contacts(list_id, modified_since=modified_since):
            contact = ListContact.from_brevo(item)
            if contact.ext_id:
                present_ext.add(contact.ext_id)
            email_key = normalise_email(contact.email)
            if email_key:
                present_email.add(email_key)
        return [
            m for m in members if normalise_email(m.email) not in present_email and not (m.id and m.id in present_ext)
        ]

    def _import(
        self, rows: Sequence[Mapping[str, Any]], list_id: int, result: MirrorResult, *, purpose: str
    ) -> ImportOutcome:
        self.check_lease()  # a stalled try whose lease was taken over writes nothing (store/fencing.py)
        outcome = self.target.import_contacts(rows, list_id)
        result.write_calls += 1
        if not outcome.succeeded:
            raise ImportFailedError(
                f"Brevo import process {outcome.process_id} ({purpose}, {len(rows)} rows, list {list_id}) ended "
                f"with status {outcome.status!r}. Re-run the task: it re-reads both sides and sends only what "
                "is still missing."
            )
        return outcome

    def _apply_lifecycle_updates(
        self, list_id: int, updates: Sequence[tuple[ListContact, str | None]], result: MirrorResult
    ) -> int:
        life = self.lifecycle
        if not updates or life is None:
            return 0
        attribute = life.attribute.upper()
        rows = []
        for contact, value in updates:
            if value is not None and is_valid_email(contact.email):
                rows.append({"email": normalise_email(contact.email), "attributes": {attribute: value}})
            else:  # no email, or clearing the value: per-contact update by Brevo id
                self.check_lease()
                self.target.update_attributes(contact.contact_id, "contact_id", {attribute: value or ""})
                result.write_calls += 1
        for batch in pack(rows, max_bytes=self.import_max_bytes, max_count=IMPORT_MAX_ROWS, overhead_bytes=400):
            if isinstance(batch, Batch):
                self._import(batch.items, list_id, result, purpose=f"lifecycle attribute {attribute}")
        return len(updates)

    def _apply_removes(self, list_id: int, removes: Sequence[ListContact], result: MirrorResult) -> int:
        removed = 0
        for chunk in chunked(list(removes), MAX_LIST_CHANGE):
            self.check_lease()
            self.target.remove_from_list(list_id, contact_ids=[c.contact_id for c in chunk])
            result.write_calls += 1
            # A refused id already left the list (or Brevo) since it was read: either way it is no longer a
            # member, which is the goal, so the whole chunk counts.
            removed += len(chunk)
        return removed

    def _reject(
        self, request: MirrorRequest, result: MirrorResult, record: Mapping[str, Any], reason: str, message: str
    ) -> None:
        result.rejected += 1
        self.reject({**record, "segment_id": request.segment_id, "list_id": request.list_id}, reason, message)


def mirror_list_prefix(segment_id: int) -> str:
    """The start of the name of every list the sync creates for a segment: how a later run finds it again."""
    return f"Customer.io segment {segment_id}: "


def mirror_list_name(segment_id: int, segment_name: str) -> str:
    """Name of a list the sync creates for a segment."""
    label = segment_name.strip() or f"segment {segment_id}"
    return f"{mirror_list_prefix(segment_id)}{label}"[:190]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise SegmentMirrorError(f"{where} must be an integer id, got {value!r}.")
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise SegmentMirrorError(f"{where} must be an integer id, got {value!r}.") from None


# ------------------------------------------------------------------------------------------ DAG helpers
def plan_pairs(
    *,
    segment_id: int | None,
    list_id: int | None,
    include_attributes: Sequence[str] = (),
    dry_run: bool = False,
    force: bool = False,
    mirror: Mapping[Any, Any] | None = None,
    lists: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The pairs one DAG run mirrors, as operator keyword arguments.

    With ``segment_id`` and ``list_id`` (a manual run from the UI) that one pair; with neither, every pair of the
    ``mirror`` config. One without the other is an error naming both params.
    """
    if (segment_id is None) != (list_id is None):
        given, missing = ("segment_id", "list_id") if list_id is None else ("list_id", "segment_id")
        raise SegmentMirrorError(
            f"The param {given} is set but {missing} is not: set both to mirror one segment into one list, "
            "or leave both empty to mirror every pair of connectors.customerio.segments.mirror."
        )
    if segment_id is not None and list_id is not None:
        pairs = [(_as_int(segment_id, "param segment_id"), _as_int(list_id, "param list_id"))]
    else:
        pairs = parse_mirror_pairs(mirror, lists)
    return [
        {
            "segment_id": seg,
            "list_id": lst,
            "include_attributes": list(include_attributes),
            "dry_run": bool(dry_run),
            "force": bool(force),
        }
        for seg, lst in pairs
    ]


def split_by_state(
    pairs: Sequence[Mapping[str, Any]], states: Mapping[int, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split planned pairs into those whose segment is ``finished`` and those still building (or unknown
    segments, which go to the ready side so the mirror task reports them with a clear error)."""
    ready, building = [], []
    for pair in pairs:
        state = states.get(int(pair["segment_id"]))
        if state is not None and state != FINISHED_STATE:
            building.append({**pair, "state": state})
        else:
            ready.append(dict(pair))
    return ready, building


def summarize_runs(
    summaries: Iterable[Mapping[str, Any] | None], building: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """One DAG run's result: how many people were exported, removed, rejected, over every pair (a dry run's
    planned numbers are reported as ``would_export`` / ``would_remove``)."""
    done = [s for s in summaries if s]
    skipped = [{"segment": b["segment_id"], "list": b["list_id"], "state": b.get("state")} for b in building] + [
        {"segment": s["segment"], "list": s["list"], "state": s.get("segment_state")}
        for s in done
        if s.get("skipped_building")
    ]
    return {
        "pairs": len(done) + len(building),
        "mirrored": sum(1 for s in done if not s.get("skipped_building")),
        "exported": sum(int(s.get("added", 0)) for s in done if not s.get("dry_run")),
        "removed": sum(int(s.get("removed", 0)) for s in done if not s.get("dry_run")),
        "would_export": sum(int(s.get("added", 0)) for s in done if s.get("dry_run")),
        "would_remove": sum(int(s.get("removed", 0)) for s in done if s.get("dry_run")),
        "unchanged": sum(int(s.get("unchanged", 0)) for s in done),
        "rejected": sum(int(s.get("rejected", 0)) for s in done),
        "skipped_building": skipped,
        "dry_run": any(s.get("dry_run") for s in done),
        **(
            {
                "plan": {
                    k: sum(int((s.get("plan") or {}).get(k, 0)) for s in done)
                    for k in ("creates", "updates", "deletes", "list_adds", "list_removals")
                }
            }
            if any(s.get("dry_run") for s in done)
            else {}
        ),
        "api_calls": sum(int(s.get("api_calls", 0)) for s in done),
        "per_pair": [
            {
                k: s.get(k)
                for k in (
                    "segment",
                    "list",
                    "segment_size",
                    "list_size_before",
                    "list_size_after",
                    "added",
                    "removed",
                    "rejected",
                    "skipped_building",
                )
            }
            for s in done
        ],
    }
