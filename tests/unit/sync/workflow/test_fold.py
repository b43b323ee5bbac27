"""Folding messages and webhook events into one state per person (``sync/workflow/fold.py``)."""

from __future__ import annotations

from airflow_provider_customerio.sync.workflow.fold import StateBuilder
from tests.unit.sync.workflow._support import NAMES, event, msg, states


def test_the_last_message_wins_and_its_latest_metric_is_the_state() -> None:
    got = states(
        [
            msg("m2", "ann", 2000, {"sent": 2005, "delivered": 2030}, campaign=2, action=21),
            msg("m1", "ann", 1000, {"sent": 1005, "delivered": 1030, "opened": 5000, "clicked": 6000}),
            msg("m3", "bob", 1500, {"bounced": 1540}),
        ]
    )
    ann = got["cio_ann"]
    assert (ann.delivery_id, ann.parent_id, ann.action_id, ann.status, ann.at) == ("m2", "2", "21", "delivered", 2030)
    assert ann.values(NAMES) == {
        "campaign": "Digest",
        "campaign_id": "2",
        "action": "21",
        "status": "delivered",
        "at": "1970-01-01T00:33:50Z",
    }
    assert got["cio_bob"].status == "bounced"


def test_same_second_metrics_are_ordered_by_progress() -> None:
    got = states([msg("m1", "ann", 1000, {"sent": 1005, "delivered": 1005, "opened": 1005})])
    assert got["cio_ann"].status == "opened"


def test_webhook_events_advance_the_state_of_the_last_message() -> None:
    got = states(
        [msg("m1", "ann", 1000, {"sent": 1005, "delivered": 1030})],
        [event("e1", "m1", "ann", "opened", 9000), event("e2", "m1", "ann", "clicked", 9100)],
    )
    assert (got["cio_ann"].status, got["cio_ann"].at) == ("clicked", 9100)


def test_an_event_for_an_unseen_delivery_can_be_the_last_message() -> None:
    got = states([msg("m1", "ann", 1000, {"sent": 1005})], [event("e1", "m9", "ann", "sent", 5000, campaign=2)])
    assert (got["cio_ann"].delivery_id, got["cio_ann"].parent_id) == ("m9", "2")


def test_customer_events_and_broken_events_are_ignored_and_counted() -> None:
    b = StateBuilder()
    b.add_event(
        {
            "event_id": "c1",
            "object_type": "customer",
            "metric": "subscribed",
            "timestamp": 1,
            "data": {"identifiers": {"id": "x"}},
        }
    )
    b.add_event({"event_id": "c2", "object_type": "email", "metric": "opened", "data": {}})
    assert (b.events_read, b.events_ignored, list(b.states())) == (2, 2, [])


def test_newsletter_messages_name_their_kind() -> None:
    m = msg("m1", "ann", 1000, {"sent": 1005})
    m["campaign_id"], m["newsletter_id"] = None, 5
    s = states([m])["cio_ann"]
    assert s.values(NAMES)["campaign"] == "newsletter 5" and s.values(NAMES)["campaign_id"] == "newsletter:5"


def test_an_event_without_cio_id_joins_the_person_known_from_messages() -> None:
    ev = event("e1", "m9", "ann", "delivered", 5000, campaign=2)
    ev["data"]["identifiers"] = {"id": "ann", "email": None}
    got = states([msg("m1", "ann", 1000, {"sent": 1005})], [ev])
    assert list(got) == ["cio_ann"] and got["cio_ann"].delivery_id == "m9"


def test_a_repeated_metric_keeps_the_first_time_it_was_reached() -> None:
    got = states([msg("m1", "ann", 1000, {"sent": 1005, "opened": 2000})], [event("e1", "m1", "ann", "opened", 7000)])
    assert (got["cio_ann"].status, got["cio_ann"].at) == ("opened", 2000)
