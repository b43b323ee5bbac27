"""Stored Customer.io events read back: webhook event names and the checks a webhook body passes when received."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.events.sources import (
    MalformedEventError,
    validate_webhook_payload,
    webhook_event_name,
)


@pytest.mark.parametrize(
    "payload,name",
    [
        ({"object_type": "email", "metric": "opened"}, "email_opened"),
        ({"object_type": "customer", "metric": "subscribed"}, "customer_subscribed"),
        (
            {"object_type": "customer", "metric": "cio_subscription_preferences_changed"},
            "customer_subscription_preferences_changed",
        ),
        ({"object_type_type": "customer", "metric": "unsubscribed"}, "customer_unsubscribed"),  # spec quirk
        ({"metric": "sent"}, "sent"),
        ({"object_type": "email"}, None),
    ],
)
def test_webhook_event_names_follow_the_webhook_configuration(payload, name):
    assert webhook_event_name(payload) == name


@pytest.mark.parametrize(
    "payload,fragment",
    [
        ([], "JSON object"),
        ({"metric": "sent"}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": 5}, "event_id"),
        ({"event_id": "x" * 300}, "longer"),
        ({"event_id": "activity:1"}, "must not"),
    ],
)
def test_validate_webhook_payload_names_the_field(payload, fragment):
    with pytest.raises(MalformedEventError, match=fragment):
        validate_webhook_payload(payload)


def test_validate_webhook_payload_keeps_unknown_shapes():
    assert validate_webhook_payload({"event_id": "E1", "timestamp": 5, "whatever": 1}) == ("E1", 5)
    assert validate_webhook_payload({"event_id": "E1", "timestamp": "soon"}) == ("E1", None)
