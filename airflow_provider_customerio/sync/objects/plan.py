"""The configured object types, checked against both vendors before anything is written.

Customer.io: every configured type id must exist (``GET /v1/object_types``) and map at least one attribute.
Brevo: creates object types and their attributes only in its UI and drops unknown attribute keys silently, so
every target type is probed first (``GET /objects/{type}/records?limit=..&page_num=1``: 404/400 for an unknown
type; Brevo's API, Feb 2026 spec, has no endpoint listing custom object types or their attributes), and a
missing one fails the run with one message listing every type and attribute key to create.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.config import CustomerIOConfig, ObjectTypeSettings
from airflow_provider_customerio.sync.objects.mapping import TypePlan
from airflow_provider_customerio.sync.objects.ports import (
    MissingBrevoObjectTypes,
    ObjectSink,
    ObjectSyncError,
    TypeProbe,
)

#: Where the object types are configured (named in every error).
TYPES_PATH = "connectors.customerio.objects.types"


def plan_types(
    config: CustomerIOConfig, available: Sequence[Mapping[str, Any]], only: Sequence[str] | None = None
) -> list[TypePlan]:
    """The configured object types, checked against Customer.io's (``GET /v1/object_types``).

    :param only: restrict to these Customer.io type ids (an operator argument).
    :raises ObjectSyncError: no type configured, an unknown type id, or an empty field mapping.
    """
    configured: Mapping[str, ObjectTypeSettings] = config.objects.types
    if not configured:
        raise ObjectSyncError(
            f"{TYPES_PATH} is empty: nothing to sync. Add an entry per Customer.io object type, e.g. "
            '`"1": {brevo_object_type: companies, field_mapping: {name: name}}` (ids from GET /v1/object_types).'
        )
    known = {str(t.get("id")): t for t in available}
    wanted = [str(t) for t in only] if only else list(configured)
    problems: list[str] = []
    plans: list[TypePlan] = []
    for type_id in wanted:
        found = _type_problems(type_id, configured, known)
        if found:
            problems += found
            continue
        settings = configured[type_id]
        problems += _mapping_problems(type_id, settings)
        plans.append(
            TypePlan(
                type_id,
                str(known[type_id].get("name") or type_id),
                settings.brevo_object_type,
                dict(settings.field_mapping),
            )
        )
    if problems:
        raise ObjectSyncError("Object sync configuration does not fit the workspace:\n  - " + "\n  - ".join(problems))
    return plans


def _type_problems(
    type_id: str, configured: Mapping[str, ObjectTypeSettings], known: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """What keeps a requested type from being synced at all (the first problem found), or nothing."""
    base = TYPES_PATH
    settings = configured.get(type_id)
    if settings is None:
        return [
            f"object type `{type_id}` was requested but {base} has no entry `{type_id}`: add one "
            f"(configured: {', '.join(sorted(configured)) or 'none'})."
        ]
    if type_id not in known:
        listing = ", ".join(f"{k} ({v.get('name')})" for k, v in sorted(known.items())) or "none"
        return [
            f"{base}.{type_id}: Customer.io has no object type with id `{type_id}`. Object types "
            f"of the workspace: {listing}. Fix the id or remove the entry."
        ]
    if not settings.field_mapping:
        return [
            f"{base}.{type_id}.field_mapping is empty: Brevo needs at least one attribute per "
            "record. Map Customer.io attributes to attribute keys of the Brevo object type "
            f"`{settings.brevo_object_type}`, e.g. `{{name: name}}`."
        ]
    other = next(
        (t for t, st in configured.items() if t != type_id and st.brevo_object_type == settings.brevo_object_type),
        None,
    )
    if other is not None:
        return [
            f"{base}.{type_id}.brevo_object_type: `{settings.brevo_object_type}` is also the target "
            f"of type `{other}`; object ids of two types could collide as ext_id. Give each "
            "Customer.io type its own Brevo object type."
        ]
    return []


def _mapping_problems(type_id: str, settings: ObjectTypeSettings) -> list[str]:
    """Brevo keys that are the target of two Customer.io attributes."""
    problems: list[str] = []
    targets: dict[str, str] = {}
    for src, tgt in settings.field_mapping.items():
        if tgt in targets:
            problems.append(
                f"{TYPES_PATH}.{type_id}.field_mapping.{src}: Brevo key `{tgt}` is already the target "
                f"of `{targets[tgt]}`: map each Brevo attribute once."
            )
        targets.setdefault(tgt, src)
    return problems


def missing_types_error(missing: Mapping[str, TypePlan], unavailable: str | None = None) -> ObjectSyncError:
    """The error listing the Brevo object types (and their attribute keys) to create in Brevo's UI."""
    if unavailable:
        return ObjectSyncError(
            f"Brevo refused custom objects for this account ({unavailable}). Custom objects are an Enterprise "
            "(beta) feature of Brevo: enable them for the account, or switch sync.objects off."
        )
    lines = [
        f"`{t}` with the attribute keys {', '.join(f'`{k}`' for k in p.target_keys)} (for Customer.io object "
        f"type {p.type_id} '{p.name}')"
        for t, p in sorted(missing.items())
    ]
    return MissingBrevoObjectTypes(
        "Brevo has no custom object type " + "; ".join(lines) + ". Brevo's API cannot create object types or their "
        "attributes: create them in Brevo (Objects > Custom objects > Create an object) with exactly these keys, "
        "or fix connectors.customerio.objects.types.<id>.brevo_object_type. Nothing was written.",
        {t: p.target_keys for t, p in missing.items()},
    )


def check_brevo_types(plans: Sequence[TypePlan], sink: ObjectSink) -> dict[str, TypeProbe]:
    """Probe every target Brevo type; raise one error naming every missing type and its attribute keys.

    :returns: the probe of each Brevo type (``sample_keys`` are attribute keys known to exist).
    :raises ObjectSyncError: the account has no custom objects; :class:`MissingBrevoObjectTypes`: types missing.
    """
    probes: dict[str, TypeProbe] = {}
    missing: dict[str, TypePlan] = {}
    for plan in plans:
        if plan.brevo_type in probes or plan.brevo_type in missing:
            continue
        probe = sink.probe_type(plan.brevo_type)
        if not probe.available:
            raise missing_types_error({}, unavailable=probe.message or "HTTP 403")
        if probe.exists:
            probes[plan.brevo_type] = probe
        else:
            missing[plan.brevo_type] = plan
    if missing:
        raise missing_types_error(missing)
    return probes


def configured_plans(config: CustomerIOConfig) -> list[TypePlan]:
    """The configured types as plans, without asking Customer.io (names are the type ids)."""
    return [
        TypePlan(str(k), str(k), v.brevo_object_type, dict(v.field_mapping)) for k, v in config.objects.types.items()
    ]
