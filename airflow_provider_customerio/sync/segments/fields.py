"""What a mirror run writes besides list membership: the attributes of added people and the lifecycle value.

Pure logic, no Airflow and no HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

from airflow_provider_customerio.sync.config import EMAIL_TARGET, LifecycleRule, MappedField

#: Customer.io attribute names with a Brevo default attribute of another name.
DEFAULT_ATTRIBUTE_NAMES = {
    "first_name": "FIRSTNAME",
    "firstname": "FIRSTNAME",
    "last_name": "LASTNAME",
    "lastname": "LASTNAME",
    "phone": "SMS",
}


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
