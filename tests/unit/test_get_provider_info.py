"""The provider registers correctly with Airflow 3.3 (metadata, entry point, connection forms)."""

from __future__ import annotations

import json
from importlib.metadata import distribution
from pathlib import Path

import airflow
import jsonschema
import pytest
from packaging.utils import canonicalize_name

from airflow_provider_customerio.get_provider_info import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_package_name_matches_distribution():
    dist = distribution("airflow-provider-customerio")
    assert get_provider_info()["package-name"] == canonicalize_name(dist.metadata["Name"])


def test_entry_point_points_at_provider_info():
    eps = [
        ep for ep in distribution("airflow-provider-customerio").entry_points if ep.group == "apache_airflow_provider"
    ]
    assert len(eps) == 1
    assert eps[0].load() is get_provider_info


def test_runtime_schema_validates():
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_types_validate_against_provider_yaml_schema():
    schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    jsonschema.validate(get_provider_info()["connection-types"], schema["properties"]["connection-types"])
    behaviour = json.loads((AIRFLOW_DIR / "customized_form_field_behaviours.schema.json").read_text())
    for ct in get_provider_info()["connection-types"]:
        ui = ct["ui-field-behaviour"]
        jsonschema.validate(
            {"hidden_fields": ui["hidden-fields"], "relabeling": ui["relabeling"], "placeholders": ui["placeholders"]},
            behaviour,
        )


@pytest.mark.parametrize(
    ("conn_type", "hook_path", "conn_attr", "default"),
    [
        (
            "customerio_track",
            "airflow_provider_customerio.hooks.customerio_track.CustomerIOTrackHook",
            "customerio_track_conn_id",
            "customerio_track_default",
        ),
        (
            "customerio_app",
            "airflow_provider_customerio.hooks.customerio_app.CustomerIOAppHook",
            "customerio_app_conn_id",
            "customerio_app_default",
        ),
        ("brevo", "airflow_provider_customerio.hooks.brevo.BrevoHook", "brevo_conn_id", "brevo_default"),
    ],
)
def test_hook_classes_match_connection_types(conn_type, hook_path, conn_attr, default):
    import importlib

    entry = next(ct for ct in get_provider_info()["connection-types"] if ct["connection-type"] == conn_type)
    assert entry["hook-class-name"] == hook_path
    module, name = hook_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert cls.conn_type == conn_type
    assert cls.conn_name_attr == conn_attr
    assert cls.default_conn_name == default
    assert cls.hook_name == entry["hook-name"]
    hook = cls(**{conn_attr: "some_conn"})  # how Connection.get_hook() builds it
    assert hook.conn_id == "some_conn"


def test_secret_fields_are_relabelled_and_region_is_declared():
    types = {ct["connection-type"]: ct for ct in get_provider_info()["connection-types"]}
    assert types["customerio_track"]["ui-field-behaviour"]["relabeling"]["login"] == "Site ID"
    assert types["customerio_track"]["ui-field-behaviour"]["relabeling"]["password"] == "Track API key"
    assert types["customerio_app"]["ui-field-behaviour"]["relabeling"]["password"] == "App API key"
    assert types["brevo"]["ui-field-behaviour"]["relabeling"]["password"] == "API key"
    for name in ("customerio_track", "customerio_app"):
        assert types[name]["conn-fields"]["region"]["schema"]["enum"][:2] == ["us", "eu"]
    assert "region" not in types["brevo"]["conn-fields"]


def test_providers_manager_discovers_hooks():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-provider-customerio" in pm.providers
    hooks = pm.hooks
    for conn_type in ("customerio_track", "customerio_app", "brevo"):
        assert hooks[conn_type] is not None
        assert hooks[conn_type].package_name == "airflow-provider-customerio"


def test_connection_get_hook_resolves_through_entry_point(airflow_conn):
    from airflow.sdk import BaseHook

    from airflow_provider_customerio.hooks.brevo import BrevoHook

    airflow_conn("brevo_x", conn_type="brevo", password="k")
    hook = BaseHook.get_hook("brevo_x")
    assert isinstance(hook, BrevoHook)
    assert hook.conn_id == "brevo_x"


def test_the_brevo_form_offers_the_plans_the_hook_accepts():
    from airflow_provider_customerio.hooks.brevo_plans import BREVO_PLANS, DEFAULT_PLAN

    fields = next(ct for ct in get_provider_info()["connection-types"] if ct["connection-type"] == "brevo")[
        "conn-fields"
    ]
    schema = fields["plan"]["schema"]
    assert [v for v in schema["enum"] if v is not None] == list(BREVO_PLANS)
    assert schema["default"] == DEFAULT_PLAN and "plan" in fields["plan"]["label"].lower()
    assert "default" not in fields["other_requests_per_hour"]["schema"]  # the plan's number unless set
