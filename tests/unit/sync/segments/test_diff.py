"""The membership diff and the removal brake (``sync/segments/diff.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.segments.diff import brake_exceeded, check_removal_brake, chunked, diff_membership
from airflow_provider_customerio.sync.segments.model import (
    MAX_LIST_CHANGE,
    RemovalBrakeError,
)


def test_diff_matches_on_ext_id_then_case_insensitive_email() -> None:
    members = [
        {"cio_id": "c1", "id": "u1", "email": "one@example.com"},
        {"cio_id": "c2", "id": None, "email": "Two@Example.com"},
        {"cio_id": "c3", "id": "u3", "email": "three@example.com"},
    ]
    contacts = [
        {"id": 10, "email": "changed@example.com", "attributes": {"EXT_ID": "u1"}},
        {"id": 11, "email": "two@example.com", "attributes": {}},
        {"id": 12, "email": "gone@example.com", "attributes": {"EXT_ID": "u9"}},
    ]
    diff = diff_membership(members, contacts)
    assert [(m.cio_id, c.contact_id) for m, c in diff.matched] == [("c1", 10), ("c2", 11)]
    assert [m.cio_id for m in diff.adds] == ["c3"]
    assert [c.contact_id for c in diff.removes] == [12]
    assert diff.rejected == []


def test_diff_rejects_people_without_identifier_and_holds_conflicting_contacts() -> None:
    members = [
        {"cio_id": "c1", "id": None, "email": None},
        {"cio_id": "c2", "id": "u2", "email": "shared@example.com"},
        {"cio_id": "c2", "id": "u2", "email": "shared@example.com"},  # duplicate row: counted once
    ]
    contacts = [{"id": 20, "email": "shared@example.com", "attributes": {"EXT_ID": "u-other"}}]
    diff = diff_membership(members, contacts)
    assert diff.segment_size == 2
    assert [r.reason for r in diff.rejected] == ["missing_identifier", "identity_clash"]
    assert "u-other" in diff.rejected[1].message and "u2" in diff.rejected[1].message
    assert diff.removes == [] and [c.contact_id for c in diff.held] == [20]


def test_removal_brake_boundary_and_message() -> None:
    assert not brake_exceeded(20, 100, 0.2)  # exactly the brake is allowed
    assert brake_exceeded(21, 100, 0.2)
    assert not brake_exceeded(5, 0, 0.2)
    with pytest.raises(RemovalBrakeError) as err:
        check_removal_brake(30, 100, 0.2, force=False, segment_id=42, list_id=13)
    text = str(err.value)
    for part in ("30 of the 100", "list 13", "segment 42", "30.0%", "removal_brake 0.2", "force=true"):
        assert part in text
    check_removal_brake(30, 100, 0.2, force=True, segment_id=42, list_id=13)  # forced: no error


def test_chunked_never_exceeds_size_and_keeps_everything() -> None:
    items = list(range(301))
    chunks = list(chunked(items, MAX_LIST_CHANGE))
    assert [len(c) for c in chunks] == [150, 150, 1]
    assert [i for c in chunks for i in c] == items
