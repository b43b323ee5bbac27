"""Collect, diff and submit: the load step of a Customer.io -> Brevo object run.

``collect`` stages the object ids of each type. ``load`` reads each object's attributes and related people, maps
the attributes (:mod:`.mapping`), resolves each related person to a Brevo contact, and compares with what the last
run wrote (content hash + the set of linked people kept per object). Changed objects become upsert records
(``ext_id`` = the Customer.io ``object_id``) carrying ``link`` associations for people newly related and
``unlink`` associations for people no longer related. Records are packed by count (1000) and bytes (1 MB) and
submitted; each submission is recorded with its rows before the checkpoint moves past it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.hashing import content_hash
from airflow_provider_customerio.sync.objects.mapping import (
    MappedObject,
    TypePlan,
    build_records,
    map_object,
    relation_key,
)
from airflow_provider_customerio.sync.objects.ports import ContactRef, RelatedPerson
from airflow_provider_customerio.sync.objects.run import UPSERT_OVERHEAD_BYTES, ForwardRun
from airflow_provider_customerio.sync.objects.verify import track_verify

log = logging.getLogger(__name__)


def collect(run: ForwardRun, plans: Sequence[TypePlan]) -> None:
    """Stage the object ids of each type (``POST /v1/objects``, paged; duplicates across pages removed)."""
    for plan in plans:

        def items(p: TypePlan = plan) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
            for oid in run.source.iter_object_ids(p.type_id):
                yield f"{p.type_id}\x1f{oid}", "object", {"type_id": p.type_id, "object_id": str(oid)}

        n = run.state.stage_items(run.run_key, items())
        log.info("Customer.io object type %s (%s): %d objects", plan.type_id, plan.name, n)


def new_packer(max_bytes: int, max_records: int) -> Packer[dict[str, Any]]:
    """The packer of upsert records: at most ``max_records`` records and ``max_bytes`` of compact JSON body."""
    return Packer(
        max_bytes=max_bytes,
        max_count=max_records,
        size_of=lambda item: json_size(item["record"], compact=True),
        overhead_bytes=UPSERT_OVERHEAD_BYTES,
        separator_bytes=1,
    )


def load(run: ForwardRun, dry_run: bool) -> None:
    """Read, map and diff the staged objects from the checkpoint's offset on; pack the changed ones and submit
    each batch (one Brevo type per batch), recording it as pending before the offset moves past it."""
    offset = int(run.checkpoint.get("offset", 0))
    packer = new_packer(run.max_bytes, run.max_records)
    current_type: str | None = None
    last_seq = offset - 1
    for seq, _key, _kind, data in run.state.iter_staged(run.run_key, from_seq=offset, kind="object"):
        if not data:
            continue
        plan = run.plans.get(str(data["type_id"]))
        if plan is None:
            continue
        if current_type is not None and plan.brevo_type != current_type:
            _emit(run, packer.flush(), dry_run, next_offset=seq)
        current_type = plan.brevo_type
        last_seq = seq
        items = _prepare(run, plan, str(data["object_id"]), dry_run)
        for item in items:
            _emit(run, packer.add(item), dry_run, next_offset=seq)
    _emit(run, packer.flush(), dry_run, next_offset=last_seq + 1)


def _resolve(run: ForwardRun, person: RelatedPerson) -> ContactRef | None:
    """The Brevo contact of a related person: from the identity map, else asked of Brevo (once per run)."""
    key = relation_key(person)
    if key in run.contacts:
        return run.contacts[key]
    ref: ContactRef | None = None
    ident = run.state.get_identity(person.cio_id)
    if ident is not None and ident.ext_id:
        ref = ContactRef({"ext_id": str(ident.ext_id)})
    elif ident is not None and ident.brevo_id:
        ref = ContactRef({"id": int(ident.brevo_id)})
    else:
        ref = run.sink.find_contact(ext_id=person.id or None, email=person.email or None)
    run.contacts[key] = ref
    return ref


def _prepare(run: ForwardRun, plan: TypePlan, object_id: str, dry_run: bool) -> list[dict[str, Any]]:
    """Read, map and diff one object; return the packer items (one per upsert record) to send."""
    s = run.summary
    mapped = _read_mapped(run, plan, object_id)
    if mapped is None:
        return []
    identifiers = {"object_type_id": plan.type_id, "object_id": object_id, "ext_id": object_id}
    desired: dict[str, RelatedPerson] = {}
    for person in run.source.iter_related_people(plan.type_id, object_id):
        desired.setdefault(relation_key(person), person)
    previous = run.objects.get(plan.brevo_type, object_id)
    prev_links: Mapping[str, Mapping[str, Any]] = previous.links if previous else {}
    digest = content_hash({"attributes": mapped.attributes})
    same_attributes = previous is not None and previous.hash == digest
    if same_attributes and set(prev_links) == set(desired):
        s.unchanged += 1
        return []
    links = _new_links(run, plan, object_id, desired, prev_links, identifiers)
    unlinks = [(key, prev_links[key]) for key in sorted(prev_links) if key not in desired]
    if same_attributes and not links and not unlinks:
        # Only people that are not Brevo contacts yet differ: nothing to write (they are ledgered above, and
        # stay out of the linked set, so the next run tries them again).
        s.unchanged += 1
        return []
    for src, target, reason, message in mapped.problems:
        run.ledger.reject(
            record_id=object_id,
            reason=reason,
            stage="map",
            message=f"{src} -> {target}: {message}; the object was synced without this value",
            identifiers=identifiers,
            detail={"attribute": target},
        )
    final_hash = digest
    records = build_records(object_id, mapped.attributes, links, unlinks, per_record=run.max_associations)
    if previous is None:
        s.created += 1
    else:
        s.updated += 1
    if dry_run:
        s.plan_add("creates" if previous is None else "updates", items=[f"{plan.brevo_type}/{object_id}"])
        s.plan_add("links", len(links))
        s.plan_add("unlinks", len(unlinks))
        return []
    track_verify(run, plan, object_id, mapped.attributes)
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


def _read_mapped(run: ForwardRun, plan: TypePlan, object_id: str) -> MappedObject | None:
    """Read and map one object (counted as read); ``None`` when it is gone, owned by Brevo or maps to nothing
    (ledgered, or counted unchanged)."""
    run.summary.read += 1
    obj = run.source.get_object(plan.type_id, object_id)
    if obj is None:
        run.ledger.reject(
            record_id=object_id,
            reason="not_found",
            stage="read",
            message=f"Customer.io object type {plan.type_id} has no object `{object_id}` any "
            "more (deleted since it was listed)",
            identifiers={"object_type_id": plan.type_id, "object_id": object_id},
        )
        return None
    if run.objects.owned_by_brevo(plan.brevo_type, object_id):
        # It came from Brevo (reverse direction): Brevo owns it, writing it back would duplicate or echo it.
        run.summary.unchanged += 1
        return None
    mapped = map_object(obj, plan.field_mapping)
    if not mapped.attributes:
        run.ledger.reject(
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
    run: ForwardRun,
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
        ref = _resolve(run, desired[key])
        if ref is None:
            person = desired[key]
            run.ledger.reject(
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


def _emit(
    run: ForwardRun, outputs: list[Batch[dict[str, Any]] | Oversize[dict[str, Any]]], dry_run: bool, *, next_offset: int
) -> None:
    """Ledger the oversized records; submit each full batch (not in a dry run) and save the checkpoint."""
    for out in outputs:
        if isinstance(out, Oversize):
            item = out.item
            run.ledger.reject(
                record_id=item["object_id"],
                reason=out.reason,
                stage="pack",
                message=f"{out.message} (Brevo accepts at most 1 MB per request)",
                identifiers={"ext_id": item["object_id"]},
            )
            run.objects.invalidate(item["brevo_type"], [item["object_id"]])
            continue
        if dry_run or not out.items:
            continue
        brevo_type = out.items[0]["brevo_type"]
        records = [item["record"] for item in out.items]
        run.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
        pid = str(run.sink.upsert(brevo_type, records))
        run.state.add_pending(
            run.run_key,
            pid,
            ((item["key"], item["hash"] or "", item) for item in out.items),
            options={"brevo_type": brevo_type},
        )
        run.summary.imports += 1
        c = run.counters
        c["records"] += len(records)
        log.info(
            "Submitted Brevo object upsert %s (%s): %d records, %d bytes", pid, brevo_type, len(records), out.nbytes
        )
        run._save(offset=next_offset)
