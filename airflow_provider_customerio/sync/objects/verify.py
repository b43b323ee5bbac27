"""Attribute keys Brevo dropped: the verify step of a Customer.io -> Brevo object run.

Brevo drops unknown attribute keys of a custom object silently. Keys not yet known to exist are checked by
reading back records written by this run: a key sent with a value but absent from the stored records does not
exist in Brevo, and the run fails naming the keys to create (the hashes of the type are cleared so the next run
rewrites). A key that no record has a value for stays unconfirmed and is re-checked by later runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_customerio.sync.objects.mapping import TypePlan
from airflow_provider_customerio.sync.objects.ports import MissingBrevoAttributes
from airflow_provider_customerio.sync.objects.run import ForwardRun

log = logging.getLogger(__name__)

#: Records read back per page when verifying attribute keys.
VERIFY_PAGE_LIMIT = 1000


def track_verify(run: ForwardRun, plan: TypePlan, object_id: str, attributes: Mapping[str, Any]) -> None:
    """Remember (a bounded sample of) what was sent for keys not yet confirmed to exist in Brevo."""
    unverified = set(plan.target_keys) - set(run.verified_keys(plan.brevo_type))
    if not unverified:
        return
    sent = sorted(k for k in attributes if k in unverified)
    if not sent:
        return
    bucket = run.checkpoint.setdefault("verify", {}).setdefault(plan.brevo_type, {})
    if len(bucket) < 200 or object_id in bucket:
        bucket[object_id] = sent


def verify(run: ForwardRun) -> None:
    """Confirm unverified attribute keys from records read back; raise listing the keys Brevo dropped."""
    tracked: dict[str, dict[str, list[str]]] = run.checkpoint.get("verify") or {}
    missing: dict[str, list[str]] = {}
    for brevo_type, sent in tracked.items():
        if not sent:
            continue
        present, absent, matched = _read_back(run, brevo_type, sent)
        dropped = sorted(absent - present)
        if present:
            run.set_verified_keys(brevo_type, set(run.verified_keys(brevo_type)) | present)
        if dropped:
            missing[brevo_type] = dropped
        elif not matched:
            note = (
                f"could not confirm the attribute keys of Brevo object type `{brevo_type}` (none of the "
                "records written was found in the first pages); they are checked again next run"
            )
            run.summary.notes.append(note)
            log.warning("%s", note)
    if missing:
        for brevo_type in missing:
            run.objects.invalidate(brevo_type)
        listing = "; ".join(f"`{t}`: {', '.join(f'`{k}`' for k in keys)}" for t, keys in sorted(missing.items()))
        raise MissingBrevoAttributes(
            f"Brevo silently dropped attribute keys that do not exist on its object types: {listing}. Create "
            "these attributes in Brevo (Objects > the object type > Attributes) with exactly these keys, or "
            "remove them from connectors.customerio.objects.types.<id>.field_mapping, then re-run: the objects "
            "of these types will be written again.",
            missing,
        )


def _read_back(run: ForwardRun, brevo_type: str, sent: Mapping[str, list[str]]) -> tuple[set[str], set[str], int]:
    """Read the type's records (newest first, ``run.verify_pages`` pages at most) and sort the keys sent to the
    records found: ``(present, absent, records matched)``."""
    present: set[str] = set()
    absent: set[str] = set()
    matched = 0
    for page in range(1, run.verify_pages + 1):
        records = run.sink.read_records(brevo_type, page, VERIFY_PAGE_LIMIT)
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
    return present, absent, matched
