"""Notifications through Airflow notifiers, on a real run of the people DAG (``dag.test()`` against the sandbox):
a reject-threshold breach notifies with the run's figures (equal to the task's summary and to the store's
rejected records), a failed run notifies with the error, and a run under the threshold stays silent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseNotifier

from airflow_provider_customerio.notify import on_failure, on_reject_threshold
from airflow_provider_customerio.store.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.airflow_db]

DAG_FILE = Path(__file__).parents[2] / "dags" / "customerio_people_to_brevo.py"
SEED_NOW = 1_795_910_400


class Recorder(BaseNotifier):
    """A notifier keeping what it was sent: the rendered message and the figures."""

    template_fields = ("message",)
    sent: list[dict[str, Any]] = []

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def notify(self, context: Any) -> None:
        Recorder.sent.append({"message": self.message, "customerio": dict(context["customerio"])})


@pytest.fixture
def people_dag(sandbox, monkeypatch, tmp_path, airflow_db):
    sandbox.seed(people=120, seed=5, now=SEED_NOW)
    sandbox.settings(export_polls=0)
    sandbox.http.post(
        f"{sandbox.control_url}/brevo/processes/settings", json={"polls_to_complete": 1}
    ).raise_for_status()
    sandbox.set_airflow_env(monkeypatch)
    cfg = tmp_path / "customerio_config.yaml"
    text = DAG_FILE.with_name("customerio_config.yaml").read_text()
    cfg.write_text(text.replace("state_path: null", f"state_path: {tmp_path}/state.db"))
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    Recorder.sent = []
    return bag.dags["customerio_people_to_brevo"]


def _logical() -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def test_reject_threshold_breach_notifies_with_the_run_figures(people_dag, tmp_path):
    load = people_dag.get_task("load_brevo_contacts")
    load.on_success_callback = [
        on_reject_threshold(Recorder("{{ customerio.headline }}"), max_rejected=0),
        on_reject_threshold(Recorder("never"), max_rejected=10_000),  # under the threshold: silent
    ]
    dr = people_dag.test(logical_date=_logical(), run_conf={"mode": "full"})
    assert dr.state == "success"
    assert len(Recorder.sent) == 1, Recorder.sent
    sent = Recorder.sent[0]
    figures = sent["customerio"]
    assert figures["event"] == "reject_threshold" and figures["task_id"] == "load_brevo_contacts"
    summary = figures["summary"]
    assert summary["rejected"] > 0 and summary["read"] >= summary["rejected"]
    rows = read_ledger(tmp_path / "state.db", dag_id="customerio_people_to_brevo", run_id=dr.run_id)
    by_reason: dict[str, int] = {}
    for r in rows:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + 1
    assert figures["rejects_by_reason"] == by_reason
    assert f"rejected {summary['rejected']} of {summary['read']} records" in sent["message"]  # rendered template


def test_failure_notifies_with_the_error(people_dag, monkeypatch):
    import json

    bad = json.loads(__import__("os").environ["AIRFLOW_CONN_BREVO_DEFAULT"])
    bad["password"] = "wrong-brevo-key"
    monkeypatch.setenv("AIRFLOW_CONN_BREVO_DEFAULT", json.dumps(bad))
    for task in people_dag.tasks:  # the first task to call Brevo fails; the one after it never runs
        task.retries = 0
        task.on_failure_callback = [on_failure(Recorder("{{ customerio.headline }}"))]
    dr = people_dag.test(logical_date=_logical(), run_conf={"mode": "full"})
    assert dr.state == "failed"
    assert len(Recorder.sent) == 1, Recorder.sent
    figures = Recorder.sent[0]["customerio"]
    assert figures["event"] == "failure" and figures["run_id"] == dr.run_id
    assert "AuthError" in figures["error"] and "wrong-brevo-key" not in Recorder.sent[0]["message"]
    assert f"{figures['task_id']} failed in {dr.run_id}" in Recorder.sent[0]["message"]
