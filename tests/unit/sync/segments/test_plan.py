"""The pairs of a DAG run (``sync/segments/plan.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.segments.model import (
    SegmentMirrorError,
)
from airflow_provider_customerio.sync.segments.plan import parse_mirror_pairs


def test_parse_mirror_pairs_resolves_list_names_and_names_bad_ones() -> None:
    assert parse_mirror_pairs({"42": 13, "7": "churned"}, {"churned": 14}) == [(7, 14), (42, 13)]
    with pytest.raises(SegmentMirrorError, match=r"mirror\[7\].*'vips'.*lists"):
        parse_mirror_pairs({"7": "vips"}, {"churned": 14})
    with pytest.raises(SegmentMirrorError, match="integer id"):
        parse_mirror_pairs({"x": 1})
