"""The workflow-state attribute names come from the config, task arguments override them."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sync.config import ConfigError, load_config, parse_config_text
from airflow_provider_customerio.sync.workflow.attributes import DEFAULT_ATTRIBUTES, attribute_names
from tests.conftest import REPO_ROOT


def test_example_config_names_the_default_attributes():
    cfg = load_config(REPO_ROOT / "dags" / "customerio_config.yaml").customerio
    assert dict(cfg.workflow.attributes) == dict(DEFAULT_ATTRIBUTES)


def test_config_renames_and_turns_off_fields_and_task_arguments_win():
    cfg = parse_config_text(
        "connectors:\n  customerio:\n    workflow:\n      attributes: {status: LAST_STATUS, at: null}\n"
    ).customerio
    names = attribute_names({**cfg.workflow.attributes, "action": "STEP"})
    assert names["status"] == "LAST_STATUS"
    assert names["action"] == "STEP"
    assert names.get("at") is None
    assert names["campaign"] == DEFAULT_ATTRIBUTES["campaign"]


@pytest.mark.parametrize(
    ("yaml_text", "path"),
    [
        ("connectors:\n  customerio:\n    workflow:\n      attributes: {stat: X}\n", "workflow.attributes.stat"),
        (
            "connectors:\n  customerio:\n    workflow:\n      attributes: {status: lower_case}\n",
            "workflow.attributes.status",
        ),
    ],
)
def test_bad_workflow_config_names_the_path(yaml_text, path):
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        parse_config_text(yaml_text)
