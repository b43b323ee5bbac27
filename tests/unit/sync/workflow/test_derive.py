"""Change detection: tokens, rows, duplicates (``sync/workflow/derive.py``)."""

from __future__ import annotations

from airflow_provider_customerio.sync.workflow.derive import (
    compare_token,
)
from tests.unit.sync.workflow._support import derive, msg


def test_only_changed_people_are_written() -> None:
    first = derive([msg("m1", "ann", 1000, {"sent": 1005}), msg("m2", "bob", 1000, {"sent": 1005})])
    assert first.counts()["new"] == 2
    stored = {k: t for k, t, _ in first.changes}
    again = derive(
        [msg("m1", "ann", 1000, {"sent": 1005}), msg("m2", "bob", 1000, {"sent": 1005, "opened": 3000})], stored
    )
    assert (again.unchanged, again.changed, [k for k, _, _ in again.changes]) == (1, 1, ["cio_bob"])
    assert again.changes[0][2] == {
        "email": "bob@example.com",
        "attributes": {
            "CIO_LAST_CAMPAIGN": "Onboarding",
            "CIO_LAST_CAMPAIGN_ID": "1",
            "CIO_LAST_ACTION": "11",
            "CIO_LAST_MESSAGE_STATUS": "opened",
            "CIO_LAST_MESSAGE_AT": "1970-01-01T00:50:00Z",
        },
    }


def test_an_older_window_never_overwrites_a_newer_state() -> None:
    newer = derive([msg("m2", "ann", 5000, {"sent": 5005})])
    stored = {k: t for k, t, _ in newer.changes}
    older = derive([msg("m1", "ann", 1000, {"sent": 1005, "clicked": 9000})], stored)
    assert (older.stale, older.changes) == (1, [])
    assert compare_token("000000001000.000000001005:aa", None) == "new"


def test_people_without_identifier_or_with_a_bad_email_go_to_the_ledger_list() -> None:
    no_id = msg("m1", "x", 1000, {"sent": 1005}, email=None)
    no_id["customer_identifiers"] = {"cio_id": "cio_x"}
    no_id["customer_id"] = ""
    bad = msg("m2", "y", 1000, {"sent": 1005}, email="not-an-email")
    ext_only = msg("m3", "z", 1000, {"sent": 1005}, email=None)
    res = derive([no_id, bad, ext_only])
    assert sorted((r.person_key, r.reason) for r in res.rejected) == [
        ("cio_x", "missing_identifier"),
        ("cio_y", "invalid_email"),
    ]
    assert res.changes[0][2]["attributes"]["EXT_ID"] == "z" and "email" not in res.changes[0][2]


def test_two_people_with_one_email_keep_the_newer_state() -> None:
    a = msg("m1", "ann", 1000, {"sent": 1005}, email="same@example.com")
    b = msg("m2", "bob", 2000, {"sent": 2005}, email="same@example.com")
    res = derive([a, b])
    assert [k for k, _, _ in res.changes] == ["cio_bob"]
    assert [(r.person_key, r.reason) for r in res.rejected] == [("cio_ann", "duplicate_in_batch")]


def test_duplicate_counts_follow_the_kept_state() -> None:
    a = msg("m1", "ann", 1000, {"sent": 1005}, email="same@example.com")
    b = msg("m2", "bob", 2000, {"sent": 2005}, email="same@example.com")
    res = derive([a, b])
    assert res.counts() == {
        "people": 2,
        "new": 1,
        "changed": 0,
        "unchanged": 0,
        "stale": 0,
        "rejected": 1,
        "to_write": 1,
    }
