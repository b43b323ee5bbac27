"""The Brevo attributes workflow state is written to: their names (defaults and overrides) and types.

Pure logic, no Airflow and no HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from airflow_provider_customerio.exceptions import ConfigError

#: The state fields and the Brevo attribute each is written to by default.
DEFAULT_ATTRIBUTES: Mapping[str, str] = {
    "campaign": "CIO_LAST_CAMPAIGN",
    "campaign_id": "CIO_LAST_CAMPAIGN_ID",
    "action": "CIO_LAST_ACTION",
    "status": "CIO_LAST_MESSAGE_STATUS",
    "at": "CIO_LAST_MESSAGE_AT",
}
#: Brevo attribute types used when the attributes are created.
ATTRIBUTE_TYPES: Mapping[str, str] = {
    "campaign": "text",
    "campaign_id": "text",
    "action": "text",
    "status": "text",
    "at": "text",
}

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class WorkflowStateError(ValueError):
    """The workflow-state settings or inputs are invalid; the message names the field and the fix."""


# --------------------------------------------------------------------------------------------- settings
def attribute_names(overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The Brevo attribute of each state field: defaults, overridden by ``overrides``; a ``None``/empty value
    turns a field off. Names must be upper-case Brevo names and distinct.

    :raises WorkflowStateError: an unknown field, a bad or repeated name.
    """
    names = dict(DEFAULT_ATTRIBUTES)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_ATTRIBUTES:
            raise WorkflowStateError(
                f"attribute_names.{key}: unknown state field; use one of {', '.join(DEFAULT_ATTRIBUTES)}."
            )
        if value in (None, ""):
            names.pop(key, None)
            continue
        if not isinstance(value, str) or not value or set(value) - _NAME_CHARS or value[0].isdigit():
            suggestion = "".join(c if c.isalnum() else "_" for c in str(value)).upper().strip("_") or "CIO_NAME"
            raise WorkflowStateError(
                f"attribute_names.{key}: {value!r} is not a Brevo attribute name; Brevo names are upper-case "
                f"letters, digits and '_'. Write {suggestion!r}."
            )
        names[key] = value
    seen: dict[str, str] = {}
    for key, value in names.items():
        if value in seen:
            raise WorkflowStateError(
                f"attribute_names.{key}: {value} is already used for {seen[value]}; give each field its own name."
            )
        seen[value] = key
    if not names:
        raise WorkflowStateError("attribute_names: every field is turned off; keep at least one attribute.")
    return names


def missing_attributes(names: Mapping[str, str], existing: Iterable[str]) -> list[tuple[str, str]]:
    """``(attribute, brevo type)`` of the configured attributes that Brevo does not have (Brevo would silently
    drop their values on import)."""
    have = {str(n).upper() for n in existing}
    return [(attr, ATTRIBUTE_TYPES[key]) for key, attr in names.items() if attr.upper() not in have]


class AttributePort(Protocol):
    """Brevo's contact attributes: read them, create one."""

    def list_attributes(self) -> Iterable[Mapping[str, Any]]: ...
    def create_attribute(self, name: str, type: str) -> None: ...


def ensure_attributes(
    names: Mapping[str, str],
    port: AttributePort,
    *,
    create: bool,
    log: Callable[..., None] = lambda *a: None,
) -> list[str]:
    """Check that Brevo has the configured attributes (imports silently drop unknown ones); create the missing ones
    when ``create`` is on, else fail naming them and the three ways out. Returns the names created.

    :raises ConfigError: an attribute is missing and ``create`` is off.
    """
    missing = missing_attributes(names, (a.get("name", "") for a in port.list_attributes()))
    if not missing:
        return []
    if not create:
        listed = ", ".join(f"{n} ({t})" for n, t in missing)
        raise ConfigError(
            f"Brevo has no contact attribute {listed}: imports would silently drop these values. Create them "
            "in Brevo (Contacts > Settings > Contact attributes), or set create_missing_attributes=True on the "
            "task (or connectors.customerio.people.create_missing_attributes), or rename them with "
            "attribute_names."
        )
    for name, typ in missing:
        port.create_attribute(name, typ)
        log("Created the Brevo attribute %s (%s).", name, typ)
    return [n for n, _ in missing]


def import_list_id(value: Any, lists: Mapping[str, Any]) -> int:
    """The Brevo list the workflow imports name (Brevo requires one): ``value`` (the task's ``list_id``), else the
    config's ``lists.all_contacts``.

    :raises ConfigError: neither is set, or the value is not a positive list id.
    """
    if value in (None, "", "None"):
        value = lists.get("all_contacts")
    if value is None:
        raise ConfigError(
            "Brevo imports must name a list: set connectors.customerio.lists.all_contacts (the list the people "
            "sync fills) or the task's list_id to a Brevo list id (Contacts > Lists)."
        )
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"list_id: {value!r} is not a Brevo list id; use the number shown in Contacts > Lists.")
    return number
