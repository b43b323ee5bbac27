"""The values of a segment mirror run: the constants, the errors, a segment member, a list contact, a request.

Pure values, no Airflow and no HTTP (see :mod:`airflow_provider_customerio.sync.segments`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_customerio.exceptions import ProcessFailedError

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


# ------------------------------------------------------------------------------------------------ errors
class SegmentMirrorError(ValueError):
    """A segment cannot be mirrored as configured; the message names the setting and the fix."""


class RemovalBrakeError(SegmentMirrorError):
    """A run would remove more of a list than ``removal_brake`` allows."""


class ListNotFoundError(SegmentMirrorError):
    """The Brevo list a segment is mirrored into does not exist."""


class ImportFailedError(SegmentMirrorError, ProcessFailedError):
    """A Brevo import process ended in failure; nothing about its rows is known (a
    :class:`~airflow_provider_customerio.exceptions.ProcessFailedError`, as every failed Brevo process)."""


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
            cio_id=clean_text(item.get("cio_id")) or "",
            id=clean_text(item.get("id")),
            email=clean_text(item.get("email")),
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
            email=clean_text(item.get("email")),
            ext_id=clean_text(ext),
            attributes=attrs,
            modified_at=clean_text(item.get("modifiedAt")),
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


def mirror_list_prefix(segment_id: int) -> str:
    """The start of the name of every list the sync creates for a segment: how a later run finds it again."""
    return f"Customer.io segment {segment_id}: "


def mirror_list_name(segment_id: int, segment_name: str) -> str:
    """Name of a list the sync creates for a segment."""
    label = segment_name.strip() or f"segment {segment_id}"
    return f"{mirror_list_prefix(segment_id)}{label}"[:190]


def clean_text(value: Any) -> str | None:
    """``value`` as stripped text; ``None`` when it is ``None`` or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def as_int(value: Any, where: str) -> int:
    """``value`` as an integer id; ``where`` names the setting in the error."""
    if isinstance(value, bool):
        raise SegmentMirrorError(f"{where} must be an integer id, got {value!r}.")
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise SegmentMirrorError(f"{where} must be an integer id, got {value!r}.") from None


def positive_id(value: Any, name: str) -> int:
    """A rendered template value as a positive integer id; the error names the param and the fix."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive integer id, got {value!r}.")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a positive integer id, got {value!r}. Set the '{name}' param (or the mirror config) "
            "to the numeric id shown in the vendor's UI."
        ) from None
    if number < 1:
        raise ValueError(f"{name} must be a positive integer id, got {value!r}.")
    return number


def attribute_list(value: Sequence[str] | str | None) -> tuple[str, ...]:
    """``include_attributes`` as rendered: a list, a rendered list (``"['a', 'b']"``) or a comma-separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):  # a rendered list
            try:
                parsed = json.loads(text.replace("'", '"'))
            except ValueError:
                raise ValueError(
                    f"include_attributes must be a list of Customer.io attribute names, got {value!r}."
                ) from None
            return attribute_list(parsed)
        return tuple(p.strip() for p in text.split(",") if p.strip())
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(
                f'include_attributes must be a list of Customer.io attribute names (e.g. ["first_name", "plan"]), '
                f"got the item {item!r}."
            )
        names.append(item.strip())
    return tuple(names)


def mirror_request(
    segment_id: Any, list_id: Any, include_attributes: Sequence[str] | str | None, *, dry_run: bool, force: bool
) -> MirrorRequest:
    """The :class:`MirrorRequest` of an operator's rendered arguments (errors name the param)."""
    return MirrorRequest(
        segment_id=positive_id(segment_id, "segment_id"),
        list_id=positive_id(list_id, "list_id"),
        include_attributes=attribute_list(include_attributes),
        dry_run=dry_run,
        force=force,
    )
