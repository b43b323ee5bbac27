"""The events example DAG parsed by a real DagBag: schedule, intervals, pool and typed Params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pendulum
import pytest

from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator

BASE = "https://api.brevo.test/v3"
DAG_FILE = Path(__file__).resolve().parents[3] / "dags" / "customerio_events_to_brevo.py"
EVENT = {
    "event_name": "X",
    "identifiers": {"ext_id": "1"},
    "event_date": "2026-01-10T00:00:00+00:00",
    "event_properties": {"cio_event_id": "E1"},
}


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["customerio_events_to_brevo"]


def test_dag_every_five_minutes_with_real_intervals_in_the_brevo_pool(dag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "*/5 * * * *"
    start = pendulum.datetime(2026, 3, 1, 10, 0, tz="UTC")
    interval = dag.timetable.infer_manual_data_interval(run_after=start)
    assert (interval.end - interval.start).total_seconds() == 300  # not zero-width
    (task,) = dag.tasks
    assert task.pool == "brevo" and isinstance(task, CustomerIOEventsToBrevoOperator)
    assert dag.max_active_runs == 1 and dag.render_template_as_native_obj


def test_dag_params_are_typed_with_descriptions_and_defaults(dag):
    params = dag.params
    assert {k: params[k] for k in params.keys()} == {
        "include_activities": True,
        "window_start": None,
        "window_end": None,
        "dry_run": False,
    }
    assert params.get_param("dry_run").schema["type"] == "boolean"
    for key in params.keys():
        p = params.get_param(key)
        assert p.schema.get("type") and p.schema.get("title") and p.description
    jsonschema.validate("2026-01-01T00:00:00Z", params.get_param("window_start").schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(5, params.get_param("window_start").schema)
