"""The workflow-state operators' wiring without a server: their configuration switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.operators.workflow import (
    CustomerIOWorkflowStateOperator,
    CustomerIOWorkflowStateToBrevoOperator,
)


def _config(tmp_path: Path, switches: str) -> str:
    path = tmp_path / "customerio_config.yaml"
    path.write_text(f"connectors:\n  customerio:\n    sync: {switches}\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("operator", [CustomerIOWorkflowStateOperator, CustomerIOWorkflowStateToBrevoOperator])
def test_a_switched_off_workflow_sync_is_skipped_before_any_call(tmp_path: Path, operator: type) -> None:
    op = operator(task_id="workflow", config_path=_config(tmp_path, "{workflow: false}"))
    with pytest.raises(AirflowSkipException, match="sync.workflow is false"):
        op.execute(context={})


def test_a_bad_lookback_is_named(tmp_path: Path) -> None:
    op = CustomerIOWorkflowStateOperator(task_id="derive", lookback_hours="a day", config_path=_config(tmp_path, "{}"))
    with pytest.raises(ValueError, match="lookback_hours: 'a day' is not a number of hours"):
        op.execute(context={})
