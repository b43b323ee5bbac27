"""Events for Customer.io Track: deterministic ULIDs and input validation."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.sync.events.ports import (
    Rejection,
)
from airflow_provider_customerio.sync.events.track import (
    TrackEvent,
    deterministic_event_id,
    parse_track_event,
    read_events_input,
)


def test_deterministic_ids_are_ulids_and_stable():
    a = deterministic_event_id(name="signup", identifier="42", anonymous_id=None, timestamp=1700000000, data={"a": 1})
    b = deterministic_event_id(name="signup", identifier="42", anonymous_id=None, timestamp=1700000000, data={"a": 1})
    c = deterministic_event_id(name="signup", identifier="42", anonymous_id=None, timestamp=1700000000, data={"a": 2})
    assert a == b != c
    assert len(a) == 26 and set(a) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert a[:10] == c[:10]  # same time part: the ULID's first 10 characters encode the timestamp


@pytest.mark.parametrize(
    "obj,reason",
    [
        ("x", "malformed_event"),
        ({"customer_id": "1"}, "malformed_event"),
        ({"name": "a"}, "missing_identifier"),
        ({"name": "a", "customer_id": "1", "data": [1]}, "malformed_event"),
        ({"name": "a", "customer_id": "1", "timestamp": "yesterday"}, "malformed_event"),
    ],
)
def test_parse_track_event_rejections(obj, reason):
    rej = parse_track_event(obj, 3)
    assert isinstance(rej, Rejection) and rej.reason == reason and "events[3]" in rej.message


def test_parse_track_event_forms():
    ev = parse_track_event({"name": " signup ", "cio_id": "abc", "timestamp": "2023-11-14T22:13:20Z"}, 0)
    assert isinstance(ev, TrackEvent) and ev.identifier == "cio_abc" and ev.timestamp == 1700000000
    assert ev.name == "signup"
    given_id = parse_track_event({"name": "x", "anonymous_id": "anon", "id": "01KEEP"}, 0)
    assert isinstance(given_id, TrackEvent) and given_id.event_id == "01KEEP" and given_id.identifier is None
    ms = parse_track_event({"name": "x", "email": "a@b.co", "timestamp": 1700000000123}, 0)
    assert isinstance(ms, TrackEvent) and ms.timestamp == 1700000000


def test_read_events_input_forms(tmp_path):
    assert list(read_events_input([{"a": 1}], None)) == [{"a": 1}]
    assert list(read_events_input('[{"a": 1}]', None)) == [{"a": 1}]
    assert list(read_events_input({"a": 1}, None)) == [{"a": 1}]
    arr = tmp_path / "a.json"
    arr.write_text('  [{"a": 1}, {"a": 2}]')
    assert list(read_events_input(None, str(arr))) == [{"a": 1}, {"a": 2}]
    lines = tmp_path / "a.jsonl"
    lines.write_text('{"a": 1}\n\nnope\n{"a": 2}\n')
    assert list(read_events_input(None, str(lines))) == [{"a": 1}, {"__invalid_line__": 3}, {"a": 2}]
    with pytest.raises(ValueError, match="exactly one"):
        list(read_events_input(None, None))
    with pytest.raises(ValueError, match="does not exist"):
        list(read_events_input(None, str(tmp_path / "missing.jsonl")))
    with pytest.raises(ValueError, match="not JSON"):
        list(read_events_input("{oops", None))


def test_a_track_dry_run_counts_and_sends_nothing() -> None:
    from airflow_provider_customerio.sync.events.track import TrackJob

    class Refusing:
        def send(self, event: Any) -> str | None:
            raise AssertionError("a dry run sends nothing")

    def no_ledger() -> Any:
        raise AssertionError("a dry run ledgers nothing")

    events = [{"name": "a", "customer_id": "1"}, {"name": "", "customer_id": "2"}, {"name": "b", "anonymous_id": "x"}]
    job = TrackJob(events, Refusing(), ledger=no_ledger, dry_run=True, api_calls=lambda: 0)
    assert list(job.run()) == []
    out = job.finish()
    assert (out["read"], out["sent"], out["rejected"], out["plan"]) == (3, 0, 1, {"sends": 2})
