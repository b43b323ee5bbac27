"""The brevo_people_to_customerio DAG and its operator: parse without a database, real intervals, typed Params,
pools, templated fields; the operator's arguments are checked in ``execute`` with messages that name the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pendulum
import pytest
from airflow.sdk.exceptions import AirflowSkipException
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_customerio.operators.reverse import BrevoToCustomerIOPeopleOperator
from airflow_provider_customerio.sync.reverse.ports import ReverseSyncError

DAG_FILE = Path(__file__).resolve().parents[3] / "dags" / "brevo_people_to_customerio.py"


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["brevo_people_to_customerio"]


def test_hourly_real_intervals_pools_and_order(dag: Any) -> None:
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    start = pendulum.datetime(2026, 3, 1, 10, 30, tz="UTC")
    interval = dag.timetable.infer_manual_data_interval(run_after=start)
    assert (interval.end - interval.start).total_seconds() == 3600  # not a zero-width interval
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["check_brevo_attributes"].pool == "brevo"
    sync = tasks["sync_brevo_contacts_to_customerio"]
    assert sync.pool == "customerio_track" and sync.operator_class is BrevoToCustomerIOPeopleOperator
    assert sync.upstream_task_ids == {"check_brevo_attributes"}
    assert dag.max_active_runs == 1 and dag.catchup is False


def test_params_are_typed_described_and_validated(dag: Any) -> None:
    params = dag.params
    assert set(params.keys()) == {"mode", "since", "conflict_policy", "dry_run"}
    for name in params.keys():
        param = params.get_param(name)
        assert param.description and param.schema.get("type"), name
    assert params.get_param("mode").schema["enum"] == ["incremental", "full"]
    assert params["mode"] == "incremental" and params["dry_run"] is False and params["conflict_policy"] is None
    jsonschema.validate("brevo_wins", params.get_param("conflict_policy").schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("sometimes", params.get_param("conflict_policy").schema)


def test_operator_is_thin_and_templated() -> None:
    op = BrevoToCustomerIOPeopleOperator(task_id="t", mode="{{ params.mode }}", since="{{ params.since or '' }}")
    assert {"mode", "since", "dry_run", "conflict_policy", "config_path", "state_path"} <= set(op.template_fields)
    assert op.mode == "{{ params.mode }}"  # nothing validated or resolved in the constructor
    op.render_template_fields({"params": {"mode": "full", "since": None}})
    assert (op.mode, op.since) == ("full", "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sometimes"}, "mode `sometimes` is unknown"),
        ({"conflict_policy": "loudest_wins"}, "conflict_policy `loudest_wins` is unknown"),
        ({"dry_run": "perhaps"}, "dry_run must be true or false"),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict[str, Any], message: str) -> None:
    op = BrevoToCustomerIOPeopleOperator(task_id="t", **kwargs)
    with pytest.raises((ReverseSyncError, ValueError), match=message):
        op.execute({})  # type: ignore[arg-type]


def test_missing_config_names_the_fix(tmp_path: Path) -> None:
    op = BrevoToCustomerIOPeopleOperator(task_id="t", config_path=str(tmp_path / "nope.yaml"))
    with pytest.raises(ValueError, match="file not found.*CUSTOMERIO_PROVIDER_CONFIG"):
        op.execute({})  # type: ignore[arg-type]


def test_switched_off_in_the_config_is_a_skipped_task(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("connectors:\n  customerio:\n    reverse: {enabled: false}\n")
    with pytest.raises(AirflowSkipException, match="connectors.customerio.reverse.enabled is false"):
        BrevoToCustomerIOPeopleOperator(task_id="t", config_path=str(cfg)).execute({})  # type: ignore[arg-type]
