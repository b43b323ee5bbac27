"""The object sync's state in the store (``store/objects.py``): hashes and links per Brevo object, the reverse
direction's hashes, paging of the object ids (a real SQLite store)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_provider_customerio.store import schema
from airflow_provider_customerio.store._sql import insert_rows
from airflow_provider_customerio.store.objects import ObjectStateTable, SyncedObject
from airflow_provider_customerio.store.sync_store import SyncStore


@pytest.fixture
def objects(tmp_path: Path) -> ObjectStateTable:
    return SyncStore.at(tmp_path / "s.db").objects()


def test_apply_adds_and_drops_links_and_keeps_the_hash_until_the_last_record(objects: ObjectStateTable) -> None:
    assert objects.get("companies", "o1") is None
    objects.apply("companies", "o1", linked={"p1": {"email": "a@x.io"}}, unlinked=(), hash=None)
    assert objects.get("companies", "o1") == SyncedObject("", {"p1": {"email": "a@x.io"}})
    objects.apply("companies", "o1", linked={"p2": {"ext_id": "2"}}, unlinked=("p1",), hash="h1")
    objects.apply("companies", "o1", linked={}, unlinked=("nobody",), hash=None)
    assert objects.get("companies", "o1") == SyncedObject("h1", {"p2": {"ext_id": "2"}})
    assert objects.get("deals", "o1") is None  # per Brevo type


def test_invalidate_forgets_hashes_not_links_and_forget_drops_the_object(objects: ObjectStateTable) -> None:
    for oid in ("o1", "o2", "o3"):
        objects.apply("companies", oid, linked={"p": {"email": "p@x.io"}}, unlinked=(), hash="h")
    objects.invalidate("companies", ["o1"])
    assert [objects.get("companies", o).hash for o in ("o1", "o2")] == ["", "h"]  # type: ignore[union-attr]
    objects.invalidate("companies")
    assert objects.get("companies", "o3") == SyncedObject("", {"p": {"email": "p@x.io"}})
    objects.forget("companies", ["o1", "o2"])
    assert objects.get("companies", "o1") is None and objects.count("companies") == 1 and objects.count() == 1


def test_object_ids_come_in_order_over_pages(objects: ObjectStateTable) -> None:
    now = time.time()
    rows = [
        {"brevo_type": t, "object_id": f"o{i:05d}", "hash": "h", "links": "{}", "synced_at": now}
        for t in ("companies", "deals")
        for i in range(1003)
    ]
    with objects.engine.begin() as conn:
        insert_rows(conn, schema.object_sync, rows)
    ids = list(objects.iter_object_ids("companies"))
    assert len(ids) == 1003 and ids == sorted(ids) and ids[-1] == "o01002"
    assert objects.count() == 2006


def test_the_reverse_hashes_mark_objects_that_came_from_brevo(objects: ObjectStateTable) -> None:
    assert not objects.owned_by_brevo("companies", "o1") and objects.reverse_hash("companies", "o1") is None
    objects.set_reverse_hashes("companies", [("o1", "r1"), ("o2", "r2")])
    objects.set_reverse_hashes("companies", [("o1", "r3")])
    assert objects.reverse_hash("companies", "o1") == "r3" and objects.owned_by_brevo("companies", "o2")
    assert objects.count() == 0  # the forward direction's table is apart
