"""BrevoHook sends a time filter only with an explicit offset (Brevo may read a bare time in the account's zone)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_customerio.adapters.reverse import BrevoContactSource
from airflow_provider_customerio.adapters.segments import BrevoListTarget

CONTACTS = "https://api.brevo.com/v3/contacts"


def _sent(requests_mock, name: str) -> list[str]:
    return [parse_qs(urlsplit(r.url).query)[name][0] for r in requests_mock.request_history]


@pytest.mark.parametrize(
    "value", ["2026-01-31T13:45:00.000Z", "2026-01-31T05:45:00.000-08:00", "2026-01-31T14:45:00+0100"]
)
def test_explicit_offsets_are_sent_as_given(brevo, requests_mock, value: str) -> None:
    requests_mock.get(CONTACTS, json={"contacts": [], "count": 0})
    list(brevo.iter_contacts(modified_since=value, created_since=value))
    assert _sent(requests_mock, "modifiedSince") == [value] and _sent(requests_mock, "createdSince") == [value]
    assert "%2B" in requests_mock.request_history[0].url or "+" not in value  # a "+" is URL-encoded, never a space


@pytest.mark.parametrize("value", ["2026-01-31T13:45:00.000", "2026-01-31", "2026-01-31T13:45:00.000 08:00"])
def test_a_time_without_an_offset_is_refused_naming_the_field_and_the_fix(brevo, requests_mock, value: str) -> None:
    with pytest.raises(ValueError, match=r"modified_since: .* no UTC offset.*2026-01-31T13:45:00\.000Z"):
        brevo.iter_contacts(modified_since=value)
    with pytest.raises(ValueError, match="created_since"):
        brevo.iter_contacts(created_since=value)
    with pytest.raises(ValueError, match="modified_since"):
        brevo.iter_list_contacts(12, modified_since=value)
    assert requests_mock.request_history == []


def test_every_provider_path_sends_an_explicit_offset(brevo, requests_mock) -> None:
    requests_mock.get(CONTACTS, json={"contacts": [], "count": 0})
    requests_mock.get(f"{CONTACTS}/lists/12/contacts", json={"contacts": [], "count": 0})
    since = datetime(2026, 1, 31, 5, 45, tzinfo=timezone(timedelta(hours=-8)))  # any zone in, UTC out
    list(BrevoContactSource(brevo).iter_modified(since))
    target = BrevoListTarget(brevo)
    list(target.iter_list_contacts(12, modified_since=target.clock_mark()))
    sent = _sent(requests_mock, "modifiedSince")
    assert sent[0] == "2026-01-31T13:44:59.999Z"  # the reverse read's own 1 ms "after" margin, in UTC
    assert sent[1].endswith("Z")


def test_the_segment_checks_mark_always_carries_an_offset() -> None:
    from airflow_provider_customerio.sync.segments.diff import latest_timestamp
    from airflow_provider_customerio.sync.segments.model import ListContact

    def c(cid: int, at: str) -> ListContact:
        return ListContact(contact_id=cid, email=None, ext_id=None, attributes={}, modified_at=at)

    assert latest_timestamp([c(1, "2026-01-31T13:45:00.000Z"), c(2, "2026-01-31T13:44:00.000Z")]).endswith("Z")
    assert latest_timestamp([c(1, "2026-01-31T14:45:00.000+01:00")]) == "2026-01-31T14:45:00.000+01:00"
    assert latest_timestamp([c(1, "2026-01-31T13:45:00.000")]) == "2026-01-31T13:45:00.000+00:00"  # as read
