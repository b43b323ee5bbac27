"""Load and validate the provider's YAML configuration (``customerio_config.yaml``).

The same loader serves every capability. Validation is JSON Schema (``config.schema.json``, which documents
every key) plus a few semantic checks; every error names the YAML path (``connectors.customerio.field_mapping.
email``) and the fix. Unknown keys are errors with a "did you mean" hint.

No Airflow and no HTTP imports here.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from airflow_provider_customerio.exceptions import ConfigError

CONFIG_ENV_VAR = "CUSTOMERIO_PROVIDER_CONFIG"
CONFIG_FILE_NAME = "customerio_config.yaml"
SCHEMA_PATH = Path(__file__).with_name("config.schema.json")

#: Brevo field that is the contact's email rather than an attribute.
EMAIL_TARGET = "email"


def _invalid(problems: list[tuple[str, str]], source: str = "<config>") -> ConfigError:
    """The error of an invalid configuration file: one ``(yaml_path, message_with_fix)`` pair per problem."""
    return ConfigError(problems=problems, source=source)


@dataclass(frozen=True)
class MappedField:
    """One entry of ``field_mapping``: Customer.io attribute -> Brevo attribute (``email`` = the contact email)."""

    source: str
    target: str
    create_type: str = "text"

    @property
    def is_email(self) -> bool:
        return self.target == EMAIL_TARGET


@dataclass(frozen=True)
class PeopleSettings:
    """``connectors.customerio.people``."""

    delete_policy: str = "delete"
    reject_threshold: float = 0.05
    create_missing_attributes: bool = False
    import_batch_bytes: int = 4_000_000
    state_path: str | None = None
    ledger_dir: str | None = None


@dataclass(frozen=True)
class ReverseSettings:
    """``connectors.customerio.reverse`` (Brevo -> Customer.io)."""

    enabled: bool = True
    conflict_policy: str = "customerio_wins"
    suppress_unsubscribed: bool = False


@dataclass(frozen=True)
class LifecycleRule:
    """One ``segments.lifecycle.order`` entry."""

    segment_id: int
    value: str


@dataclass(frozen=True)
class LifecycleSettings:
    """``connectors.customerio.segments.lifecycle``."""

    attribute: str = "LIFECYCLE_STAGE"
    order: tuple[LifecycleRule, ...] = ()


@dataclass(frozen=True)
class SegmentSettings:
    """``connectors.customerio.segments``."""

    mirror: Mapping[str, int] = field(default_factory=dict)
    removal_brake: float = 0.2
    create_missing_lists: bool = False
    folder_id: int = 1
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)


@dataclass(frozen=True)
class EventSettings:
    """``connectors.customerio.events``."""

    unmapped: str = "skip"
    webhook_store_conn_id: str | None = None


@dataclass(frozen=True)
class CampaignSettings:
    """``connectors.customerio.campaigns``."""

    lookback_days: int = 3
    sql_conn_id: str | None = None
    table: str = "customerio_campaign_metrics"
    include: tuple[str, ...] = ("campaigns", "newsletters", "broadcasts")


@dataclass(frozen=True)
class WorkflowSettings:
    """``connectors.customerio.workflow``: Brevo attribute per journey-state field (``None`` turns one off)."""

    attributes: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectTypeSettings:
    """One ``objects.types`` entry."""

    brevo_object_type: str
    field_mapping: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectSettings:
    """``connectors.customerio.objects``."""

    types: Mapping[str, ObjectTypeSettings] = field(default_factory=dict)
    delete_policy: str = "delete"


@dataclass(frozen=True)
class SyncSwitches:
    """``connectors.customerio.sync``: which capabilities run."""

    people: bool = True
    events: bool = True
    campaigns: bool = True
    segments: bool = True
    workflow: bool = True
    objects: bool = False


@dataclass(frozen=True)
class CustomerIOConfig:
    """``connectors.customerio``: the validated connector configuration with defaults applied."""

    enabled: bool = True
    region: str = "us"
    debug: bool = False
    log_level: str = "info"
    log_api_calls: bool = False
    store_conn_id: str = "customerio_sync_store"
    sync: SyncSwitches = field(default_factory=SyncSwitches)
    lists: Mapping[str, int] = field(default_factory=dict)
    field_mapping: tuple[MappedField, ...] = (MappedField("email", EMAIL_TARGET),)
    event_mapping: Mapping[str, str] = field(default_factory=dict)
    people: PeopleSettings = field(default_factory=PeopleSettings)
    reverse: ReverseSettings = field(default_factory=ReverseSettings)
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    events: EventSettings = field(default_factory=EventSettings)
    campaigns: CampaignSettings = field(default_factory=CampaignSettings)
    workflow: WorkflowSettings = field(default_factory=WorkflowSettings)
    objects: ObjectSettings = field(default_factory=ObjectSettings)

    @property
    def email_source(self) -> str | None:
        """The Customer.io attribute mapped to the Brevo email, if any."""
        for f in self.field_mapping:
            if f.is_email:
                return f.source
        return None


@dataclass(frozen=True)
class Config:
    """The whole validated configuration file.

    :param customerio: the Customer.io connector section.
    :param source: where it was loaded from (a path, or ``<dict>``).
    :param raw: the parsed document, as written (no defaults filled in).
    """

    customerio: CustomerIOConfig
    source: str = "<dict>"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of the configuration file."""
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def default_config_path(dags_folder: str | os.PathLike[str] | None = None) -> Path:
    """Where the configuration is looked for when no path is given.

    Order: env ``CUSTOMERIO_PROVIDER_CONFIG``; ``customerio_config.yaml`` in ``dags_folder`` (the caller passes
    Airflow's ``[core] dags_folder``); then ``$AIRFLOW__CORE__DAGS_FOLDER``; then ``$AIRFLOW_HOME/dags``.
    """
    env = os.environ.get(CONFIG_ENV_VAR)
    if env:
        return Path(env)
    if dags_folder:
        return Path(dags_folder) / CONFIG_FILE_NAME
    env_dags = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if env_dags:
        return Path(env_dags) / CONFIG_FILE_NAME
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "dags" / CONFIG_FILE_NAME


def load_config(
    path: str | os.PathLike[str] | None = None, *, dags_folder: str | os.PathLike[str] | None = None
) -> Config:
    """Read, validate and return the configuration.

    :param path: the YAML file; default see :func:`default_config_path`.
    :param dags_folder: Airflow's DAGs folder, used for the default path.
    :raises ConfigError: naming the file, each YAML path at fault and the fix.
    """
    cfg_path = Path(path) if path is not None else default_config_path(dags_folder)
    src = str(cfg_path)
    if not cfg_path.is_file():
        raise _invalid(
            [
                (
                    "",
                    f"file not found. Create it (see dags/{CONFIG_FILE_NAME} for an example), pass the path, "
                    f"or set the environment variable {CONFIG_ENV_VAR} to its location.",
                )
            ],
            src,
        )
    try:
        text = cfg_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _invalid(
            [
                (
                    "",
                    f"cannot read the file ({exc.__class__.__name__}: {exc}). Check its "
                    "permissions and that it is UTF-8 text.",
                )
            ],
            src,
        ) from None
    return parse_config_text(text, source=src)


def parse_config_text(text: str, *, source: str = "<string>") -> Config:
    """Parse YAML text and validate it (see :func:`parse_config`)."""
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise _invalid(
            [
                (
                    "",
                    "the YAML is nested too deeply to be a configuration. Use the structure of the "
                    "example customerio_config.yaml.",
                )
            ],
            source,
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _invalid(
            [
                (
                    "",
                    f"not valid YAML at {where}: {problem}. Fix the YAML syntax there "
                    "(indentation, quotes, a missing ':').",
                )
            ],
            source,
        ) from None
    if data is None:
        raise _invalid([("", "the file is empty. It needs at least `connectors: {customerio: {}}`.")], source)
    return parse_config(data, source=source)


def parse_config(data: Any, *, source: str = "<dict>") -> Config:
    """Validate an already parsed document and build :class:`Config` with defaults applied.

    :raises ConfigError: with every problem found, each naming its path and fix.
    """
    if not isinstance(data, Mapping):
        raise _invalid(
            [("", f"the top level must be a mapping with the key `connectors`, not a {_type_name(data)}.")], source
        )
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[tuple[str, str]] = []
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.extend(_explain(err, schema))
    if not problems:
        problems.extend(_semantic_problems(data))
    if problems:
        # de-duplicate while keeping order
        unique = list(dict.fromkeys(problems))
        raise _invalid(unique, source)
    return Config(customerio=_build(data["connectors"].get("customerio") or {}), source=source, raw=data)


# --------------------------------------------------------------------------------------------------------
# error explanation


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__
    )


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def _subschema(schema: Mapping[str, Any], parts: list[Any]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = schema
    for part in parts:
        props = node.get("properties", {})
        if isinstance(part, str) and part in props:
            node = props[part]
        elif isinstance(part, int) and "items" in node:
            node = node["items"]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            return {}
    return node


def _describe(schema: Mapping[str, Any], parts: list[Any]) -> str:
    desc = _subschema(schema, parts).get("description")
    return f" ({desc})" if desc else ""


def _explain(err: jsonschema.ValidationError, schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    parts = list(err.absolute_path)
    if "propertyNames" in err.schema_path:
        # the instance is the offending key itself: name it in the path
        parts.append(err.instance)
    path = _path(parts)
    v = err.validator
    inst = err.instance
    if v == "additionalProperties" and isinstance(inst, Mapping):
        allowed = sorted(err.schema.get("properties", {}))
        out = []
        for key in sorted((k for k in inst if k not in allowed), key=str):
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            fix = f"did you mean `{hint[0]}`?" if hint else "remove it"
            out.append((_path([*parts, key]), f"unknown key `{key}`: {fix} Allowed keys here: {', '.join(allowed)}."))
        return out
    if v == "required":
        missing = [k for k in err.validator_value if k not in inst]
        return [
            (_path([*parts, k]), f"missing required key `{k}`: add it{_describe(schema, [*parts, k])}.")
            for k in missing
        ]
    if v == "enum":
        return [(path, f"`{inst}` is not allowed: use one of {', '.join(map(str, err.validator_value))}.")]
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        article = "an" if want[:1] in "aeiou" else "a"
        return [
            (
                path,
                f"expected {want}, got {_type_name(inst)} `{inst!r}`: write {article} {want}"
                f"{_describe(schema, parts)}.",
            )
        ]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = "at least" if "inimum" in v else "at most"
        return [
            (path, f"`{inst}` is out of range: use a value {word} {err.validator_value}{_describe(schema, parts)}.")
        ]
    if v == "oneOf" and "field_mapping" in parts:
        return [(path, _field_mapping_fix(inst))]
    if v == "pattern":
        if "field_mapping" in parts:
            return [(path, _field_mapping_fix(inst))]
        if err.validator_value.startswith("^[0-9]"):
            return [(path, f'key `{inst}` must be a numeric vendor id, e.g. "42".')]
        return [(path, f"`{inst}` has the wrong form: it must match {err.validator_value}{_describe(schema, parts)}.")]
    if v == "propertyNames":
        return [(path, f"key `{inst}` is not allowed here: {err.message}{_describe(schema, parts)}.")]
    return [(path, f"{err.message}{_describe(schema, parts)}.")]


def _field_mapping_fix(inst: Any) -> str:
    if isinstance(inst, str):
        if inst.lower() == EMAIL_TARGET:
            return f"write `{EMAIL_TARGET}` for the contact email."
        suggestion = "".join(c if c.isalnum() else "_" for c in inst.strip()).upper().strip("_") or "NAME"
        if suggestion[0].isdigit():
            suggestion = "A_" + suggestion
        return (
            f"`{inst}` is not a valid Brevo attribute name: Brevo attribute names are upper case letters, "
            f"digits and `_`. Write `{suggestion}` (or `email` for the contact email)."
        )
    if isinstance(inst, Mapping):
        return (
            "a mapping entry must be a Brevo attribute name (e.g. FIRSTNAME) or {attribute: FIRSTNAME, type: "
            "text|date|float|boolean} with nothing else."
        )
    return f"expected a Brevo attribute name, got {_type_name(inst)}: write the name as a string, e.g. FIRSTNAME."


def _semantic_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    cio = (data.get("connectors") or {}).get("customerio") or {}
    fm = cio.get("field_mapping")
    if fm is not None:
        base = "connectors.customerio.field_mapping"
        if not fm:
            problems.append((base, "the mapping is empty: map at least `email: email`."))
        targets: dict[str, str] = {}
        for src, tgt in fm.items():
            name = tgt["attribute"] if isinstance(tgt, Mapping) else tgt
            norm = EMAIL_TARGET if name.lower() == EMAIL_TARGET else name
            if norm in targets:
                problems.append(
                    (
                        f"{base}.{src}",
                        f"Brevo attribute `{name}` is already the target of "
                        f"`{targets[norm]}`: map each Brevo attribute once.",
                    )
                )
            targets.setdefault(norm, src)
            if norm in ("EXT_ID",):
                problems.append(
                    (
                        f"{base}.{src}",
                        "EXT_ID is reserved: the sync writes the Customer.io id "
                        "there. Map this attribute to another name.",
                    )
                )
        if fm and EMAIL_TARGET not in targets:
            problems.append((base, "no attribute is mapped to the contact email: add `email: email`."))
    lifecycle = ((cio.get("segments") or {}).get("lifecycle") or {}).get("order") or []
    seen_ids: set[int] = set()
    for i, rule in enumerate(lifecycle):
        if rule["segment_id"] in seen_ids:
            problems.append(
                (
                    f"connectors.customerio.segments.lifecycle.order.{i}.segment_id",
                    f"segment {rule['segment_id']} is listed twice: keep only the first rule.",
                )
            )
        seen_ids.add(rule["segment_id"])
    return problems


# --------------------------------------------------------------------------------------------------------
# building the typed config


def _build(cio: Mapping[str, Any]) -> CustomerIOConfig:
    fm_raw = cio.get("field_mapping")
    if fm_raw is None:
        field_mapping: tuple[MappedField, ...] = (MappedField("email", EMAIL_TARGET),)
    else:
        items = []
        for src, tgt in fm_raw.items():
            if isinstance(tgt, Mapping):
                name, typ = tgt["attribute"], tgt.get("type", "text")
            else:
                name, typ = tgt, "text"
            items.append(MappedField(str(src), EMAIL_TARGET if name.lower() == EMAIL_TARGET else name, typ))
        field_mapping = tuple(items)
    seg = cio.get("segments") or {}
    life = seg.get("lifecycle") or {}
    objs = (cio.get("objects") or {}).get("types") or {}
    return CustomerIOConfig(
        enabled=cio.get("enabled", True),
        region=cio.get("region", "us"),
        debug=cio.get("debug", False),
        log_level=cio.get("log_level", "info"),
        log_api_calls=cio.get("log_api_calls", False),
        store_conn_id=cio.get("store_conn_id", "customerio_sync_store"),
        sync=SyncSwitches(**(cio.get("sync") or {})),
        lists=dict(cio.get("lists") or {}),
        field_mapping=field_mapping,
        event_mapping=dict(cio.get("event_mapping") or {}),
        people=PeopleSettings(**(cio.get("people") or {})),
        reverse=ReverseSettings(**(cio.get("reverse") or {})),
        segments=SegmentSettings(
            mirror={str(k): int(v) for k, v in (seg.get("mirror") or {}).items()},
            removal_brake=seg.get("removal_brake", 0.2),
            create_missing_lists=seg.get("create_missing_lists", False),
            folder_id=seg.get("folder_id", 1),
            lifecycle=LifecycleSettings(
                attribute=life.get("attribute", "LIFECYCLE_STAGE"),
                order=tuple(LifecycleRule(int(r["segment_id"]), str(r["value"])) for r in life.get("order") or []),
            ),
        ),
        events=EventSettings(**(cio.get("events") or {})),
        campaigns=CampaignSettings(
            **{
                **(cio.get("campaigns") or {}),
                "include": tuple(
                    (cio.get("campaigns") or {}).get("include") or ("campaigns", "newsletters", "broadcasts")
                ),
            }
        ),
        workflow=WorkflowSettings(attributes=dict((cio.get("workflow") or {}).get("attributes") or {})),
        objects=ObjectSettings(
            types={
                str(k): ObjectTypeSettings(v["brevo_object_type"], dict(v.get("field_mapping") or {}))
                for k, v in objs.items()
            },
            delete_policy=str((cio.get("objects") or {}).get("delete_policy") or "delete"),
        ),
    )
