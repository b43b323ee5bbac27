"""Object data sync Customer.io -> Brevo: objects (companies, accounts, ...) into Brevo custom objects, with
their relationships to people mirrored as associations to Brevo contacts.

The sync talks to two ports, :class:`ObjectSource` (Customer.io App API) and :class:`ObjectSink` (Brevo); the
operator adapts the hooks to them, tests use in-memory fakes. No Airflow and no HTTP imports here.

Flow of one run (checkpointed in the state store under ``dag_id/run_id/task_id``):

1. ``check``: every configured Customer.io object type must exist (``GET /v1/object_types``), and every target
   Brevo object type must exist. Brevo creates object types and their attributes only in its UI, and drops
   unknown attribute keys silently, so a missing type fails the run **before anything is written**, with one
   message listing every type and attribute key to create.
2. ``collect``: stage the object ids of each type (``POST /v1/objects``, paged; duplicates across pages removed).
3. ``load``: per object read its attributes and its related people, map the attributes (``field_mapping`` of
   the type), resolve each related person to a Brevo contact, and compare with what the last run wrote
   (content hash + the set of linked people kept per object). Changed objects become upsert records
   (``ext_id`` = the Customer.io ``object_id``) carrying ``link`` associations for people newly related and
   ``unlink`` associations for people no longer related. Records are packed by count (1000) and bytes (1 MB) and
   submitted; each submission is recorded with its rows before the checkpoint moves past it.
4. ``wait``: wait for the upsert processes (deferrable in the operator); a finished process commits its rows
   (hash + linked set); a failed one is resubmitted, then ledgered.
5. ``verify``: attribute keys not yet known to exist in Brevo are checked by reading back records written by
   this run. A key that was sent with a value but is absent from the stored records does not exist in Brevo:
   the run fails naming the keys to create, and the hashes of the type are cleared so the next run rewrites.

Limits of the Brevo precondition check (Brevo's API, Feb 2026 spec): there is no endpoint listing custom object
types or their attributes (``/crm/attributes/*`` covers only the built-in companies/deals). A type is probed with
``GET /objects/{type}/records?limit=..&page_num=1`` (404/400 for an unknown type). Attribute keys are confirmed
only when some stored record carries them (probe sample, or read-back after the first write); a key that no
record has a value for stays unconfirmed and is re-checked by later runs. Brevo answers an upsert with 202 and
refuses records later, in the background; a finished process names the records it refused in its ``error``
(``records[i]``, the position in the upsert body). Those are ledgered (``vendor_rejected``) and written again by
the next run; the rest of the process is committed. Related contacts are checked to exist before they are linked.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_customerio.store.objects import ObjectStateTable, SyncedObject
from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.config import CustomerIOConfig, ObjectTypeSettings
from airflow_provider_customerio.sync.mapping import ConversionError, content_hash, to_text
from airflow_provider_customerio.sync.ports import RunLedger, SyncState
from airflow_provider_customerio.sync.processes import (
    Clock,
    Notices,
    ProcessState,
    SystemClock,
    wait_for_pending,
)
from airflow_provider_customerio.sync.summary import SyncSummary

log = logging.getLogger(__name__)

DIRECTION = "cio_objects_to_brevo"
#: Brevo's bounds of ``POST /objects/{type}/batch/upsert``.
MAX_RECORDS_PER_UPSERT = 1000
MAX_UPSERT_BYTES = 1024 * 1024
#: ``{"records":[`` + ``]}``: the envelope around the records, as the hook serialises it (compact JSON).
UPSERT_OVERHEAD_BYTES = len(b'{"records":[]}')
#: Contacts linked (and unlinked) per associated type in one record. Brevo's spec: "Max 10 associations defined
#: per associated object type, in each record of the request"; more are spread over several records.
MAX_ASSOCIATIONS_PER_RECORD = 10
#: Brevo's association target type for contacts.
CONTACT_OBJECT_TYPE = "contact"
#: Records read back per page when verifying attribute keys.
VERIFY_PAGE_LIMIT = 1000

#: Ledger reason codes of this capability (in addition to :data:`ledger.REASONS`).
OBJECT_REASONS: Mapping[str, str] = {
    "not_found": "Customer.io no longer has the object (deleted between the listing and the read)",
    "no_mapped_value": "none of the mapped attributes has a value; Brevo needs at least one attribute per record",
    "related_contact_missing": "a person related to the object is not a Brevo contact (yet): the link is retried "
    "by the next run",
    "oversized_record": "the record alone is over Brevo's 1 MB request limit",
    "oversized_attribute": "an attribute value is over the size limit (value left out, object synced)",
    "upsert_failed": "Brevo's object upsert process failed (retried, then given up)",
    "delete_failed": "Brevo's object delete process failed (retried, then given up; retried by the next run)",
}
#: ``objects.delete_policy``: an object deleted in Customer.io is deleted in Brevo, or kept and flagged.
DELETE_POLICIES = ("delete", "flag")
#: The attribute a kept object is flagged with (create it, boolean, on the Brevo object type to use ``flag``).
DELETED_FLAG = "deleted_in_customerio"
#: Object state hash of a flagged object (not flagged again by the next run).
FLAGGED_HASH = "flagged:deleted_in_customerio"
_NO_STATE = SyncedObject("", {})


class ObjectSyncError(RuntimeError):
    """An object sync run cannot go on; the message says why and what to do."""


class MissingBrevoObjectTypes(ObjectSyncError):
    """Target Brevo custom object types do not exist. ``missing`` maps each type to the attribute keys the
    mapping needs on it."""

    def __init__(self, message: str, missing: Mapping[str, Sequence[str]]) -> None:
        super().__init__(message)
        self.missing = dict(missing)


class MissingBrevoAttributes(ObjectSyncError):
    """Attribute keys do not exist on Brevo custom object types (Brevo dropped their values silently).
    ``missing`` maps each type to its missing keys."""

    def __init__(self, message: str, missing: Mapping[str, Sequence[str]]) -> None:
        super().__init__(message)
        self.missing = dict(missing)


_REFUSED_RE = re.compile(r"records\[(\d+)\][^:]*:\s*([^;]*)")


def refused_records(error: str | None) -> dict[int, str]:
    """Records a finished upsert process refused, ``{position in the upsert body: reason}``, from its ``error``."""
    if not error:
        return {}
    return {int(m.group(1)): m.group(2).strip() for m in _REFUSED_RE.finditer(error)}


# ------------------------------------------------------------------------------------------ ports and values


@dataclass(frozen=True)
class CioObject:
    """One Customer.io object as read from the App API (attribute values are strings, as Customer.io returns)."""

    object_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    cio_object_id: str | None = None


@dataclass(frozen=True)
class RelatedPerson:
    """A person related to an object: Customer.io identifiers (``cio_id`` always, ``id``/``email`` if set)."""

    cio_id: str
    id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ContactRef:
    """How a Brevo contact is named in an association: ``{"ext_id": ...}`` or ``{"id": <int>}``."""

    identifiers: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.identifiers)


@dataclass(frozen=True)
class TypeProbe:
    """Result of probing a Brevo custom object type.

    :param exists: Brevo knows the type.
    :param available: ``False`` when the account has no custom objects at all (403).
    :param sample_keys: attribute keys seen on the sampled records (these keys certainly exist).
    :param count: records of the type, when Brevo said.
    """

    exists: bool
    available: bool = True
    sample_keys: frozenset[str] = frozenset()
    count: int | None = None
    message: str = ""


class ObjectSource(Protocol):
    """Customer.io side of the object sync."""

    def list_object_types(self) -> list[Mapping[str, Any]]:
        """``[{"id": "1", "name": "Companies", ...}]``."""
        ...

    def iter_object_ids(self, type_id: str) -> Iterator[str]:
        """Object ids of a type (duplicates possible)."""
        ...

    def get_object(self, type_id: str, object_id: str) -> CioObject | None:
        """The object's attributes, ``None`` when it no longer exists."""
        ...

    def iter_related_people(self, type_id: str, object_id: str) -> Iterator[RelatedPerson]:
        """Every person related to the object (duplicates possible)."""
        ...


class ObjectSink(Protocol):
    """Brevo side of the object sync."""

    def probe_type(self, object_type: str) -> TypeProbe: ...

    def upsert(self, object_type: str, records: Sequence[Mapping[str, Any]]) -> str:
        """``POST /objects/{type}/batch/upsert``; returns the process id."""
        ...

    def get_process(self, process_id: str) -> ProcessState: ...

    def delete_records(self, object_type: str, ext_ids: Sequence[str]) -> str:
        """``POST /objects/{type}/batch/delete`` of 1-1000 records by ``ext_id``; returns the process id."""
        ...

    def read_records(self, object_type: str, page_num: int, limit: int) -> list[Mapping[str, Any]]:
        """One page of stored records, newest first (``GET /objects/{type}/records``)."""
        ...

    def find_contact(self, *, ext_id: str | None, email: str | None) -> ContactRef | None:
        """The Brevo contact of a person (by ext_id, then email), ``None`` when Brevo has none."""
        ...


# ------------------------------------------------------------------------------------------ mapping


@dataclass(frozen=True)
class TypePlan:
    """One configured object type: Customer.io type id -> Brevo type, with its field mapping."""

    type_id: str
    name: str
    brevo_type: str
    field_mapping: Mapping[str, str]

    @property
    def target_keys(self) -> list[str]:
        return sorted(set(self.field_mapping.values()))


@dataclass(frozen=True)
class MappedObject:
    """The Brevo attributes of one object, and the values left out (``(source, target, reason, message)``)."""

    attributes: dict[str, Any]
    problems: tuple[tuple[str, str, str, str], ...] = ()


def map_object(obj: CioObject, mapping: Mapping[str, str]) -> MappedObject:
    """Map an object's attributes with ``mapping`` (Customer.io key -> Brevo key).

    Absent or empty values are left out (Brevo keeps its stored value). Numbers and booleans pass as they are;
    text over the size limit and nested values that do not fit are reported as problems. ``object_id`` is always
    available as a source key (it is the object's identifier).
    """
    source = dict(obj.attributes)
    source.setdefault("object_id", obj.object_id)
    attrs: dict[str, Any] = {}
    problems: list[tuple[str, str, str, str]] = []
    for src, target in mapping.items():
        value = source.get(src)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or isinstance(value, (int, float)):
            attrs[target] = value
            continue
        try:
            attrs[target] = to_text(value)
        except ConversionError as exc:
            problems.append((src, target, exc.reason, str(exc)))
    return MappedObject(attrs, tuple(problems))


def relation_key(person: RelatedPerson) -> str:
    """The stable key of a related person (Customer.io ``cio_id``)."""
    return person.cio_id


def build_records(
    object_id: str,
    attributes: Mapping[str, Any],
    links: Sequence[tuple[str, Mapping[str, Any]]],
    unlinks: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    per_record: int = MAX_ASSOCIATIONS_PER_RECORD,
) -> list[tuple[dict[str, Any], list[str], list[str]]]:
    """Upsert records for one object: the attributes, plus the links and unlinks spread so that no record carries
    more than ``per_record`` of each. Returns ``(record, linked keys, unlinked keys)`` per record, in order.

    Every record repeats the attributes (Brevo needs at least one per record) and the ``ext_id``.
    """
    if per_record < 1:
        raise ValueError("per_record must be at least 1")
    n = max(1, -(-len(links) // per_record), -(-len(unlinks) // per_record))
    out: list[tuple[dict[str, Any], list[str], list[str]]] = []
    for i in range(n):
        lk = links[i * per_record : (i + 1) * per_record]
        uk = unlinks[i * per_record : (i + 1) * per_record]
        record: dict[str, Any] = {"identifiers": {"ext_id": object_id}, "attributes": dict(attributes)}
        assocs: list[dict[str, Any]] = []
        if uk:  # unlinks first: a person re-keyed in Brevo is unlinked under the old name, then linked
            assocs.append(
                {
                    "object_type": CONTACT_OBJECT_TYPE,
                    "action": "unlink",
                    "records": [{"identifiers": dict(ident)} for _, ident in uk],
                }
            )
        if lk:
            assocs.append(
                {
                    "object_type": CONTACT_OBJECT_TYPE,
                    "action": "link",
                    "records": [{"identifiers": dict(ident)} for _, ident in lk],
                }
            )
        if assocs:
            record["associations"] = assocs
        out.append((record, [k for k, _ in lk], [k for k, _ in uk]))
    return out


# ------------------------------------------------------------------------------------------ state


# The object sync's table lives in the shared store (airflow_provider_customerio.store.objects).


def verified_keys_watermark(brevo_type: str) -> str:
    """Watermark name holding the attribute keys confirmed to exist on a Brevo type (a JSON list)."""
    return f"objects.{brevo_type}.verified_attributes"


# ------------------------------------------------------------------------------------------ the run


def plan_types(
    config: CustomerIOConfig, available: Sequence[Mapping[str, Any]], only: Sequence[str] | None = None
) -> list[TypePlan]:
    """The configured object types, checked against Customer.io's (``GET /v1/object_types``).

    :param only: restrict to these Customer.io type ids (an operator argument).
    :raises ObjectSyncError: no type configured, an unknown type id, or an empty field mapping.
    """
    configured: Mapping[str, ObjectTypeSettings] = config.objects.types
    base = "connectors.customerio.objects.types"
    if not configured:
        raise ObjectSyncError(
            f"{base} is empty: nothing to sync. Add an entry per Customer.io object type, e.g. "
            '`"1": {brevo_object_type: companies, field_mapping: {name: name}}` (ids from GET /v1/object_types).'
        )
    known = {str(t.get("id")): t for t in available}
    wanted = [str(t) for t in only] if only else list(configured)
    problems: list[str] = []
    plans: list[TypePlan] = []
    for type_id in wanted:
        settings = configured.get(type_id)
        if settings is None:
            problems.append(
                f"object type `{type_id}` was requested but {base} has no entry `{type_id}`: add one "
                f"(configured: {', '.join(sorted(configured)) or 'none'})."
            )
            continue
        if type_id not in known:
            listing = ", ".join(f"{k} ({v.get('name')})" for k, v in sorted(known.items())) or "none"
            problems.append(
                f"{base}.{type_id}: Customer.io has no object type with id `{type_id}`. Object types "
                f"of the workspace: {listing}. Fix the id or remove the entry."
            )
            continue
        if not settings.field_mapping:
            problems.append(
                f"{base}.{type_id}.field_mapping is empty: Brevo needs at least one attribute per "
                "record. Map Customer.io attributes to attribute keys of the Brevo object type "
                f"`{settings.brevo_object_type}`, e.g. `{{name: name}}`."
            )
            continue
        other = next(
            (t for t, st in configured.items() if t != type_id and st.brevo_object_type == settings.brevo_object_type),
            None,
        )
        if other is not None:
            problems.append(
                f"{base}.{type_id}.brevo_object_type: `{settings.brevo_object_type}` is also the target "
                f"of type `{other}`; object ids of two types could collide as ext_id. Give each "
                "Customer.io type its own Brevo object type."
            )
            continue
        targets: dict[str, str] = {}
        for src, tgt in settings.field_mapping.items():
            if tgt in targets:
                problems.append(
                    f"{base}.{type_id}.field_mapping.{src}: Brevo key `{tgt}` is already the target "
                    f"of `{targets[tgt]}`: map each Brevo attribute once."
                )
            targets.setdefault(tgt, src)
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


class ObjectSync:
    """One object sync run Customer.io -> Brevo.

    :param config: the ``connectors.customerio`` configuration.
    :param source: the Customer.io port.
    :param sink: the Brevo port.
    :param state: the state store (checkpoints, pending processes, watermarks, identity map).
    :param objects: the object sync's table (:class:`ObjectStateTable`, in the same database).
    :param ledger: this run's ledger.
    :param run_key: ``dag_id/run_id/task_id``; keys the checkpoint.
    :param type_ids: restrict the run to these Customer.io type ids (default: all configured).
    :param max_records: records per upsert (Brevo: at most 1000).
    :param max_bytes: bytes per upsert body (Brevo: at most 1 MB).
    :param max_associations: links (and unlinks) per record and associated type (Brevo: 10).
    :param max_upsert_attempts: submissions of a batch whose process failed before its rows are ledgered.
    :param verify_pages: pages of records read back (newest first) to confirm attribute keys.
    :param clock: time source for waiting (tests pass a fake).
    :param process_notices: end-of-process notices for :meth:`wait` (see :mod:`.processes`); ``None`` polls.
    :param notice_deadline_s: seconds after which a process with no notice is polled on the schedule.
    """

    def __init__(
        self,
        *,
        config: CustomerIOConfig,
        source: ObjectSource,
        sink: ObjectSink,
        state: SyncState,
        objects: ObjectStateTable,
        ledger: RunLedger,
        run_key: str,
        type_ids: Sequence[str] | None = None,
        max_records: int = MAX_RECORDS_PER_UPSERT,
        max_bytes: int = MAX_UPSERT_BYTES,
        max_associations: int = MAX_ASSOCIATIONS_PER_RECORD,
        max_upsert_attempts: int = 3,
        verify_pages: int = 2,
        clock: Clock | None = None,
        process_notices: Notices | None = None,
        notice_deadline_s: float | None = None,
    ) -> None:
        self.process_notices = process_notices
        self.notice_deadline_s = notice_deadline_s
        if not 1 <= max_records <= MAX_RECORDS_PER_UPSERT:
            raise ObjectSyncError(
                f"max_records must be between 1 and {MAX_RECORDS_PER_UPSERT} (Brevo's limit), got {max_records}."
            )
        if not UPSERT_OVERHEAD_BYTES < max_bytes <= MAX_UPSERT_BYTES:
            raise ObjectSyncError(
                f"max_bytes must be between {UPSERT_OVERHEAD_BYTES + 1} and {MAX_UPSERT_BYTES} "
                f"(Brevo's 1 MB limit), got {max_bytes}."
            )
        if not 1 <= max_associations <= MAX_ASSOCIATIONS_PER_RECORD:
            raise ObjectSyncError(
                f"max_associations must be between 1 and {MAX_ASSOCIATIONS_PER_RECORD}, got {max_associations}."
            )
        self.config = config
        self.source = source
        self.sink = sink
        self.state = state
        self.objects = objects
        self.ledger = ledger
        self.run_key = run_key
        self.type_ids = list(type_ids) if type_ids else None
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_associations = max_associations
        self.max_upsert_attempts = max_upsert_attempts
        self.verify_pages = verify_pages
        self.clock = clock or SystemClock()
        self.summary = SyncSummary(direction=DIRECTION, mode="full")
        self._checkpoint: dict[str, Any] = {}
        self._plans: dict[str, TypePlan] = {}
        self._contacts: dict[str, ContactRef | None] = {}

    # -------------------------------------------------------------- checkpoint helpers

    def _save(self, **changes: Any) -> None:
        self._checkpoint.update(changes)
        self._checkpoint["ledger_offset"] = self.ledger.flush()
        self._checkpoint["summary"] = self.summary.to_state()
        self.state.save_checkpoint(self.run_key, self._checkpoint)

    @property
    def counters(self) -> dict[str, int]:
        """Association counters of the run (links and unlinks sent)."""
        counters: dict[str, int] = self._checkpoint.setdefault("counters", {"links": 0, "unlinks": 0, "records": 0})
        return counters

    # -------------------------------------------------------------- entry points

    def run(self, *, dry_run: bool = False) -> list[str]:
        """Run (or resume) check, collect and load. Returns the process ids to wait for; then call :meth:`wait`
        (blocking) or :meth:`complete` with finished process states (deferral), and :meth:`finish`."""
        cp = self.state.get_checkpoint(self.run_key)
        if cp and cp.get("kind") == "objects" and not dry_run and not cp.get("dry_run"):
            self._checkpoint = cp
            self.summary = SyncSummary.from_state(cp.get("summary") or {})
            log.info("Resuming %s from step %s (offset %s)", self.run_key, cp.get("step"), cp.get("offset"))
        else:
            if cp:
                self.state.clear_run(self.run_key)
            self._checkpoint = {
                "kind": "objects",
                "step": "check",
                "offset": 0,
                "dry_run": dry_run,
                "counters": {"links": 0, "unlinks": 0, "records": 0},
                "verify": {},
            }
            self.summary = SyncSummary(direction=DIRECTION, mode="full", dry_run=dry_run)
        self.summary.ledger = self.ledger.key
        plans = self.check()
        self._plans = {p.type_id: p for p in plans}
        if self._checkpoint["step"] == "check":
            self._checkpoint["plans"] = [
                {
                    "type_id": p.type_id,
                    "name": p.name,
                    "brevo_type": p.brevo_type,
                    "field_mapping": dict(p.field_mapping),
                }
                for p in plans
            ]
            self._save(step="collect", offset=0)
        if self._checkpoint["step"] == "collect":
            self._collect(plans)
            self._save(step="load", offset=0)
        if self._checkpoint["step"] == "load":
            self._load(dry_run)
            self._gone(plans)
            self._save(step="wait", offset=0)
        return [p.process_id for p in self.state.pending_processes(self.run_key)]

    def attach(self) -> None:
        """Load the checkpoint of this run without running any step (back from a deferral)."""
        cp = self.state.get_checkpoint(self.run_key)
        if not cp or cp.get("kind") != "objects":
            raise ObjectSyncError(f"no unfinished object sync run {self.run_key} to resume: re-run the task.")
        self._checkpoint = cp
        self.summary = SyncSummary.from_state(cp.get("summary") or {})
        self.summary.ledger = self.ledger.key
        self._plans = {
            p["type_id"]: TypePlan(p["type_id"], p["name"], p["brevo_type"], p["field_mapping"])
            for p in cp.get("plans") or []
        }

    def remember(self, key: str, value: Any) -> None:
        """Keep a JSON value in this run's checkpoint (e.g. the operator's wait deadline)."""
        self._save(**{key: value})

    def checkpoint_value(self, key: str) -> Any:
        return self._checkpoint.get(key)

    def close_ledger(self) -> None:
        self.ledger.close()

    def check(self) -> list[TypePlan]:
        """Check the Customer.io and Brevo preconditions; raise before anything is written."""
        plans = plan_types(self.config, self.source.list_object_types(), self.type_ids)
        probes = check_brevo_types(plans, self.sink)
        for plan in plans:
            seen = set(probes[plan.brevo_type].sample_keys) & set(plan.target_keys)
            if seen - set(self._verified(plan.brevo_type)):
                self._set_verified(plan.brevo_type, set(self._verified(plan.brevo_type)) | seen)
        return plans

    def wait(self, *, timeout: float, delays: Iterable[float] | None = None) -> None:
        """Block until every pending upsert process is finished, handling each as it finishes.

        :raises BrevoProcessTimeout: some are still running after ``timeout`` seconds (their records stay pending).
        """

        wait_for_pending(
            self, timeout=timeout, delays=delays, what="object upsert", held="records", timeout_option="process_timeout"
        )

    def complete(self, states: Iterable[ProcessState]) -> list[str]:
        """Handle finished processes. Returns the process ids still pending (resubmissions included)."""
        pending = {p.process_id: p for p in self.state.pending_processes(self.run_key)}
        for st in states:
            p = pending.get(str(st.process_id))
            if p is None or not st.finished:
                continue
            if st.succeeded:
                self._commit(p.process_id, st.error)
            else:
                self._failed(p.process_id, p.attempt, st.error)
        self._save()
        return [p.process_id for p in self.state.pending_processes(self.run_key)]

    def finish(self) -> dict[str, Any]:
        """Verify attribute keys, close the run and return its summary (the XCom dict)."""
        if self.state.pending_processes(self.run_key):
            raise ObjectSyncError("finish() called while upserts are pending; call wait() or complete() first.")
        s = self.summary
        try:
            if not s.dry_run:
                self._verify()
        except MissingBrevoAttributes:
            # The objects were invalidated: a retry of this task must write them again, not resume.
            self.ledger.close()
            self.state.clear_run(self.run_key)
            raise
        s.rejected = self.ledger.record_rejects
        s.value_rejects = self.ledger.total - self.ledger.record_rejects
        s.rejects_by_reason = self.ledger.counts.copy()
        s.finish()
        self.ledger.close()
        if not s.dry_run:
            self.state.set_watermark("objects.cio_to_brevo.last_sync", s.last_sync or "")
        counters = dict(self.counters)
        self.state.clear_run(self.run_key)
        out = s.to_xcom()
        out.update(
            links_added=counters["links"],
            links_removed=counters["unlinks"],
            records_sent=counters["records"],
            gone=counters.get("gone", 0),
            flagged=counters.get("flagged", 0),
            delete_policy=self.config.objects.delete_policy,
            objects_known=self.objects.count(),
            types={p.type_id: p.brevo_type for p in self._plans.values()},
        )
        return out

    # -------------------------------------------------------------- steps

    def _verified(self, brevo_type: str) -> list[str]:
        raw = self.state.get_watermark(verified_keys_watermark(brevo_type))
        try:
            return list(json.loads(raw)) if raw else []
        except ValueError:
            return []

    def _set_verified(self, brevo_type: str, keys: Iterable[str]) -> None:
        self.state.set_watermark(verified_keys_watermark(brevo_type), json.dumps(sorted(set(keys))))

    def _collect(self, plans: Sequence[TypePlan]) -> None:
        for plan in plans:

            def items(p: TypePlan = plan) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
                for oid in self.source.iter_object_ids(p.type_id):
                    yield f"{p.type_id}\x1f{oid}", "object", {"type_id": p.type_id, "object_id": str(oid)}

            n = self.state.stage_items(self.run_key, items())
            log.info("Customer.io object type %s (%s): %d objects", plan.type_id, plan.name, n)

    def _new_packer(self) -> Packer[dict[str, Any]]:
        return Packer(
            max_bytes=self.max_bytes,
            max_count=self.max_records,
            size_of=lambda item: json_size(item["record"], compact=True),
            overhead_bytes=UPSERT_OVERHEAD_BYTES,
            separator_bytes=1,
        )

    def _load(self, dry_run: bool) -> None:
        offset = int(self._checkpoint.get("offset", 0))
        packer = self._new_packer()
        current_type: str | None = None
        last_seq = offset - 1
        for seq, _key, _kind, data in self.state.iter_staged(self.run_key, from_seq=offset, kind="object"):
            if not data:
                continue
            plan = self._plans.get(str(data["type_id"]))
            if plan is None:
                continue
            if current_type is not None and plan.brevo_type != current_type:
                self._emit(packer.flush(), dry_run, next_offset=seq)
            current_type = plan.brevo_type
            last_seq = seq
            items = self._prepare(plan, str(data["object_id"]), dry_run)
            for item in items:
                self._emit(packer.add(item), dry_run, next_offset=seq)
        self._emit(packer.flush(), dry_run, next_offset=last_seq + 1)

    def _gone(self, plans: Sequence[TypePlan]) -> None:
        """Objects synced before that Customer.io no longer lists (deleted there) follow ``objects.delete_policy``:
        ``delete`` (default) deletes their Brevo records (``POST /objects/{type}/batch/delete``, 1000 per request,
        committed when Brevo's process finished); ``flag`` keeps them and sets ``deleted_in_customerio: true`` on
        them (an attribute to create on the Brevo object type; once flagged, an object is not flagged again).
        Counted in the summary (``gone``, ``deleted``; a dry run lists them in ``plan.deletes``)."""
        policy = self.config.objects.delete_policy
        if policy not in DELETE_POLICIES:
            raise ObjectSyncError(
                f"connectors.customerio.objects.delete_policy `{policy}` is unknown: use one of "
                f"{', '.join(DELETE_POLICIES)}."
            )
        seen: dict[str, set[str]] = {}
        for _seq, _key, _kind, data in self.state.iter_staged(self.run_key, kind="object"):
            if data:
                seen.setdefault(str(data["type_id"]), set()).add(str(data["object_id"]))
        total = 0
        dry_run = self.summary.dry_run
        for plan in plans:
            listed = seen.get(plan.type_id, set())
            gone = [
                oid
                for oid in self.objects.iter_object_ids(plan.brevo_type)
                if oid not in listed and not self.objects.owned_by_brevo(plan.brevo_type, oid)
            ]
            if policy == "flag":
                gone = [
                    oid for oid in gone if (self.objects.get(plan.brevo_type, oid) or _NO_STATE).hash != FLAGGED_HASH
                ]
            total += len(gone)
            if not gone:
                continue
            if dry_run:
                kind = "deletes" if policy == "delete" else "flags"
                self.summary.plan_add(kind, len(gone), items=[f"{plan.brevo_type}/{oid}" for oid in gone])
                continue
            for i in range(0, len(gone), MAX_RECORDS_PER_UPSERT):
                chunk = gone[i : i + MAX_RECORDS_PER_UPSERT]
                if policy == "delete":
                    self._submit_deletes(plan.brevo_type, chunk, attempt=1)
                else:
                    self._submit_flags(plan.brevo_type, chunk)
        self.counters["gone"] = total
        if total:
            what = "deleted in Brevo" if policy == "delete" else f"kept in Brevo, flagged `{DELETED_FLAG}`"
            note = f"{total} object(s) synced before are no longer in Customer.io: {what} (objects.delete_policy)"
            self.summary.notes.append(note)
            log.info("%s", note)

    def _submit_deletes(self, brevo_type: str, object_ids: Sequence[str], *, attempt: int) -> None:
        self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
        pid = str(self.sink.delete_records(brevo_type, object_ids))
        rows = [
            (f"{brevo_type}\x1f{oid}", "", {"op": "delete", "brevo_type": brevo_type, "object_id": oid})
            for oid in object_ids
        ]
        self.state.add_pending(self.run_key, pid, rows, attempt=attempt, options={"brevo_type": brevo_type})
        self._save()
        log.info("Submitted Brevo object delete %s (%s): %d records", pid, brevo_type, len(object_ids))

    def _submit_flags(self, brevo_type: str, object_ids: Sequence[str]) -> None:
        records = [{"identifiers": {"ext_id": oid}, "attributes": {DELETED_FLAG: True}} for oid in object_ids]
        self.state.check_lease()
        pid = str(self.sink.upsert(brevo_type, records))
        rows = [
            (
                f"{brevo_type}\x1f{oid}",
                FLAGGED_HASH,
                {
                    "brevo_type": brevo_type,
                    "object_id": oid,
                    "record": rec,
                    "linked": {},
                    "unlinked": [],
                    "hash": FLAGGED_HASH,
                    "flag": True,
                },
            )
            for oid, rec in zip(object_ids, records)
        ]
        self.state.add_pending(self.run_key, pid, rows, options={"brevo_type": brevo_type})
        self.summary.imports += 1
        self._save()

    def _resolve(self, person: RelatedPerson) -> ContactRef | None:
        key = relation_key(person)
        if key in self._contacts:
            return self._contacts[key]
        ref: ContactRef | None = None
        ident = self.state.get_identity(person.cio_id)
        if ident is not None and ident.ext_id:
            ref = ContactRef({"ext_id": str(ident.ext_id)})
        elif ident is not None and ident.brevo_id:
            ref = ContactRef({"id": int(ident.brevo_id)})
        else:
            ref = self.sink.find_contact(ext_id=person.id or None, email=person.email or None)
        self._contacts[key] = ref
        return ref

    def _prepare(self, plan: TypePlan, object_id: str, dry_run: bool) -> list[dict[str, Any]]:
        """Read, map and diff one object; return the packer items (one per upsert record) to send."""
        s = self.summary
        mapped = self._read_mapped(plan, object_id)
        if mapped is None:
            return []
        identifiers = {"object_type_id": plan.type_id, "object_id": object_id, "ext_id": object_id}
        desired: dict[str, RelatedPerson] = {}
        for person in self.source.iter_related_people(plan.type_id, object_id):
            desired.setdefault(relation_key(person), person)
        previous = self.objects.get(plan.brevo_type, object_id)
        prev_links: Mapping[str, Mapping[str, Any]] = previous.links if previous else {}
        digest = content_hash({"attributes": mapped.attributes})
        same_attributes = previous is not None and previous.hash == digest
        if same_attributes and set(prev_links) == set(desired):
            s.unchanged += 1
            return []
        links = self._new_links(plan, object_id, desired, prev_links, identifiers)
        unlinks = [(key, prev_links[key]) for key in sorted(prev_links) if key not in desired]
        if same_attributes and not links and not unlinks:
            # Only people that are not Brevo contacts yet differ: nothing to write (they are ledgered above, and
            # stay out of the linked set, so the next run tries them again).
            s.unchanged += 1
            return []
        for src, target, reason, message in mapped.problems:
            self.ledger.reject(
                record_id=object_id,
                reason=reason,
                stage="map",
                message=f"{src} -> {target}: {message}; the object was synced without this value",
                identifiers=identifiers,
                detail={"attribute": target},
            )
        final_hash = digest
        records = build_records(object_id, mapped.attributes, links, unlinks, per_record=self.max_associations)
        if previous is None:
            s.created += 1
        else:
            s.updated += 1
        if dry_run:
            s.plan_add("creates" if previous is None else "updates", items=[f"{plan.brevo_type}/{object_id}"])
            s.plan_add("links", len(links))
            s.plan_add("unlinks", len(unlinks))
            return []
        self._track_verify(plan, object_id, mapped.attributes)
        return [
            {
                "key": f"{plan.brevo_type}\x1f{object_id}",
                "brevo_type": plan.brevo_type,
                "object_id": object_id,
                "record": record,
                "linked": {k: dict(v) for k, v in links if k in set(linked)},
                "unlinked": unlinked,
                "hash": final_hash if i == len(records) - 1 else None,
            }
            for i, (record, linked, unlinked) in enumerate(records)
        ]

    def _read_mapped(self, plan: TypePlan, object_id: str) -> MappedObject | None:
        """Read and map one object (counted as read); ``None`` when it is gone, owned by Brevo or maps to nothing
        (ledgered, or counted unchanged)."""
        self.summary.read += 1
        obj = self.source.get_object(plan.type_id, object_id)
        if obj is None:
            self.ledger.reject(
                record_id=object_id,
                reason="not_found",
                stage="read",
                message=f"Customer.io object type {plan.type_id} has no object `{object_id}` any "
                "more (deleted since it was listed)",
                identifiers={"object_type_id": plan.type_id, "object_id": object_id},
            )
            return None
        if self.objects.owned_by_brevo(plan.brevo_type, object_id):
            # It came from Brevo (reverse direction): Brevo owns it, writing it back would duplicate or echo it.
            self.summary.unchanged += 1
            return None
        mapped = map_object(obj, plan.field_mapping)
        if not mapped.attributes:
            self.ledger.reject(
                record_id=object_id,
                reason="no_mapped_value",
                stage="map",
                message=f"none of the mapped attributes ({', '.join(plan.field_mapping)}) has a "
                "value, and Brevo needs at least one attribute per record: map an "
                "attribute every object has (e.g. `object_id: <key>`)",
                identifiers={"object_type_id": plan.type_id, "object_id": object_id, "ext_id": object_id},
            )
            return None
        return mapped

    def _new_links(
        self,
        plan: TypePlan,
        object_id: str,
        desired: Mapping[str, RelatedPerson],
        prev_links: Mapping[str, Mapping[str, Any]],
        identifiers: Mapping[str, Any],
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The links to add: related people not linked yet that are Brevo contacts (the others are ledgered and
        retried by the next run)."""
        links: list[tuple[str, Mapping[str, Any]]] = []
        for key in sorted(desired):
            if key in prev_links:
                continue
            ref = self._resolve(desired[key])
            if ref is None:
                person = desired[key]
                self.ledger.reject(
                    record_id=object_id,
                    reason="related_contact_missing",
                    stage="associate",
                    message=f"person {person.cio_id} is related to {plan.name} `{object_id}` in "
                    "Customer.io but is not a Brevo contact (not synced yet, or no email/id): "
                    "not linked now, retried by the next run",
                    identifiers={**identifiers, "cio_id": person.cio_id, "id": person.id, "email": person.email},
                )
                continue
            links.append((key, ref.to_json()))
        return links

    def _track_verify(self, plan: TypePlan, object_id: str, attributes: Mapping[str, Any]) -> None:
        """Remember (a bounded sample of) what was sent for keys not yet confirmed to exist in Brevo."""
        unverified = set(plan.target_keys) - set(self._verified(plan.brevo_type))
        if not unverified:
            return
        sent = sorted(k for k in attributes if k in unverified)
        if not sent:
            return
        bucket = self._checkpoint.setdefault("verify", {}).setdefault(plan.brevo_type, {})
        if len(bucket) < 200 or object_id in bucket:
            bucket[object_id] = sent

    def _emit(
        self, outputs: list[Batch[dict[str, Any]] | Oversize[dict[str, Any]]], dry_run: bool, *, next_offset: int
    ) -> None:
        for out in outputs:
            if isinstance(out, Oversize):
                item = out.item
                self.ledger.reject(
                    record_id=item["object_id"],
                    reason=out.reason,
                    stage="pack",
                    message=f"{out.message} (Brevo accepts at most 1 MB per request)",
                    identifiers={"ext_id": item["object_id"]},
                )
                self.objects.invalidate(item["brevo_type"], [item["object_id"]])
                continue
            if dry_run or not out.items:
                continue
            brevo_type = out.items[0]["brevo_type"]
            records = [item["record"] for item in out.items]
            self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
            pid = str(self.sink.upsert(brevo_type, records))
            self.state.add_pending(
                self.run_key,
                pid,
                ((item["key"], item["hash"] or "", item) for item in out.items),
                options={"brevo_type": brevo_type},
            )
            self.summary.imports += 1
            c = self.counters
            c["records"] += len(records)
            log.info(
                "Submitted Brevo object upsert %s (%s): %d records, %d bytes", pid, brevo_type, len(records), out.nbytes
            )
            self._save(offset=next_offset)

    def _commit(self, process_id: str, error: str | None = None) -> None:
        c = self.counters
        refused = refused_records(error)
        rows = list(self.state.iter_pending_rows(self.run_key, process_id))
        for index in sorted(i for i in refused if i < len(rows)):
            # Brevo accepted the upsert (202) and refused this record in the background: ledger it and forget its
            # hash, so the next run writes it again.
            item = rows[index].row
            self.ledger.reject(
                record_id=item["object_id"],
                reason="vendor_rejected",
                stage="upsert",
                message=f"Brevo refused the record in upsert process {process_id}: {refused[index]}",
                identifiers={"ext_id": item["object_id"]},
                detail={"process_id": process_id},
            )
            self.objects.invalidate(item["brevo_type"], [item["object_id"]])
        with self.objects.transaction():
            for index, row in enumerate(rows):
                if index in refused:
                    continue
                item = row.row
                if item.get("op") == "delete":
                    self.objects.forget(item["brevo_type"], [item["object_id"]])
                    self.summary.deleted += 1
                    continue
                if item.get("flag"):
                    c["flagged"] = c.get("flagged", 0) + 1
                self.objects.apply(
                    item["brevo_type"],
                    item["object_id"],
                    linked=item.get("linked") or {},
                    unlinked=item.get("unlinked") or [],
                    hash=item.get("hash"),
                )
                c["links"] += len(item.get("linked") or {})
                c["unlinks"] += len(item.get("unlinked") or [])
        self.state.drop_pending(self.run_key, process_id)

    def _failed(self, process_id: str, attempt: int, error: str | None) -> None:
        rows = list(self.state.iter_pending_rows(self.run_key, process_id))
        if not rows:
            self.state.drop_pending(self.run_key, process_id)
            return
        brevo_type = rows[0].row["brevo_type"]
        if rows[0].row.get("op") == "delete":
            ids = [r.row["object_id"] for r in rows]
            with self.state.transaction():
                self.state.drop_pending(self.run_key, process_id)
                if attempt < self.max_upsert_attempts:
                    log.warning("Brevo object delete process %s failed (%s); resubmitting", process_id, error)
                    self._submit_deletes(brevo_type, ids, attempt=attempt + 1)
                    return
            for oid in ids:  # still known and still gone from Customer.io: the next run deletes it again
                self.ledger.reject(
                    record_id=oid,
                    reason="delete_failed",
                    stage="delete",
                    message=f"Brevo object delete process {process_id} failed {attempt} times ({error}); "
                    "the next run deletes the record again",
                    identifiers={"ext_id": oid},
                    detail={"process_id": process_id},
                )
            return
        if attempt < self.max_upsert_attempts:
            log.warning(
                "Brevo object upsert process %s failed (%s); resubmitting its %d records, attempt %d/%d",
                process_id,
                error,
                len(rows),
                attempt + 1,
                self.max_upsert_attempts,
            )
            self.state.check_lease()
            new_pid = str(self.sink.upsert(brevo_type, [r.row["record"] for r in rows]))
            self.summary.imports += 1
            with self.state.transaction():
                self.state.add_pending(
                    self.run_key,
                    new_pid,
                    [(r.person_key, r.hash, r.row) for r in rows],
                    attempt=attempt + 1,
                    options={"brevo_type": brevo_type},
                )
                self.state.drop_pending(self.run_key, process_id)
            return
        for r in rows:
            self.ledger.reject(
                record_id=r.row["object_id"],
                reason="upsert_failed",
                stage="upsert",
                message=f"Brevo object upsert process {process_id} failed {attempt} times ({error}); "
                "the object will be written again by the next run",
                identifiers={"ext_id": r.row["object_id"]},
                detail={"process_id": process_id},
            )
        self.objects.invalidate(brevo_type, [r.row["object_id"] for r in rows])
        self.state.drop_pending(self.run_key, process_id)

    def _verify(self) -> None:
        """Confirm unverified attribute keys from records read back; raise listing the keys Brevo dropped."""
        tracked: dict[str, dict[str, list[str]]] = self._checkpoint.get("verify") or {}
        missing: dict[str, list[str]] = {}
        for brevo_type, sent in tracked.items():
            if not sent:
                continue
            present: set[str] = set()
            absent: set[str] = set()
            matched = 0
            for page in range(1, self.verify_pages + 1):
                records = self.sink.read_records(brevo_type, page, VERIFY_PAGE_LIMIT)
                for rec in records:
                    ext = str((rec.get("identifiers") or {}).get("ext_id") or "")
                    if ext not in sent:
                        continue
                    matched += 1
                    keys = set((rec.get("attributes") or {}).keys())
                    for k in sent[ext]:
                        (present if k in keys else absent).add(k)
                if len(records) < VERIFY_PAGE_LIMIT or matched >= len(sent):
                    break
            dropped = sorted(absent - present)
            if present:
                self._set_verified(brevo_type, set(self._verified(brevo_type)) | present)
            if dropped:
                missing[brevo_type] = dropped
            elif not matched:
                note = (
                    f"could not confirm the attribute keys of Brevo object type `{brevo_type}` (none of the "
                    "records written was found in the first pages); they are checked again next run"
                )
                self.summary.notes.append(note)
                log.warning("%s", note)
        if missing:
            for brevo_type in missing:
                self.objects.invalidate(brevo_type)
            listing = "; ".join(f"`{t}`: {', '.join(f'`{k}`' for k in keys)}" for t, keys in sorted(missing.items()))
            raise MissingBrevoAttributes(
                f"Brevo silently dropped attribute keys that do not exist on its object types: {listing}. Create "
                "these attributes in Brevo (Objects > the object type > Attributes) with exactly these keys, or "
                "remove them from connectors.customerio.objects.types.<id>.field_mapping, then re-run: the objects "
                "of these types will be written again.",
                missing,
            )


# ------------------------------------------------------------------------------------------ reverse direction

#: Track v2 ``/api/v2/batch`` bounds: the request under 500 KB, each operation at most 32 KB.
MAX_TRACK_BATCH_BYTES = 500 * 1024 - 1024
MAX_TRACK_OP_BYTES = 32 * 1024
TRACK_BATCH_OVERHEAD_BYTES = len(b'{"batch":[]}')
#: Associated records Brevo lists per association in ``GET /objects/{type}/records?association=true``.
BREVO_LISTED_ASSOCIATIONS = 5


@dataclass(frozen=True)
class BrevoRecord:
    """A Brevo custom object record as listed (``association=true``).

    :param contact_ids: Brevo ids of the associated contacts. Brevo lists at most
        :data:`BREVO_LISTED_ASSOCIATIONS` per association, so with that many the list may be incomplete.
    """

    id: int
    ext_id: str | None
    attributes: Mapping[str, Any]
    contact_ids: tuple[int, ...] = ()

    @property
    def object_id(self) -> str:
        """The Customer.io object id: the record's ``ext_id``, else ``brevo-<id>``."""
        return self.ext_id if self.ext_id else f"brevo-{self.id}"


class RecordSource(Protocol):
    """Brevo side of the reverse direction (read only)."""

    def iter_records(self, object_type: str) -> Iterator[BrevoRecord]: ...

    def person_identifiers(self, contact_id: int) -> Mapping[str, str] | None:
        """Customer.io identifiers of a Brevo contact (``{"id": EXT_ID}`` or ``{"email": ...}``), ``None`` if it
        has neither or does not exist."""
        ...


class ObjectWriter(Protocol):
    """Customer.io side of the reverse direction."""

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        """Track v2 ``/api/v2/batch``; returns ``(index, message)`` per rejected operation (207)."""
        ...


class ReverseObjectSync:
    """Brevo custom object records that come from elsewhere -> Customer.io objects (Track v2 object ``identify``
    with ``cio_relationships``), for the configured types (the inverse of each ``field_mapping``).

    Ownership keeps the two directions from echoing: records written by the forward direction (their ``ext_id``
    is a synced Customer.io object) are skipped here, and objects written here are skipped by the forward
    direction. Relationships are only added: Brevo lists at most 5 associated contacts per record, so a removal
    cannot be told from truncation (records with more than 5 contacts are noted in the summary). Unchanged
    records (content hash) are not sent again; a rejected operation goes to the ledger (``vendor_rejected``).

    :param type_ids: restrict to these Customer.io type ids.
    """

    def __init__(
        self,
        *,
        config: CustomerIOConfig,
        source: RecordSource,
        writer: ObjectWriter,
        state: SyncState,
        objects: ObjectStateTable,
        ledger: RunLedger,
        type_ids: Sequence[str] | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.writer = writer
        self.state = state
        self.objects = objects
        self.ledger = ledger
        self.type_ids = list(type_ids) if type_ids else None
        self.summary = SyncSummary(direction="brevo_objects_to_cio", mode="full")
        self._people: dict[int, Mapping[str, str] | None] = {}
        self.truncated = 0
        self.echoes = 0

    def _person(self, contact_id: int) -> Mapping[str, str] | None:
        if contact_id not in self._people:
            ident = self.state.find_identity(brevo_id=contact_id)
            self._people[contact_id] = (
                {"cio_id": ident.cio_id} if ident is not None else self.source.person_identifiers(contact_id)
            )
        return self._people[contact_id]

    def run(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Read every record of the configured Brevo types and write the new or changed ones to Customer.io."""
        s = self.summary
        s.dry_run = dry_run
        s.ledger = self.ledger.key
        configured = configured_plans(self.config)
        plans = [p for p in configured if not self.type_ids or p.type_id in self.type_ids]
        if not plans:
            raise ObjectSyncError(
                "connectors.customerio.objects.types has no entry for the reverse direction: add "
                "one per object type (its field_mapping is used inverted)."
            )
        for plan in plans:
            inverse = {tgt: src for src, tgt in plan.field_mapping.items()}
            packer: Packer[tuple[str, str, dict[str, Any]]] = Packer(
                max_bytes=MAX_TRACK_BATCH_BYTES,
                max_count=10_000,
                size_of=lambda t: json_size(t[2], compact=True),
                overhead_bytes=TRACK_BATCH_OVERHEAD_BYTES,
                separator_bytes=1,
                max_item_bytes=MAX_TRACK_OP_BYTES,
            )
            for record in self.source.iter_records(plan.brevo_type):
                s.read += 1
                if record.ext_id and self.objects.get(plan.brevo_type, record.ext_id) is not None:
                    self.echoes += 1  # written by the forward direction: Customer.io owns it
                    s.unchanged += 1
                    continue
                item = self._operation(plan, inverse, record)
                if item is None:
                    continue
                self._send(plan, packer.add(item), dry_run)
            self._send(plan, packer.flush(), dry_run)
        s.rejected = self.ledger.record_rejects
        s.rejects_by_reason = self.ledger.counts.copy()
        if self.truncated:
            s.notes.append(
                f"{self.truncated} Brevo record(s) list {BREVO_LISTED_ASSOCIATIONS} associated contacts, "
                "Brevo's listing maximum: contacts beyond it are not related in Customer.io"
            )
        s.finish()
        self.ledger.close()
        out = s.to_xcom()
        out.update(echoes=self.echoes, truncated_associations=self.truncated)
        return out

    def _operation(
        self, plan: TypePlan, inverse: Mapping[str, str], record: BrevoRecord
    ) -> tuple[str, str, dict[str, Any]] | None:
        object_id = record.object_id
        attrs = {inverse[k]: v for k, v in record.attributes.items() if k in inverse and v not in (None, "")}
        people: list[dict[str, Any]] = []
        for cid in sorted(set(record.contact_ids)):
            ident = self._person(cid)
            if ident is None:
                self.ledger.reject(
                    record_id=object_id,
                    reason="related_contact_missing",
                    stage="reverse",
                    message=f"Brevo contact {cid} associated with `{object_id}` has no Customer.io "
                    "identifier (no EXT_ID, email or identity): relationship not written",
                    identifiers={"brevo_record_id": record.id, "brevo_contact_id": cid},
                )
                continue
            people.append({"identifiers": dict(ident)})
        if len(record.contact_ids) >= BREVO_LISTED_ASSOCIATIONS:
            self.truncated += 1
        digest = content_hash({"attributes": attrs, "people": people})
        if self.objects.reverse_hash(plan.brevo_type, object_id) == digest:
            self.summary.unchanged += 1
            return None
        op: dict[str, Any] = {
            "type": "object",
            "action": "identify",
            "identifiers": {"object_type_id": plan.type_id, "object_id": object_id},
            "attributes": attrs,
        }
        if people:
            op["cio_relationships"] = people
        return object_id, digest, op

    def _send(
        self,
        plan: TypePlan,
        outputs: list[Batch[tuple[str, str, dict[str, Any]]] | Oversize[tuple[str, str, dict[str, Any]]]],
        dry_run: bool,
    ) -> None:
        s = self.summary
        for out in outputs:
            if isinstance(out, Oversize):
                self.ledger.reject(
                    record_id=out.item[0],
                    reason="oversized_record",
                    stage="reverse",
                    message=f"{out.message} (Track v2 accepts at most 32 KB per operation)",
                )
                continue
            if dry_run:
                s.updated += len(out.items)
                for object_id, _digest, _op in out.items:
                    known = self.objects.reverse_hash(plan.brevo_type, object_id) is not None
                    s.plan_add("updates" if known else "creates", items=[f"{plan.brevo_type}/{object_id}"])
                continue
            self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
            errors = dict(self.writer.send_batch([op for _, _, op in out.items]))
            s.imports += 1
            done: list[tuple[str, str]] = []
            for index, (object_id, digest, _op) in enumerate(out.items):
                if index in errors:
                    self.ledger.reject(
                        record_id=object_id,
                        reason="vendor_rejected",
                        stage="reverse",
                        message=f"Customer.io rejected the object identify: {errors[index]}",
                    )
                    continue
                if self.objects.reverse_hash(plan.brevo_type, object_id) is None:
                    s.created += 1
                else:
                    s.updated += 1
                done.append((object_id, digest))
            self.objects.set_reverse_hashes(plan.brevo_type, done)


def run_blocking(
    sync: ObjectSync, *, dry_run: bool = False, timeout: float = 3600.0, delays: Iterable[float] | None = None
) -> dict[str, Any]:
    """Run a whole object sync without deferral: load, wait for every upsert, verify, finish."""
    sync.run(dry_run=dry_run)
    sync.wait(timeout=timeout, delays=delays)
    return sync.finish()


__all__ = [
    "BrevoRecord",
    "RecordSource",
    "ReverseObjectSync",
    "ObjectWriter",
    "CONTACT_OBJECT_TYPE",
    "MAX_ASSOCIATIONS_PER_RECORD",
    "MAX_RECORDS_PER_UPSERT",
    "MAX_UPSERT_BYTES",
    "OBJECT_REASONS",
    "CioObject",
    "ContactRef",
    "MappedObject",
    "MissingBrevoAttributes",
    "MissingBrevoObjectTypes",
    "ObjectSink",
    "ObjectSource",
    "ObjectStateTable",
    "ObjectSync",
    "ObjectSyncError",
    "RelatedPerson",
    "SyncedObject",
    "TypePlan",
    "TypeProbe",
    "build_records",
    "check_brevo_types",
    "configured_plans",
    "map_object",
    "plan_types",
    "run_blocking",
]
