"""The values of a mirror run (``sync/segments/model.py``)."""

from __future__ import annotations

from airflow_provider_customerio.sync.segments.model import (
    SegmentMember,
)


def test_segment_member_from_identifiers_handles_id_only_workspaces() -> None:
    m = SegmentMember.from_identifiers({"id": "", "cio_id": "abc"})
    assert (m.cio_id, m.id, m.email) == ("abc", None, None)
