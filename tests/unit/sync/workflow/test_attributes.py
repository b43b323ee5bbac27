"""The Brevo attribute names and types of workflow state (``sync/workflow/attributes.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.workflow.attributes import (
    DEFAULT_ATTRIBUTES,
    WorkflowStateError,
    attribute_names,
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
