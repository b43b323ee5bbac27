"""Chaos: segment -> Brevo list replication and Customer.io objects -> Brevo custom objects under the fault profile."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.operators import segments as segments_op
from airflow_provider_customerio.store.ledger import read_ledger
from tests.chaos.conftest import assert_landed_or_ledgered, brevo_contacts, diff, run_with_retries, sandbox_sleep
from tests.integration import test_objects_sandbox as objects_it
from tests.integration import test_segments_sandbox as segments_it

pytestmark = pytest.mark.integration
SEGMENT, LIST = segments_it.SEGMENT_BIG, 13


def _ledger(workdir: Path) -> dict[str, str]:
    """Every rejected record of a world's sync store (segments use store.db, objects state.db)."""
    out: dict[str, str] = {}
    for p in (workdir / "store.db", workdir / "state.db"):
        if p.exists():
            out.update({line["record_id"]: line["reason"] for line in read_ledger(p)})
    return out


def _pairs(workdir: Path) -> set[tuple[str, str]]:
    """The ledger of a world as (record, reason) rows."""
    return set(_ledger(workdir).items())


def _list_members(sb: Any, list_id: int) -> dict[str, dict[str, Any]]:
    """The Brevo list's contacts with their attributes, keyed like ``World.list_keys`` (e-mail, else ext:EXT_ID)."""
    out = {}
    for c in sb._call("GET", "/brevo/contacts")["contacts"]:
        if list_id in (c.get("listIds") or []):
            attrs = c.get("attributes") or {}
            key = (c.get("email") or f"ext:{attrs.get('EXT_ID')}").lower()
            out[key] = {"email": c.get("email"), "attributes": attrs, "listIds": sorted(c.get("listIds") or [])}
    return out


def _member_keys(members: list[dict[str, Any]]) -> dict[str, str]:
    """cio_id -> the member's key in the list (its e-mail, else ext:<id>)."""
    return {m["cio_id"]: (m.get("email") or f"ext:{m.get('id')}").lower() for m in members}


def _segments_world(sb: Any, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> segments_it.World:
    sb.reset()
    workdir.mkdir()
    sb.set_airflow_env(monkeypatch)
    world = segments_it.World(sb, workdir, monkeypatch)
    world.seed(people=300, segments=[120, 30])
    sb.ratelimits(enabled=False)
    return world


def test_segment_mirror_under_faults_equals_the_fault_free_run(sandbox, chaos, monkeypatch, tmp_path):
    ref = _segments_world(sandbox, monkeypatch, tmp_path / "ref")
    members = ref.members(SEGMENT)
    ref.run(SEGMENT, LIST)
    ref_first_members = _list_members(sandbox, LIST)
    ref.run(SEGMENT, LIST)
    ref_list, ref_contacts = ref.list_keys(LIST), brevo_contacts(sandbox)
    ref_ledger = _ledger(tmp_path / "ref")
    assert ref_list == segments_it.expected_keys(members) and len(ref_list) > 50
    assert ref_ledger == segments_it.unmirrorable(members)

    world = _segments_world(sandbox, monkeypatch, tmp_path / "chaos")
    # the mirror's read-back settling (Brevo's reads lag its imports) waits on the sandbox clock
    monkeypatch.setattr(
        segments_op, "SegmentMirror", functools.partial(segments_op.SegmentMirror, sleep=sandbox_sleep(sandbox))
    )
    chaos.on(vendors=("app", "brevo"))
    out, errors = run_with_retries(lambda n: world.run(SEGMENT, LIST))
    injected = chaos.injected()
    applied = chaos.post_applied()  # writes applied whose answer was lost
    assert applied["applied_5xx"] >= 1 and applied["applied_drop"] >= 1, applied
    chaos.off()
    assert injected["503"] >= 2 and injected["429"] >= 2 and injected["drop"] >= 2, injected
    # record by record: each member is in the list with the fault-free run's attributes, or ledgered with the
    # fault-free run's reason; nobody else is in the list
    assert_landed_or_ledgered(
        _member_keys(world.members(SEGMENT)),
        _list_members(sandbox, LIST),
        ref_first_members,
        _pairs(tmp_path / "chaos"),
        set(ref_ledger.items()),
    )
    in_list, ledgered = world.list_keys(LIST), _ledger(tmp_path / "chaos")
    assert in_list == ref_list and ledgered == ref_ledger, (
        errors,
        diff(dict.fromkeys(ref_list, 1), dict.fromkeys(in_list, 1)),
    )

    again = world.run(SEGMENT, LIST)
    assert again["added"] == again["removed"] == 0  # the faulted run left nothing half-done
    assert world.list_keys(LIST) == ref_list
    assert brevo_contacts(sandbox) == ref_contacts, diff(ref_contacts, brevo_contacts(sandbox))


def _objects_world(sb: Any, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> tuple[objects_it.World, dict]:
    sb.reset()
    workdir.mkdir()
    world = objects_it.World(sb, workdir, monkeypatch)
    rels = objects_it.seeded(world, people=48, objects=8)
    return world, rels


def _records(world: objects_it.World) -> dict[str, Any]:
    return {k: (v["attributes"], v["associations"]) for k, v in world.records().items()}


def test_objects_sync_under_faults_equals_the_fault_free_run(sandbox, chaos, monkeypatch, tmp_path):
    ref, rels = _objects_world(sandbox, monkeypatch, tmp_path / "ref")
    ref.run()
    ref_first_records, ref_first_ledger = _records(ref), _pairs(tmp_path / "ref")
    ref.run()
    ref_records, ref_contacts = _records(ref), brevo_contacts(sandbox)
    assert set(ref_records) == set(rels)

    world, _ = _objects_world(sandbox, monkeypatch, tmp_path / "chaos")
    chaos.on(vendors=("app", "brevo"))
    out, errors = run_with_retries(lambda n: world.run())
    injected = chaos.injected()
    applied = chaos.post_applied()  # writes applied whose answer was lost
    assert applied["applied_5xx"] >= 1 and applied["applied_drop"] >= 1, applied
    chaos.off()
    assert injected["503"] >= 2 and injected["429"] >= 2 and injected["drop"] >= 2, injected
    # record by record: every object is in Brevo with the fault-free run's attributes and associations, or in
    # the ledger; the fault-free run's ledger rows are there; no other record
    assert_landed_or_ledgered(
        {oid: oid for oid in rels}, _records(world), ref_first_records, _pairs(tmp_path / "chaos"), ref_first_ledger
    )

    world.run()
    assert _records(world) == ref_records, diff(ref_records, _records(world))
    assert brevo_contacts(sandbox) == ref_contacts
