"""The sandbox's Brevo reads a time filter without an offset in the account's time zone (the unkind reading of
"Prefer to pass your timezone in date-time format for accurate result", docs/vendor-behaviour.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration


def _get(sandbox: Any, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{sandbox.brevo_url}{path}", params=params, headers=sandbox.brevo_headers, timeout=30)


def _emails(resp: requests.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [c["email"] for c in resp.json()["contacts"]]


def _naive(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


@pytest.fixture
def modified(sandbox: Any) -> datetime:
    """A new contact's ``modifiedAt`` (UTC)."""
    sandbox.ratelimits(enabled=False)
    resp = requests.post(
        f"{sandbox.brevo_url}/contacts", json={"email": "tz@example.com"}, headers=sandbox.brevo_headers, timeout=30
    )
    assert resp.status_code == 201, resp.text
    (item,) = [c for c in sandbox._call("GET", "/brevo/contacts")["contacts"] if c["email"] == "tz@example.com"]
    return datetime.fromisoformat(str(item["modifiedAt"]).replace("Z", "+00:00"))


def test_the_default_reads_naive_times_in_the_account_zone_west_of_utc(sandbox: Any, modified: datetime) -> None:
    assert sandbox._call("GET", "/brevo/account") == {"timezone": "America/Los_Angeles", "naive_times": "account"}
    assert _get(sandbox, "/account").json()["dateTimePreferences"]["timezone"] == "America/Los_Angeles"
    an_hour_before = modified - timedelta(hours=1)
    assert _emails(_get(sandbox, "/contacts", modifiedSince=_naive(an_hour_before) + "Z")) == ["tz@example.com"]
    naive = _naive(an_hour_before)  # read as Los Angeles time: 7 or 8 hours later, after the contact
    assert _emails(_get(sandbox, "/contacts", modifiedSince=naive)) == []
    assert _emails(_get(sandbox, "/contacts", createdSince=naive)) == []
    assert _emails(_get(sandbox, "/contacts/lists/12/contacts", modifiedSince=naive)) == []

    sandbox._call("PUT", "/brevo/account", json={"naive_times": "utc"})
    assert _emails(_get(sandbox, "/contacts", modifiedSince=naive)) == ["tz@example.com"]


def test_an_explicit_offset_is_honoured_in_any_account_zone(sandbox: Any, modified: datetime) -> None:
    sandbox._call("PUT", "/brevo/account", json={"timezone": "Etc/GMT+8"})
    at_minus_8 = modified.astimezone(timezone(timedelta(hours=-8)))
    earlier = at_minus_8 - timedelta(milliseconds=1)
    assert _emails(_get(sandbox, "/contacts", modifiedSince=_naive(earlier) + "-08:00")) == ["tz@example.com"]
    assert _emails(_get(sandbox, "/contacts", modifiedSince=_naive(at_minus_8) + "-08:00")) == []  # strictly after
    assert _emails(_get(sandbox, "/contacts", modifiedSince=_naive(earlier))) == ["tz@example.com"]  # naive: UTC-8


def test_account_settings_are_validated(sandbox: Any) -> None:
    for body, field in (({"timezone": "Mars/Olympus"}, "timezone"), ({"naive_times": "local"}, "naive_times")):
        resp = requests.put(f"{sandbox.control_url}/brevo/account", json=body, timeout=30)
        assert resp.status_code == 400 and field in resp.json()["message"], resp.text
    resp = requests.put(f"{sandbox.control_url}/brevo/account", json={"zone": "UTC"}, timeout=30)
    assert resp.status_code == 400 and "unknown account setting" in resp.json()["message"]
