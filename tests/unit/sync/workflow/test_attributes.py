"""The Brevo attribute names and types of workflow state (``sync/workflow/attributes.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.sync.workflow.attributes import (
    DEFAULT_ATTRIBUTES,
    WorkflowStateError,
    attribute_names,
    ensure_attributes,
    import_list_id,
    missing_attributes,
)


def test_attribute_names_defaults_overrides_and_errors() -> None:
    assert attribute_names() == dict(DEFAULT_ATTRIBUTES)
    names = attribute_names({"status": "JOURNEY_STATUS", "campaign_id": None})
    assert names["status"] == "JOURNEY_STATUS" and "campaign_id" not in names
    with pytest.raises(WorkflowStateError, match="attribute_names.stage: unknown"):
        attribute_names({"stage": "X"})
    with pytest.raises(WorkflowStateError, match="'LAST_STATUS'"):
        attribute_names({"status": "last status"})
    with pytest.raises(WorkflowStateError, match="already used"):
        attribute_names({"status": "CIO_LAST_ACTION"})


def test_missing_attributes_are_listed_with_their_type() -> None:
    assert missing_attributes(
        {"status": "CIO_LAST_MESSAGE_STATUS", "at": "CIO_LAST_MESSAGE_AT"}, ["email", "cio_last_message_status"]
    ) == [("CIO_LAST_MESSAGE_AT", "text")]


class Attributes:
    def __init__(self, *names: str) -> None:
        self.names = list(names)

    def list_attributes(self) -> list[dict[str, Any]]:
        return [{"name": n} for n in self.names]

    def create_attribute(self, name: str, type: str) -> None:
        self.names.append(name)


def test_missing_attributes_are_created_when_allowed_and_named_when_not() -> None:
    names = {"status": "CIO_LAST_MESSAGE_STATUS", "at": "CIO_LAST_MESSAGE_AT"}
    brevo = Attributes("CIO_LAST_MESSAGE_STATUS")
    with pytest.raises(ConfigError, match=r"no contact attribute CIO_LAST_MESSAGE_AT \(text\)"):
        ensure_attributes(names, brevo, create=False)
    assert brevo.names == ["CIO_LAST_MESSAGE_STATUS"]
    assert ensure_attributes(names, brevo, create=True) == ["CIO_LAST_MESSAGE_AT"]
    assert ensure_attributes(names, brevo, create=False) == []  # now there: nothing to do


def test_the_import_list_is_the_task_value_else_all_contacts() -> None:
    assert import_list_id(None, {"all_contacts": "12"}) == 12
    assert import_list_id("7", {"all_contacts": 12}) == 7
    with pytest.raises(ConfigError, match="must name a list"):
        import_list_id("None", {})
    with pytest.raises(ConfigError, match="'x' is not a Brevo list id"):
        import_list_id("x", {})
