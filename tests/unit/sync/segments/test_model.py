"""The values of a mirror run (``sync/segments/model.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.segments.model import (
    SegmentMember,
    attribute_list,
    mirror_request,
    positive_id,
)


def test_segment_member_from_identifiers_handles_id_only_workspaces() -> None:
    m = SegmentMember.from_identifiers({"id": "", "cio_id": "abc"})
    assert (m.cio_id, m.id, m.email) == ("abc", None, None)


def test_rendered_params_become_a_request_and_bad_ones_are_named() -> None:
    request = mirror_request("42", 13, "['email', 'plan']", dry_run=True, force=False)
    assert (request.segment_id, request.list_id, request.include_attributes) == (42, 13, ("email", "plan"))
    assert attribute_list("first_name, plan") == ("first_name", "plan") and attribute_list(None) == ()
    with pytest.raises(ValueError, match="list_id must be a positive integer id"):
        positive_id(0, "list_id")
    with pytest.raises(ValueError, match="segment_id must be a positive integer id"):
        positive_id(True, "segment_id")
    with pytest.raises(ValueError, match="got the item ''"):
        attribute_list(["plan", ""])
