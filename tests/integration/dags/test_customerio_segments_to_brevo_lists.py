"""The segment DAG and its planning helpers: parse without a database, Params typed, pools set, pairs planned.

The DAG's tasks only call the pure helpers tested here (``plan_pairs``, ``split_by_state``, ``summarize_runs``)
and the operator, which the sandbox tests run end to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator
from airflow_provider_customerio.sync.segments.model import SegmentMirrorError
from airflow_provider_customerio.sync.segments.plan import plan_pairs, split_by_state, summarize_runs

DAG_FILE = Path(__file__).resolve().parents[3] / "dags" / "customerio_segments_to_brevo_lists.py"
DAG_ID = "customerio_segments_to_brevo_lists"


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


def test_dag_shape_pools_and_mapping(dag: Any) -> None:
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"plan", "check_segments", "mirror_segment", "report"}
    assert tasks["check_segments"].pool == "customerio_app"
    mirror = tasks["mirror_segment"]
    assert mirror.pool == "brevo" and mirror.operator_class is CustomerIOSegmentToBrevoListOperator
    assert tasks["mirror_segment"].upstream_task_ids == {"check_segments"}
    assert tasks["report"].trigger_rule == "all_done"
    assert dag.schedule == "@hourly"  # CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET unset
    assert dag.max_active_runs == 1


def test_scheduled_on_the_people_asset_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Asset

    monkeypatch.setenv("CUSTOMERIO_SCHEDULE_ON_PEOPLE_ASSET", "true")
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    schedule = bag.dags[DAG_ID].schedule
    assert isinstance(schedule, Asset) and schedule.uri == "customerio://customerio_app_default/people"


def test_params_are_typed_with_descriptions_and_defaults(dag: Any) -> None:
    params = dag.params
    assert set(params.keys()) == {"segment_id", "list_id", "include_attributes", "dry_run", "force"}
    defaults = {k: params[k] for k in params.keys()}
    assert defaults == {"segment_id": None, "list_id": None, "include_attributes": [], "dry_run": False, "force": False}
    for key in params.keys():
        param = params.get_param(key)
        assert param.schema.get("type") and param.schema.get("title") and param.description, key
    segment_schema = params.get_param("segment_id").schema
    jsonschema.validate(42, segment_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("forty-two", segment_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([""], params.get_param("include_attributes").schema)


def test_manual_run_plans_the_one_pair_of_the_params() -> None:
    pairs = plan_pairs(
        segment_id=42, list_id=13, include_attributes=["email", "plan"], dry_run=True, force=False, mirror={"7": 14}
    )
    assert pairs == [
        {"segment_id": 42, "list_id": 13, "include_attributes": ["email", "plan"], "dry_run": True, "force": False}
    ]


def test_scheduled_run_plans_every_configured_pair() -> None:
    pairs = plan_pairs(segment_id=None, list_id=None, mirror={"42": 13, "7": 14})
    assert [(p["segment_id"], p["list_id"]) for p in pairs] == [(7, 14), (42, 13)]
    assert all(p["dry_run"] is False and p["force"] is False for p in pairs)


def test_half_a_pair_is_a_clear_error() -> None:
    with pytest.raises(SegmentMirrorError, match="segment_id is set but list_id is not"):
        plan_pairs(segment_id=42, list_id=None)


def test_split_by_state_sets_building_segments_aside() -> None:
    pairs = plan_pairs(segment_id=None, list_id=None, mirror={"1": 12, "3": 13, "9": 14})
    ready, building = split_by_state(pairs, {1: "finished", 3: "build"})
    assert [p["segment_id"] for p in ready] == [1, 9]  # 9 unknown: the mirror task reports it clearly
    assert building == [{**pairs[1], "state": "build"}]


def test_summary_counts_exported_people_and_skips() -> None:
    runs = [
        {
            "segment": 1,
            "list": 12,
            "added": 5,
            "removed": 1,
            "unchanged": 3,
            "rejected": 1,
            "api_calls": 9,
            "segment_size": 9,
            "list_size_before": 4,
            "list_size_after": 8,
            "skipped_building": False,
        },
        {
            "segment": 2,
            "list": 13,
            "added": 0,
            "removed": 0,
            "unchanged": 0,
            "rejected": 0,
            "api_calls": 1,
            "skipped_building": True,
            "segment_state": "build_queued",
        },
        None,  # a mapped instance that failed (e.g. the removal brake): no XCom
    ]
    result = summarize_runs(runs, [{"segment_id": 3, "list_id": 14, "state": "build"}])
    assert (result["exported"], result["removed"], result["rejected"], result["mirrored"]) == (5, 1, 1, 1)
    assert result["skipped_building"] == [
        {"segment": 3, "list": 14, "state": "build"},
        {"segment": 2, "list": 13, "state": "build_queued"},
    ]
    assert result["pairs"] == 3 and result["would_export"] == 0


def test_dry_run_summary_reports_planned_numbers_apart() -> None:
    result = summarize_runs([{"segment": 1, "list": 12, "added": 7, "removed": 2, "dry_run": True}])
    assert (result["exported"], result["would_export"], result["would_remove"], result["dry_run"]) == (0, 7, 2, True)


def test_operator_templates_and_coerces_rendered_params() -> None:
    op = CustomerIOSegmentToBrevoListOperator(
        task_id="t",
        segment_id="{{ params.segment_id }}",
        list_id="{{ params.list_id }}",
        include_attributes="{{ params.include_attributes }}",
        dry_run="{{ params.dry_run }}",
    )
    op.render_template_fields(
        {"params": {"segment_id": 42, "list_id": 13, "include_attributes": ["email", "plan"], "dry_run": True}}
    )
    from airflow_provider_customerio.runs import values as mod
    from airflow_provider_customerio.sync.segments.model import attribute_list, positive_id

    assert (positive_id(op.segment_id, "segment_id"), positive_id(op.list_id, "list_id")) == (42, 13)
    assert attribute_list(op.include_attributes) == ("email", "plan")
    assert mod.as_bool(op.dry_run, "dry_run") is True
    with pytest.raises(ValueError, match="segment_id must be a positive integer id"):
        positive_id("abc", "segment_id")
    with pytest.raises(ValueError, match="dry_run must be true or false"):
        mod.as_bool("maybe", "dry_run")


def test_operator_hooks_take_the_rate_of_their_pool(airflow_conn: Any) -> None:
    airflow_conn("brevo_default", conn_type="brevo", password="k")  # the Brevo hook reads its plan (General)
    op = CustomerIOSegmentToBrevoListOperator(task_id="t", segment_id=1, list_id=2, pool="brevo")
    assert op.brevo_hook.rate_limiter.rate == 3.5  # the pool's own API
    assert op.app_hook.rate_limiter.rate == 0.5  # a side call to the other API
    explicit = CustomerIOSegmentToBrevoListOperator(
        task_id="t", segment_id=1, list_id=2, pool="brevo", brevo_hook_params={"rate_limit": 1.0}
    )
    assert explicit.brevo_hook.rate_limiter.rate == 1.0
