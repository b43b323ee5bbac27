"""The segment mirror operator's wiring without a server: its configuration switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator


def _config(tmp_path: Path, switches: str) -> str:
    path = tmp_path / "customerio_config.yaml"
    path.write_text(f"connectors:\n  customerio:\n    sync: {switches}\n", encoding="utf-8")
    return str(path)


def test_a_switched_off_segment_sync_is_skipped_before_any_call(tmp_path: Path) -> None:
    op = CustomerIOSegmentToBrevoListOperator(
        task_id="mirror",
        segment_id=42,
        list_id=13,
        config_path=_config(tmp_path, "{segments: false}"),
        customerio_app_conn_id="no_such_conn",  # a call would fail: the skip comes first
        brevo_conn_id="no_such_conn",
    )
    with pytest.raises(AirflowSkipException, match="sync.segments is false"):
        op.execute(context={})


def test_bad_ids_are_named_before_any_call(tmp_path: Path) -> None:
    op = CustomerIOSegmentToBrevoListOperator(
        task_id="mirror",
        segment_id="abc",
        list_id=13,
        config_path=_config(tmp_path, "{segments: true}"),
        state_path=str(tmp_path / "store.db"),
        customerio_app_conn_id="no_such_conn",  # a call would fail otherwise
        brevo_conn_id="no_such_conn",
    )
    with pytest.raises(ValueError, match="segment_id must be a positive integer id"):
        op.execute(context={})
