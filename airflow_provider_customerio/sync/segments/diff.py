"""Diff a segment's membership against a list's contacts, and the removal brake.

Pure logic, no Airflow and no HTTP: people are matched on Brevo ``EXT_ID`` = Customer.io ``id``, then on email
(:func:`diff_membership`); :func:`check_removal_brake` refuses a run that would empty too much of a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.mapping import ConversionError
from airflow_provider_customerio.sync.mapping import normalise_email as strict_email
from airflow_provider_customerio.sync.segments.model import (
    ListContact,
    RemovalBrakeError,
    SegmentMember,
)

_T = TypeVar("_T")


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


def _match(
    member: SegmentMember,
    by_ext: Mapping[str, ListContact],
    by_email: Mapping[str, ListContact],
    claimed: Mapping[int, SegmentMember],
    held: dict[int, ListContact],
) -> ListContact | Rejection | None:
    """The list contact ``member`` matches (``None``: none), or why it cannot be matched (an identity conflict:
    the contact involved is then put in ``held``)."""
    email_key = normalise_email(member.email)
    contact = by_ext.get(member.id) if member.id is not None else None
    if contact is None and email_key is not None:
        candidate = by_email.get(email_key)
        if candidate is not None and candidate.ext_id not in (None, member.id):
            held[candidate.contact_id] = candidate
            return Rejection(
                member.as_record(),
                "identity_clash",
                f"email {member.email!r} belongs to Brevo contact "
                f"{candidate.contact_id} whose EXT_ID is {candidate.ext_id!r}, but the Customer.io person "
                f"has id {member.id!r}. Fix the id or email in one system; the contact is left in the list.",
            )
        contact = candidate
    if contact is not None:
        owner = claimed.get(contact.contact_id)
        if owner is not None:
            held[contact.contact_id] = contact
            return Rejection(
                member.as_record(),
                "identity_clash",
                f"Brevo contact {contact.contact_id} already stands for Customer.io "
                f"person cio_id={owner.cio_id!r} (same id or email). Merge the duplicates in Customer.io.",
            )
    return contact


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
        found = _match(member, by_ext, by_email, claimed, held)
        if isinstance(found, Rejection):
            result.rejected.append(found)
        elif found is not None:
            claimed[found.contact_id] = member
            result.matched.append((member, found))
        else:
            refused = _unaddable(member)
            if refused is not None:
                result.rejected.append(refused)
            else:
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
