"""Every example DAG parses, and every Param is typed, described and defaulted for the trigger form."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT

DAG_FILES = sorted(p.stem for p in (REPO_ROOT / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def test_every_file_defines_the_dag_named_after_it(bag):
    assert sorted(bag.dags) == DAG_FILES


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_params_are_typed_described_and_defaulted(bag, dag_id):
    params = bag.dags[dag_id].params
    for name in params:
        param = params.get_param(name)
        schema = param.schema
        assert schema.get("type"), f"{dag_id}.{name}: no JSON-Schema type"
        assert param.description or schema.get("description"), f"{dag_id}.{name}: no description"
        assert name in params and (param.has_value or schema.get("type") and "null" in schema["type"]), (
            f"{dag_id}.{name}: no default"
        )
        if "enum" in schema:
            assert param.value in schema["enum"] or param.value is None


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_every_task_runs_in_a_shipped_pool(bag, dag_id):
    import json

    pools = set(json.loads((REPO_ROOT / "dags" / "pools.json").read_text())) | {"default_pool"}
    for task in bag.dags[dag_id].tasks:
        assert task.pool in pools, f"{dag_id}.{task.task_id} uses pool {task.pool!r}"
