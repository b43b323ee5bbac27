"""The notification callbacks (``notify.py``) called with a task context: the figures they add, read from the store.

The whole path on a real DAG run is ``tests/integration/test_notifications.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_customerio.lineage import SUMMARY_ATTR
from airflow_provider_customerio.notify import on_failure, on_reject_threshold
from airflow_provider_customerio.store.sync_store import SyncStore

CONFIG = Path(__file__).parents[2] / "dags" / "customerio_config.yaml"


@pytest.fixture
def context(tmp_path, monkeypatch) -> dict[str, Any]:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db"))
    store = SyncStore.at(tmp_path / "state.db")
    with store.ledger("dag", "run_1", "load") as led:
        led.reject(record_id="a", reason="invalid_email", message="bad", stage="map")
        led.reject(record_id="b", reason="invalid_email", message="bad", stage="map")
        led.reject(record_id="c", reason="invalid_date", message="bad", stage="map")
    with store.ledger("dag", "run_2", "load") as led:
        led.reject(record_id="z", reason="not_found", message="gone", stage="read")
    task = SimpleNamespace(task_id="load", config_path=str(cfg))
    ti = SimpleNamespace(dag_id="dag", run_id="run_1", task_id="load", map_index=-1, xcom_pull=lambda **kw: None)
    return {"ti": ti, "task": task, "run_id": "run_1"}


def test_a_failure_notifies_with_this_runs_rejects_from_the_store(context):
    sent: list[dict[str, Any]] = []
    on_failure(lambda ctx: sent.append(ctx["customerio"]))({**context, "exception": ValueError("boom")})
    assert len(sent) == 1
    info = sent[0]
    assert info["event"] == "failure" and info["rejects_by_reason"] == {"invalid_email": 2, "invalid_date": 1}
    assert info["headline"] == "dag.load failed in run_1: ValueError: boom (3 records rejected so far)"


def test_the_threshold_notifies_only_when_crossed_and_one_failing_channel_does_not_silence_another(context):
    sent: list[dict[str, Any]] = []

    def broken(ctx: Any) -> None:
        raise RuntimeError("channel down")

    kept = {"read": 10, "rejected": 3}
    setattr(context["task"], SUMMARY_ATTR, kept)  # what the operator keeps of its run summary
    on_reject_threshold(lambda ctx: sent.append(ctx["customerio"]), max_rejected=5)(context)
    assert sent == []
    on_reject_threshold(broken, lambda ctx: sent.append(ctx["customerio"]), max_rate=0.2)(context)
    assert [s["event"] for s in sent] == ["reject_threshold"]
    assert sent[0]["rejects_by_reason"] == {"invalid_email": 2, "invalid_date": 1}


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match="max_rejected"):
        on_reject_threshold(lambda ctx: None)
    with pytest.raises(ValueError, match="between 0 and 1"):
        on_reject_threshold(lambda ctx: None, max_rate=2)
