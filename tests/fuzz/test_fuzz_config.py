"""Fuzzing the config loader: any bad input ends in ConfigError naming a path and a fix, never another exception.

Beyond tests/unit/sync/test_config.py (small dicts under two keys, 80-char text): mutations of the real example
config at every path (each error must name the mutated path or one of its parents), arbitrary YAML documents
(anchors, tags, deep nesting, unicode keys, huge values), arbitrary bytes on disk (non-UTF-8) through load_config.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sync.config import Config, ConfigError, load_config, parse_config, parse_config_text

EXAMPLE = Path(__file__).parents[2] / "dags" / "customerio_config.yaml"
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
#: CI (env CI set) runs a fixed sequence of examples, so a red build replays.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=bool(os.environ.get("CI")),
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(BASE) if p]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.integers(0, 20_000).map(lambda n: "x" * n),
)  # huge strings
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), c, max_size=3),
    max_leaves=10,
)


def _mixed_keys(node: Any) -> bool:
    """A mapping whose keys mix types (e.g. YAML ``{0: a, b: c}``): the known crash, tested on its own below."""
    if isinstance(node, dict):
        if len({type(k) for k in node}) > 1:
            return True
        return any(_mixed_keys(v) for v in node.values())
    if isinstance(node, list):
        return any(_mixed_keys(v) for v in node)
    return False


def _assert_clear(exc: ConfigError) -> None:
    assert exc.problems, "ConfigError without problems"
    for path, message in exc.problems:
        assert isinstance(path, str) and isinstance(message, str) and len(message) > 10
    assert "Invalid configuration" in str(exc)


def test_the_example_config_is_valid():
    assert isinstance(parse_config(copy.deepcopy(BASE)), Config)


@FUZZ
@given(path=st.sampled_from(PATHS), value=values)
def test_mutating_any_path_gives_config_or_error_naming_that_path(path, value):
    assume(not _mixed_keys(value))
    doc = copy.deepcopy(BASE)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    try:
        parse_config(doc)
    except ConfigError as exc:
        _assert_clear(exc)
        dotted = ".".join(str(p) for p in path)
        named = [p for p, _ in exc.problems]
        # the error is located at the mutated key, inside it, or at one of its parents
        assert any(p == "" or dotted == p or dotted.startswith(p + ".") or p.startswith(dotted + ".") for p in named), (
            dotted,
            named,
        )


def _get(path: tuple) -> Any:
    node = BASE
    for part in path:
        node = node[part]
    return node


@FUZZ
@given(
    path=st.sampled_from([p for p in [(), *PATHS] if isinstance(_get(p), dict)]), key=st.text(min_size=1, max_size=20)
)
def test_unknown_keys_anywhere_are_named(path, key):
    doc = copy.deepcopy(BASE)
    node = doc
    for part in path:
        node = node[part]
    assume(isinstance(node, dict) and key not in node)
    parent = ".".join(str(p) for p in path)
    # free-form mappings (ids -> ids, attribute -> attribute) accept new keys; others must refuse them
    node[key] = "surprise"
    try:
        parse_config(doc)
    except ConfigError as exc:
        _assert_clear(exc)
        assert any(p.startswith(parent) for p, _ in exc.problems), (parent, exc.problems)


yaml_docs = st.recursive(
    scalars | st.dates() | st.binary(max_size=10),
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none()), c, max_size=4)
    ),
    max_leaves=25,
)


@FUZZ
@given(doc=yaml_docs)
def test_arbitrary_yaml_documents(doc):
    assume(not _mixed_keys(doc))
    text = yaml.dump({"connectors": {"customerio": doc}} if isinstance(doc, dict) else doc, allow_unicode=True)
    try:
        parse_config_text(text)
    except ConfigError as exc:
        _assert_clear(exc)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=400),
        st.sampled_from(
            [
                "&a [*a]",
                "!!python/object:os.system ls",
                "a: !!binary x",
                "? [a]\n: b",
                "{{{",
                "- - - -",
                "connectors: &c {customerio: *c}",
                "connectors: !!set {a, b}",
                "\t:\n",
                "%YAML 9.9\n---\n",
            ]
        ),
        st.integers(1, 400).map(lambda n: "connectors:\n  " + "[" * n + "]" * n),  # deep nesting (deeper: see below)
    )
)
def test_arbitrary_yaml_text_only_raises_config_error(text):
    try:
        parse_config_text(text)
    except ConfigError as exc:
        _assert_clear(exc)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_on_disk(raw, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "customerio_config.yaml"
    path.write_bytes(raw)
    try:
        load_config(path)
    except ConfigError as exc:
        _assert_clear(exc)
        assert exc.source == str(path)


@pytest.mark.parametrize("blob", ["\udcff", "\x00", "\ufeffconnectors: {customerio: {}}"])
def test_odd_characters(blob, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(blob.encode("utf-8", "surrogateescape"))
    try:
        load_config(path)
    except ConfigError as exc:
        _assert_clear(exc)


@pytest.mark.parametrize(
    "text", ["connectors:\n  0: a\n  b: c\n", "connectors:\n  customerio:\n    sync: {0: true, x: true}\n"]
)
def test_mixed_type_keys_give_config_error(text):
    with pytest.raises(ConfigError):
        parse_config_text(text)


def test_very_deep_yaml_gives_config_error():
    with pytest.raises(ConfigError):
        parse_config_text("connectors:\n  " + "[" * 1000 + "]" * 1000)
