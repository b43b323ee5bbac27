"""Consecutive reverse-sync windows against the sandbox with a Brevo account west of UTC (UTC-8) that reads a
time filter without an offset in its own time zone, and a Brevo whose contact reads lag its writes.

Real operator, real hooks, real HTTP on 127.0.0.1. Every contact is written to Customer.io exactly once across
the windows: none is missed at a window's edge, none is written twice by the read overlap.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_customerio.sync.reverse.ports import parse_ms
from tests.integration.test_reverse_helpers import Harness

pytestmark = pytest.mark.integration

UTC_MINUS_8 = "Etc/GMT+8"  # POSIX sign: 8 hours west of UTC, all year
EXPLICIT_OFFSET = re.compile(r"(Z|[+-]\d\d:?\d\d)$")


@pytest.fixture
def h(sandbox: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    harness = Harness(sandbox, tmp_path, monkeypatch)
    settings = sandbox._call("PUT", "/brevo/account", json={"timezone": UTC_MINUS_8, "naive_times": "account"})
    assert settings == {"timezone": UTC_MINUS_8, "naive_times": "account"}
    account = harness.brevo("GET", "/account").json()
    assert account["dateTimePreferences"]["timezone"] == UTC_MINUS_8  # what GET /account reports
    return harness


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _modified(h: Harness, email: str) -> int:
    (item,) = [c for c in h.brevo_contacts() if c.get("email") == email]
    return parse_ms(item["modifiedAt"])


def _create_after(h: Harness, email: str, after_ms: int) -> int:
    """Create a contact whose ``modifiedAt`` is strictly after ``after_ms`` (touching it again while the sandbox's
    millisecond has not moved on); returns its ``modifiedAt``."""
    h.brevo("POST", "/contacts", {"email": email, "attributes": {"PLAN_NAME": "p-" + email[:2]}})
    for touch in range(1000):
        modified = _modified(h, email)
        if modified > after_ms:
            return modified
        h.brevo("PUT", f"/contacts/{email}", {"attributes": {"LIFECYCLE_STAGE": f"t{touch}"}})
    raise AssertionError("the sandbox clock did not move in 1000 writes")


def _writes(h: Harness) -> Counter[str]:
    """Customer.io writes per person (email) over every Track batch logged so far."""
    ops: Counter[str] = Counter()
    for r in h.track_batches():
        for op in json.loads(r["body"])["batch"]:
            ops[op["identifiers"].get("email") or json.dumps(op["identifiers"])] += 1
    return ops


def _filters_sent(h: Harness) -> list[str]:
    out = []
    for r in h.sandbox.requests(vendor="brevo", path_contains="/contacts"):
        for _key, value in re.findall(r"(modifiedSince|createdSince)=([^&]*)", r.get("query") or ""):
            out.append(value)
    return out


def test_edge_contacts_cross_once_each_in_an_account_west_of_utc(h: Harness) -> None:
    h.sandbox.clear_requests()
    m1 = _create_after(h, "c1@example.com", 0)
    m2 = _create_after(h, "c2@example.com", m1)  # exactly at window 2's start
    m3 = _create_after(h, "c3@example.com", m2)  # the last millisecond of window 2
    m4 = _create_after(h, "c4@example.com", m3)  # at or after window 3's start
    t0, t1, t2 = _at(m1 - 3_600_000), _at(m2), _at(m3 + 1)

    first = h.reverse(t0, t1, run_id="scheduled__w1")
    second = h.reverse(t1, t2, run_id="scheduled__w2")
    third = h.reverse(t2, _at(m4 + 3_600_000), run_id="scheduled__w3")

    assert (first["updated"], second["updated"], third["updated"]) == (1, 2, 1)
    writes = _writes(h)
    assert writes == Counter({f"c{i}@example.com": 1 for i in (1, 2, 3, 4)}), writes
    assert h.person("c2@example.com", "email")["attributes"]["plan"] == "p-c2"
    sent = _filters_sent(h)
    assert sent and all(EXPLICIT_OFFSET.search(v.replace("%2B", "+").replace("%3A", ":")) for v in sent), sent


def test_a_contact_brevo_lists_late_is_caught_by_the_next_window_and_nothing_is_written_twice(h: Harness) -> None:
    h.sandbox._call("PUT", "/clock", json={"frozen": True})
    # a frozen clock holds background work: Brevo processes and Customer.io exports end on polls instead
    h.sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": None})
    h.sandbox._call("PUT", "/customerio/settings", json={"export_rate_per_s": None})
    h.sandbox._call("PUT", "/lag", json={"brevo_contacts": 30})
    h.sandbox.clear_requests()
    m1 = _create_after(h, "early@example.com", 0)
    h.sandbox._call("POST", "/clock/advance", json={"seconds": 31})  # early is readable
    m2 = _create_after(h, "late@example.com", m1)  # not readable until the clock moves 30 s on
    t0, t1 = _at(m1 - 3_600_000), _at(m2 + 1)  # late: the last millisecond of window 1

    first = h.reverse(t0, t1, run_id="scheduled__w1")
    assert first["updated"] == 1 and h.person("late@example.com", "email") is None  # Brevo did not list it yet

    h.sandbox._call("POST", "/clock/advance", json={"seconds": 31})
    second = h.reverse(t1, _at(m2 + 3_600_000), run_id="scheduled__w2")

    assert second["updated"] == 1 and second["unchanged"] == 1  # early re-read in the overlap: compared, not written
    assert _writes(h) == Counter({"early@example.com": 1, "late@example.com": 1})
    assert h.person("late@example.com", "email")["attributes"]["plan"] == "p-la"
