from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.config import (
    CONFIG_ENV_VAR,
    ConfigError,
    load_config,
    load_schema,
    parse_config,
    parse_config_text,
)

EXAMPLE = Path(__file__).parents[3] / "dags" / "customerio_config.yaml"


def _problems(doc) -> dict[str, str]:
    with pytest.raises(ConfigError) as ei:
        parse_config(doc) if not isinstance(doc, str) else parse_config_text(doc)
    return dict(ei.value.problems)


def test_example_config_loads_with_every_section():
    cfg = load_config(EXAMPLE).customerio
    assert cfg.lists["all_contacts"] == 12
    assert [(f.source, f.target) for f in cfg.field_mapping][:3] == [
        ("id", "CIO_ID"),
        ("email", "email"),
        ("first_name", "FIRSTNAME"),
    ]
    assert cfg.email_source == "email"
    assert cfg.event_mapping["purchase_completed"] == "ORDER_PLACED"
    assert cfg.people.delete_policy == "delete" and cfg.people.import_batch_bytes == 4_000_000
    assert cfg.reverse.conflict_policy == "customerio_wins"
    assert cfg.segments.removal_brake == 0.2 and cfg.segments.lifecycle.attribute == "LIFECYCLE_STAGE"
    assert cfg.campaigns.table == "customerio_campaign_metrics"
    assert cfg.sync.objects is False


def test_minimal_config_gets_documented_defaults():
    cfg = parse_config({"connectors": {"customerio": {}}}).customerio
    assert cfg.enabled and cfg.region == "us"
    assert cfg.people.reject_threshold == 0.05 and cfg.people.state_path is None
    assert [(f.source, f.target) for f in cfg.field_mapping] == [("email", "email")]
    assert cfg.segments.mirror == {} and cfg.events.unmapped == "skip"


def test_unknown_key_names_path_and_suggests():
    probs = _problems({"connectors": {"customerio": {"feild_mapping": {"email": "email"}}}})
    msg = probs["connectors.customerio.feild_mapping"]
    assert "did you mean `field_mapping`" in msg


def test_nested_unknown_key_and_enum_and_range():
    probs = _problems(
        {"connectors": {"customerio": {"people": {"delete_polcy": "x", "reject_threshold": 3}, "region": "asia"}}}
    )
    assert "did you mean `delete_policy`" in probs["connectors.customerio.people.delete_polcy"]
    assert "use one of us, eu" in probs["connectors.customerio.region"]
    assert "at most 1" in probs["connectors.customerio.people.reject_threshold"]


def test_lower_case_attribute_gets_upper_case_fix():
    probs = _problems({"connectors": {"customerio": {"field_mapping": {"email": "email", "first_name": "first name"}}}})
    assert "Write `FIRST_NAME`" in probs["connectors.customerio.field_mapping.first_name"]


def test_semantic_checks_duplicate_target_and_missing_email():
    probs = _problems({"connectors": {"customerio": {"field_mapping": {"a": "PLAN", "b": "PLAN"}}}})
    assert "already the target of `a`" in probs["connectors.customerio.field_mapping.b"]
    assert "add `email: email`" in probs["connectors.customerio.field_mapping"]
    probs = _problems({"connectors": {"customerio": {"field_mapping": {"email": "email", "id": "EXT_ID"}}}})
    assert "EXT_ID is reserved" in probs["connectors.customerio.field_mapping.id"]


def test_type_error_and_numeric_key():
    probs = _problems(
        {"connectors": {"customerio": {"lists": {"all_contacts": "twelve"}, "segments": {"mirror": {"vip": 3}}}}}
    )
    assert "expected integer" in probs["connectors.customerio.lists.all_contacts"]
    assert "numeric vendor id" in probs["connectors.customerio.segments.mirror.vip"]


def test_object_form_of_mapping_declares_create_type():
    cfg = parse_config(
        {
            "connectors": {
                "customerio": {
                    "field_mapping": {"email": "email", "created_at": {"attribute": "SIGNUP_DATE", "type": "date"}}
                }
            }
        }
    ).customerio
    assert cfg.field_mapping[1].create_type == "date"


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("connectors:\n  customerio:\n    lists: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(p)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match=CONFIG_ENV_VAR):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "e.yaml").write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(tmp_path / "e.yaml")


def test_default_path_from_env_then_dags_folder(tmp_path, monkeypatch):
    (tmp_path / "customerio_config.yaml").write_text("connectors: {customerio: {region: eu}}")
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    assert load_config(dags_folder=tmp_path).customerio.region == "eu"
    other = tmp_path / "other.yaml"
    other.write_text("connectors: {customerio: {region: us}}")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(other))
    assert load_config(dags_folder=tmp_path).customerio.region == "us"


def test_every_schema_key_is_documented():
    missing = []

    def walk(node, path):
        if not isinstance(node, dict):
            return
        for key, sub in (node.get("properties") or {}).items():
            if "description" not in sub:
                missing.append(f"{path}.{key}")
            walk(sub, f"{path}.{key}")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*")

    walk(load_schema(), "")
    assert missing == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    doc=st.dictionaries(
        st.sampled_from(["connectors", "x"]),
        st.dictionaries(
            st.sampled_from(["customerio", "other"]),
            st.dictionaries(
                st.sampled_from(["people", "lists", "field_mapping", "region", "segments", "sync", "typo"]),
                json_values,
                max_size=4,
            ),
            max_size=2,
        ),
        max_size=2,
    )
)
def test_fuzzed_documents_give_config_or_clear_error(doc):
    try:
        parse_config(doc)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and m for p, m in exc.problems)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=80))
def test_fuzzed_yaml_text_never_crashes(text):
    try:
        parse_config_text(text)
    except ConfigError:
        pass


def test_readme_config_reference_is_generated_from_the_schema():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(Path(__file__).parents[3] / "scripts" / "gen_config_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
