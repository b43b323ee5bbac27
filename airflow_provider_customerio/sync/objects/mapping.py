"""Mapping of one Customer.io object to Brevo: its attributes (a type's ``field_mapping``) and its upsert records
(attributes plus ``link``/``unlink`` associations to contacts, spread over records of at most 10 each)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_customerio.sync.mapping import ConversionError, to_text
from airflow_provider_customerio.sync.objects.ports import CioObject, RelatedPerson

#: Contacts linked (and unlinked) per associated type in one record. Brevo's spec: "Max 10 associations defined
#: per associated object type, in each record of the request"; more are spread over several records.
MAX_ASSOCIATIONS_PER_RECORD = 10
#: Brevo's association target type for contacts.
CONTACT_OBJECT_TYPE = "contact"


@dataclass(frozen=True)
class TypePlan:
    """One configured object type: Customer.io type id -> Brevo type, with its field mapping."""

    type_id: str
    name: str
    brevo_type: str
    field_mapping: Mapping[str, str]

    @property
    def target_keys(self) -> list[str]:
        return sorted(set(self.field_mapping.values()))


@dataclass(frozen=True)
class MappedObject:
    """The Brevo attributes of one object, and the values left out (``(source, target, reason, message)``)."""

    attributes: dict[str, Any]
    problems: tuple[tuple[str, str, str, str], ...] = ()


def map_object(obj: CioObject, mapping: Mapping[str, str]) -> MappedObject:
    """Map an object's attributes with ``mapping`` (Customer.io key -> Brevo key).

    Absent or empty values are left out (Brevo keeps its stored value). Numbers and booleans pass as they are;
    text over the size limit and nested values that do not fit are reported as problems. ``object_id`` is always
    available as a source key (it is the object's identifier).
    """
    source = dict(obj.attributes)
    source.setdefault("object_id", obj.object_id)
    attrs: dict[str, Any] = {}
    problems: list[tuple[str, str, str, str]] = []
    for src, target in mapping.items():
        value = source.get(src)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or isinstance(value, (int, float)):
            attrs[target] = value
            continue
        try:
            attrs[target] = to_text(value)
        except ConversionError as exc:
            problems.append((src, target, exc.reason, str(exc)))
    return MappedObject(attrs, tuple(problems))


def relation_key(person: RelatedPerson) -> str:
    """The stable key of a related person (Customer.io ``cio_id``)."""
    return person.cio_id


def build_records(
    object_id: str,
    attributes: Mapping[str, Any],
    links: Sequence[tuple[str, Mapping[str, Any]]],
    unlinks: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    per_record: int = MAX_ASSOCIATIONS_PER_RECORD,
) -> list[tuple[dict[str, Any], list[str], list[str]]]:
    """Upsert records for one object: the attributes, plus the links and unlinks spread so that no record carries
    more than ``per_record`` of each. Returns ``(record, linked keys, unlinked keys)`` per record, in order.

    Every record repeats the attributes (Brevo needs at least one per record) and the ``ext_id``.
    """
    if per_record < 1:
        raise ValueError("per_record must be at least 1")
    n = max(1, -(-len(links) // per_record), -(-len(unlinks) // per_record))
    out: list[tuple[dict[str, Any], list[str], list[str]]] = []
    for i in range(n):
        lk = links[i * per_record : (i + 1) * per_record]
        uk = unlinks[i * per_record : (i + 1) * per_record]
        record: dict[str, Any] = {"identifiers": {"ext_id": object_id}, "attributes": dict(attributes)}
        assocs: list[dict[str, Any]] = []
        if uk:  # unlinks first: a person re-keyed in Brevo is unlinked under the old name, then linked
            assocs.append(
                {
                    "object_type": CONTACT_OBJECT_TYPE,
                    "action": "unlink",
                    "records": [{"identifiers": dict(ident)} for _, ident in uk],
                }
            )
        if lk:
            assocs.append(
                {
                    "object_type": CONTACT_OBJECT_TYPE,
                    "action": "link",
                    "records": [{"identifiers": dict(ident)} for _, ident in lk],
                }
            )
        if assocs:
            record["associations"] = assocs
        out.append((record, [k for k, _ in lk], [k for k, _ in uk]))
    return out
