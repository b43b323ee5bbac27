"""The load step (:mod:`airflow_provider_customerio.sync.objects.load`): read, map, diff, pack and submit."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.sync.batching import json_size
from airflow_provider_customerio.sync.objects.run import MAX_UPSERT_BYTES
from tests.unit.sync.objects.fakes import Env, person


def test_attribute_change_updates_only_that_object(env: Env) -> None:
    env.run()
    env.cio.objects["1"]["acme1"]["plan"] = "enterprise"
    result = env.run()
    assert result["updated"] == 1 and result["unchanged"] == 2
    ((otype, records),) = env.brevo.upserts[1:]
    assert [r["identifiers"]["ext_id"] for r in records] == ["acme1"]
    assert "associations" not in records[0]  # relationships unchanged: nothing to link
    assert env.brevo.records["companies"]["acme1"]["plan"] == "enterprise"


def test_relationship_added_and_another_removed_are_mirrored(env: Env) -> None:
    env.run()
    env.brevo.contacts.add("id-pnew")
    env.cio.rels[("1", "acme0")] = [person("p0a"), person("pnew")]  # p0b removed, pnew added
    result = env.run()
    assert result["links_added"] == 1 and result["links_removed"] == 1
    ((_t, records),) = env.brevo.upserts[1:]
    assocs = {a["action"]: [r["identifiers"] for r in a["records"]] for a in records[0]["associations"]}
    assert assocs == {"unlink": [{"ext_id": "id-p0b"}], "link": [{"ext_id": "id-pnew"}]}
    assert env.brevo.links["companies"]["acme0"] == {"id-p0a", "id-pnew"}
    assert env.run()["unchanged"] == 3


def test_related_person_missing_in_brevo_is_ledgered_then_linked_later(env: Env) -> None:
    env.brevo.contacts.discard("id-p1b")
    first = env.run()
    assert first["rejects_by_reason"] == {"related_contact_missing": 1}
    (line,) = env.ledger()
    assert line["record_id"] == "acme1" and line["identifiers"]["cio_id"] == "p1b"
    assert "retried by the next run" in line["message"]
    assert env.brevo.links["companies"]["acme1"] == {"id-p1a"}
    still = env.run()  # the contact is still missing: nothing to write, the person is ledgered again
    assert still["unchanged"] == 3 and still["rejects_by_reason"] == {"related_contact_missing": 1}
    assert len(env.brevo.upserts) == 1
    env.brevo.contacts.add("id-p1b")  # the people sync created the contact meanwhile
    second = env.run()
    assert second["updated"] == 1 and second["links_added"] == 1
    assert env.brevo.links["companies"]["acme1"] == {"id-p1a", "id-p1b"}
    assert env.run()["unchanged"] == 3


def test_object_deleted_between_listing_and_read_is_ledgered(env: Env) -> None:
    env.cio.vanish.add("acme2")
    result = env.run()
    assert result["created"] == 2 and result["rejects_by_reason"] == {"not_found": 1}
    assert env.ledger()[0]["record_id"] == "acme2"


def test_object_without_any_mapped_value_is_ledgered(env: Env) -> None:
    env.cio.add("1", "blank", {"industry": "x"})
    result = env.run()
    assert result["rejects_by_reason"] == {"no_mapped_value": 1}
    assert "blank" not in env.brevo.records["companies"]


def test_many_related_people_spread_over_records_of_at_most_ten_links(env: Env) -> None:
    people = [f"q{i}" for i in range(23)]
    env.brevo.contacts |= {f"id-{p}" for p in people}
    env.cio.add("1", "big", {"name": "Big"}, people=people)
    env.run()
    assert env.brevo.links["companies"]["big"] == {f"id-{p}" for p in people}
    big = [r for _t, recs in env.brevo.upserts for r in recs if r["identifiers"]["ext_id"] == "big"]
    assert len(big) == 3
    assert env.run()["unchanged"] == 4


def test_count_bound_gives_batches_of_at_most_max_records(tmp_path: Any) -> None:
    env = Env(tmp_path)
    for i in range(2001):
        env.cio.add("1", f"o{i:05d}", {"name": f"N{i}"})
    result = env.run()
    assert [len(r) for _t, r in env.brevo.upserts] == [1000, 1000, 1]
    assert result["created"] == 2001 and len(env.brevo.records["companies"]) == 2001


def test_byte_bound_packs_tightly_under_one_megabyte(tmp_path: Any) -> None:
    env = Env(tmp_path)
    for i in range(1200):
        env.cio.add("1", f"o{i:05d}", {"name": f"N{i}-" + "é" * 300, "plan": "é" * 280})  # ~1.2 KB
    env.run()
    sizes = [json_size({"records": recs}, compact=True) for _t, recs in env.brevo.upserts]
    assert all(s <= MAX_UPSERT_BYTES for s in sizes)
    assert len(sizes) == 2 and all(len(r) < 1000 for _t, r in env.brevo.upserts)
    first = env.brevo.upserts[0][1]
    following = env.brevo.upserts[1][1][0]
    # tight: the first record of the next batch would not have fitted
    assert sizes[0] + 1 + json_size(following, compact=True) > MAX_UPSERT_BYTES
    assert sum(len(r) for _t, r in env.brevo.upserts) == 1200 and len(first) > 1


def test_record_over_one_megabyte_is_ledgered(env: Env) -> None:
    env.run(max_bytes=400)
    # each record (~120 bytes with two links) fits; now make one that cannot fit in 400 bytes
    env.cio.add("1", "huge", {"name": "H" * 900})
    result = env.run(max_bytes=400)
    assert result["rejects_by_reason"] == {"oversized_record": 1}
    assert "huge" not in env.brevo.records["companies"]


def test_killed_task_resumes_without_resending_submitted_batches(tmp_path: Any) -> None:
    env = Env(tmp_path)
    for i in range(5):
        env.cio.add("1", f"o{i}", {"name": f"N{i}"})
    env.brevo.upsert_error_at = 1  # the second upsert call dies
    with pytest.raises(ConnectionError):
        env.run("r1", max_records=2)
    assert [[r["identifiers"]["ext_id"] for r in recs] for _t, recs in env.brevo.upserts] == [["o0", "o1"]]
    result = env.run("r1", max_records=2)  # same run id: the retry
    sent = [[r["identifiers"]["ext_id"] for r in recs] for _t, recs in env.brevo.upserts]
    assert sent == [["o0", "o1"], ["o2", "o3"], ["o4"]]
    assert len(env.brevo.records["companies"]) == 5
    assert result["records_sent"] == 5
