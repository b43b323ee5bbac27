"""Unit tests of the object sync (airflow_provider_customerio.sync.objects) over in-memory fakes of both vendors.

The Brevo fake follows the documented semantics: records are applied when the process completes, unknown
attribute keys are dropped silently, ``ext_id`` creates or updates, ``link``/``unlink`` change associations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.batching import json_size
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.objects import (
    MAX_UPSERT_BYTES,
    UPSERT_OVERHEAD_BYTES,
    BrevoRecord,
    CioObject,
    ContactRef,
    MissingBrevoAttributes,
    MissingBrevoObjectTypes,
    ObjectStateTable,
    ObjectSync,
    ObjectSyncError,
    RelatedPerson,
    ReverseObjectSync,
    TypeProbe,
    build_records,
    map_object,
    run_blocking,
)
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout, ProcessOutcome, ProcessState

# ------------------------------------------------------------------------------------------------ fakes


class FakeCustomerIO:
    """Object types, objects and relationships (``objects[type][object_id] = attrs``, ``rels[(type, oid)]``)."""

    def __init__(self) -> None:
        self.types = [{"id": "1", "name": "Companies"}, {"id": "2", "name": "Accounts"}]
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"1": {}, "2": {}}
        self.rels: dict[tuple[str, str], list[RelatedPerson]] = {}
        self.vanish: set[str] = set()  # listed but gone when read

    def add(self, type_id: str, oid: str, attrs: dict[str, Any], people: Sequence[str] = ()) -> None:
        self.objects[type_id][oid] = attrs
        self.rels[(type_id, oid)] = [person(p) for p in people]

    def list_object_types(self) -> list[Mapping[str, Any]]:
        return list(self.types)

    def iter_object_ids(self, type_id: str) -> Iterator[str]:
        for oid in self.objects[type_id]:
            yield oid
            yield oid  # duplicates across pages are possible

    def get_object(self, type_id: str, object_id: str) -> CioObject | None:
        if object_id in self.vanish or object_id not in self.objects[type_id]:
            return None
        return CioObject(object_id, {k: str(v) for k, v in self.objects[type_id][object_id].items()})

    def iter_related_people(self, type_id: str, object_id: str) -> Iterator[RelatedPerson]:
        yield from self.rels.get((type_id, object_id), [])


def person(cio_id: str) -> RelatedPerson:
    return RelatedPerson(cio_id=cio_id, id=f"id-{cio_id}", email=f"{cio_id}@example.com")


class FakeBrevo:
    def __init__(self, types: Mapping[str, Sequence[str]] | None = None) -> None:
        self.types = {k: set(v) for k, v in (types or {"companies": ("name", "plan", "employees")}).items()}
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in self.types}
        self.links: dict[str, dict[str, set[str]]] = {t: {} for t in self.types}
        self.contacts: set[str] = set()  # ext_ids of existing contacts
        self.processes: dict[str, dict[str, Any]] = {}
        self.upserts: list[tuple[str, list[dict[str, Any]]]] = []
        self.deletes: list[tuple[str, list[str]]] = []
        self.polls = 0
        self.fail_next = 0
        self.upsert_error_at: int | None = None
        self.available = True
        self.finish_processes = True

    def probe_type(self, object_type: str) -> TypeProbe:
        if not self.available:
            return TypeProbe(exists=False, available=False, message="403 Custom objects are not available")
        if object_type not in self.types:
            return TypeProbe(exists=False)
        keys: set[str] = set()
        for rec in list(self.records[object_type].values())[:100]:
            keys |= set(rec)
        return TypeProbe(exists=True, sample_keys=frozenset(keys), count=len(self.records[object_type]))

    def upsert(self, object_type: str, records: Sequence[Mapping[str, Any]]) -> str:
        assert 1 <= len(records) <= 1000
        body = json.dumps({"records": list(records)}, separators=(",", ":"), ensure_ascii=False).encode()
        assert len(body) <= MAX_UPSERT_BYTES
        if self.upsert_error_at is not None and len(self.upserts) == self.upsert_error_at:
            self.upsert_error_at = None
            raise ConnectionError("worker killed")
        for rec in records:
            assert rec["attributes"], "Brevo needs at least one attribute"
            for assoc in rec.get("associations") or []:
                assert len(assoc["records"]) <= 10
        self.upserts.append((object_type, [json.loads(json.dumps(r)) for r in records]))
        pid = str(len(self.processes) + 1)
        failed = self.fail_next > 0
        self.fail_next -= 1
        self.processes[pid] = {"type": object_type, "records": list(records), "failed": failed, "done": False}
        return pid

    def delete_records(self, object_type: str, ext_ids: Sequence[str]) -> str:
        assert 1 <= len(ext_ids) <= 1000
        self.deletes.append((object_type, list(ext_ids)))
        pid = str(len(self.processes) + 1)
        failed = self.fail_next > 0
        self.fail_next -= 1
        self.processes[pid] = {"type": object_type, "delete": list(ext_ids), "failed": failed, "done": False}
        return pid

    def get_process(self, process_id: str) -> ProcessState:
        self.polls += 1
        proc = self.processes[process_id]
        if not self.finish_processes:
            return ProcessState(process_id, ProcessOutcome.RUNNING)
        if not proc["done"]:
            proc["done"] = True
            if not proc["failed"] and "delete" in proc:
                for ext in proc["delete"]:
                    self.records[proc["type"]].pop(ext, None)
                    self.links[proc["type"]].pop(ext, None)
            elif not proc["failed"]:
                self._apply(proc["type"], proc["records"])
        return ProcessState(
            process_id,
            ProcessOutcome.FAILED if proc["failed"] else ProcessOutcome.SUCCEEDED,
            error="boom" if proc["failed"] else None,
        )

    def _apply(self, otype: str, records: Sequence[Mapping[str, Any]]) -> None:
        for rec in records:
            ext = rec["identifiers"]["ext_id"]
            stored = self.records[otype].setdefault(ext, {})
            for k, v in rec["attributes"].items():
                if k in self.types[otype]:  # unknown keys silently dropped
                    stored[k] = v
            links = self.links[otype].setdefault(ext, set())
            for assoc in rec.get("associations") or []:
                for target in assoc["records"]:
                    cid = target["identifiers"]["ext_id"]
                    if assoc.get("action", "link") == "unlink":
                        links.discard(cid)
                    else:
                        assert cid in self.contacts, f"link to a contact that does not exist: {cid}"
                        links.add(cid)

    def read_records(self, object_type: str, page_num: int, limit: int) -> list[Mapping[str, Any]]:
        items = list(self.records[object_type].items())[::-1]
        page = items[(page_num - 1) * limit : page_num * limit]
        return [{"identifiers": {"ext_id": ext}, "attributes": dict(attrs)} for ext, attrs in page]

    def find_contact(self, *, ext_id: str | None, email: str | None) -> ContactRef | None:
        return ContactRef({"ext_id": ext_id}) if ext_id in self.contacts else None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# ------------------------------------------------------------------------------------------------ helpers


def make_config(types: Mapping[str, Any] | None = None, **objects: Any) -> Any:
    types = (
        types
        if types is not None
        else {
            "1": {
                "brevo_object_type": "companies",
                "field_mapping": {"name": "name", "plan": "plan", "employees": "employees"},
            }
        }
    )
    return parse_config(
        {"connectors": {"customerio": {"sync": {"objects": True}, "objects": {"types": types, **objects}}}}
    ).customerio


class Env:
    def __init__(self, tmp_path: Any, config: Any = None) -> None:
        self.tmp = tmp_path
        self.cio = FakeCustomerIO()
        self.brevo = FakeBrevo()
        self.config = config or make_config()
        self.db = str(tmp_path / "state.db")
        self.runs = 0
        self.ledgers: list[str] = []

    def sync(self, run_id: str | None = None, **kwargs: Any) -> ObjectSync:
        self.runs += 1
        run_id = run_id or f"run{self.runs}"
        ledger = Ledger.for_run(self.tmp / "ledger", "dag", run_id, "objects")
        self.ledgers.append(ledger)
        return ObjectSync(
            config=self.config,
            source=self.cio,
            sink=self.brevo,
            state=StateStore(self.db),
            objects=ObjectStateTable(self.db),
            ledger=ledger,
            run_key=f"dag/{run_id}/objects",
            clock=FakeClock(),
            **kwargs,
        )

    def run(self, run_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return run_blocking(self.sync(run_id, **kwargs), timeout=600, delays=[1.0] * 1000)

    def ledger(self, i: int = -1) -> list[dict[str, Any]]:
        return read_ledger(self.ledgers[i])


@pytest.fixture
def env(tmp_path: Any) -> Env:
    e = Env(tmp_path)
    for i in range(3):
        e.cio.add(
            "1",
            f"acme{i}",
            {"name": f"Acme {i}", "plan": "pro", "employees": 10 + i, "industry": "x"},
            people=[f"p{i}a", f"p{i}b"],
        )
    e.brevo.contacts = {f"id-p{i}{s}" for i in range(3) for s in "ab"}
    return e


# ------------------------------------------------------------------------------------------------ pure helpers


def test_map_object_maps_configured_keys_and_reports_oversized_values() -> None:
    obj = CioObject("acme", {"name": "Acme", "plan": "", "notes": "x" * 2000, "employees": "12"})
    mapped = map_object(
        obj, {"name": "name", "plan": "plan", "notes": "notes", "object_id": "cio_id", "missing": "missing"}
    )
    assert mapped.attributes == {"name": "Acme", "cio_id": "acme"}
    assert [(p[0], p[2]) for p in mapped.problems] == [("notes", "oversized_attribute")]


def test_build_records_spreads_associations_and_unlinks_first() -> None:
    links = [(f"k{i}", {"ext_id": f"e{i}"}) for i in range(25)]
    unlinks = [("old", {"ext_id": "gone"})]
    out = build_records("acme", {"name": "Acme"}, links, unlinks, per_record=10)
    assert len(out) == 3
    assert [len(linked) for _, linked, _ in out] == [10, 10, 5]
    first = out[0][0]
    assert first["identifiers"] == {"ext_id": "acme"} and first["attributes"] == {"name": "Acme"}
    assert [a["action"] for a in first["associations"]] == ["unlink", "link"]
    assert all(r["attributes"] == {"name": "Acme"} for r, _, _ in out)
    assert build_records("acme", {"name": "A"}, [], [])[0][0] == {
        "identifiers": {"ext_id": "acme"},
        "attributes": {"name": "A"},
    }


# ------------------------------------------------------------------------------------------------ preconditions


def test_missing_brevo_type_fails_before_writing_and_lists_what_to_create(env: Env) -> None:
    env.config = make_config(
        {
            "1": {"brevo_object_type": "companies", "field_mapping": {"name": "name"}},
            "2": {"brevo_object_type": "accounts", "field_mapping": {"name": "name", "tier": "tier"}},
        }
    )
    with pytest.raises(MissingBrevoObjectTypes) as err:
        env.run()
    msg = str(err.value)
    assert "`accounts`" in msg and "`name`, `tier`" in msg and "Customer.io object type 2 'Accounts'" in msg
    assert "Nothing was written" in msg
    assert err.value.missing == {"accounts": ["name", "tier"]}
    assert env.brevo.upserts == []


def test_account_without_custom_objects_gets_a_clear_error(env: Env) -> None:
    env.brevo.available = False
    with pytest.raises(ObjectSyncError, match="Enterprise"):
        env.run()
    assert env.brevo.upserts == []


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ({}, "objects.types is empty"),
        ({"7": {"brevo_object_type": "companies", "field_mapping": {"a": "a"}}}, "1 (Companies), 2 (Accounts)"),
        ({"1": {"brevo_object_type": "companies"}}, "field_mapping is empty"),
        (
            {"1": {"brevo_object_type": "companies", "field_mapping": {"a": "name", "b": "name"}}},
            "already the target of `a`",
        ),
        (
            {
                "1": {"brevo_object_type": "companies", "field_mapping": {"a": "a"}},
                "2": {"brevo_object_type": "companies", "field_mapping": {"a": "a"}},
            },
            "also the target of type `2`",
        ),
    ],
)
def test_configuration_problems_name_the_field_and_fix(env: Env, types: dict[str, Any], expected: str) -> None:
    env.config = make_config(types)
    with pytest.raises(ObjectSyncError) as err:
        env.run()
    assert expected in str(err.value)
    assert env.brevo.upserts == []


# ------------------------------------------------------------------------------------------------ the sync


def test_first_sync_writes_objects_and_links_people(env: Env) -> None:
    result = env.run()
    assert result["created"] == 3 and result["read"] == 3 and result["rejected"] == 0
    assert result["links_added"] == 6 and result["links_removed"] == 0
    assert env.brevo.records["companies"]["acme1"] == {"name": "Acme 1", "plan": "pro", "employees": "11"}
    assert env.brevo.links["companies"]["acme2"] == {"id-p2a", "id-p2b"}
    assert len(env.brevo.upserts) == 1  # three objects fit in one call


def test_rerun_is_idempotent_and_writes_nothing(env: Env) -> None:
    def snapshot() -> tuple[str, dict[str, list[str]]]:
        links = {k: sorted(v) for k, v in env.brevo.links["companies"].items()}
        return json.dumps(env.brevo.records, sort_keys=True), links

    env.run()
    before = snapshot()
    result = env.run()
    assert result["unchanged"] == 3 and result["created"] == 0 and result["updated"] == 0
    assert len(env.brevo.upserts) == 1
    assert snapshot() == before


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


def test_object_deleted_in_customerio_is_deleted_in_brevo_by_default(env: Env) -> None:
    env.run()
    del env.cio.objects["1"]["acme2"]
    env.cio.objects["1"]["acme0"]["plan"] = "team"
    dry = run_blocking(env.sync(), dry_run=True, timeout=600, delays=[1.0] * 1000)
    assert dry["plan"]["deletes"] == 1 and dry["plan"]["deletes_items"] == ["companies/acme2"]
    assert dry["plan"]["updates"] == 1 and dry["plan"]["updates_items"] == ["companies/acme0"]
    assert dry["plan"]["creates"] == 0 and dry["plan"]["links"] == 0
    assert env.brevo.deletes == [] and "acme2" in env.brevo.records["companies"]  # a dry run writes nothing

    result = env.run()
    assert result["gone"] == 1 and result["deleted"] == 1 and result["delete_policy"] == "delete"
    assert env.brevo.deletes == [("companies", ["acme2"])] and "acme2" not in env.brevo.records["companies"]
    again = env.run()  # forgotten once deleted: nothing more to do
    assert again["gone"] == 0 and len(env.brevo.deletes) == 1
    env.cio.add("1", "acme2", {"name": "Acme 2 again"})  # a new object with the same id is created anew
    assert env.run()["created"] == 1 and env.brevo.records["companies"]["acme2"] == {"name": "Acme 2 again"}


def test_a_failed_object_delete_is_resubmitted_then_ledgered_and_retried_next_run(env: Env) -> None:
    env.run()
    del env.cio.objects["1"]["acme2"]
    env.brevo.fail_next = 3
    result = env.run()
    assert len(env.brevo.deletes) == 3 and result["deleted"] == 0
    assert [line["reason"] for line in env.ledger()] == ["delete_failed"]
    assert env.run()["deleted"] == 1 and "acme2" not in env.brevo.records["companies"]


def test_object_deleted_in_customerio_is_kept_and_flagged_with_the_flag_policy(tmp_path: Any) -> None:
    mapping = {"name": "name", "plan": "plan", "employees": "employees"}
    env = Env(
        tmp_path,
        make_config({"1": {"brevo_object_type": "companies", "field_mapping": mapping}}, delete_policy="flag"),
    )
    env.brevo.types["companies"].add("deleted_in_customerio")
    env.cio.add("1", "acme", {"name": "Acme"})
    env.cio.add("1", "beta", {"name": "Beta"})
    env.run()
    del env.cio.objects["1"]["beta"]
    result = env.run()
    assert result["gone"] == 1 and result["flagged"] == 1 and result["deleted"] == 0 and env.brevo.deletes == []
    assert env.brevo.records["companies"]["beta"] == {"name": "Beta", "deleted_in_customerio": True}
    upserts = len(env.brevo.upserts)
    assert env.run()["gone"] == 0 and len(env.brevo.upserts) == upserts  # flagged once, not at every run


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


# ------------------------------------------------------------------------------------------------ batching


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


def test_configured_smaller_bounds_are_honoured(env: Env) -> None:
    env.run(max_records=2)
    assert [len(r) for _t, r in env.brevo.upserts] == [2, 1]
    with pytest.raises(ObjectSyncError, match="max_records must be between 1 and 1000"):
        env.sync(max_records=1001)
    with pytest.raises(ObjectSyncError, match="max_bytes"):
        env.sync(max_bytes=UPSERT_OVERHEAD_BYTES)


def test_record_over_one_megabyte_is_ledgered(env: Env) -> None:
    env.run(max_bytes=400)
    # each record (~120 bytes with two links) fits; now make one that cannot fit in 400 bytes
    env.cio.add("1", "huge", {"name": "H" * 900})
    result = env.run(max_bytes=400)
    assert result["rejects_by_reason"] == {"oversized_record": 1}
    assert "huge" not in env.brevo.records["companies"]


# ------------------------------------------------------------------------------------------------ verification


def test_attribute_key_missing_in_brevo_fails_naming_it_and_is_rewritten_after_the_fix(env: Env) -> None:
    env.config = make_config(
        {"1": {"brevo_object_type": "companies", "field_mapping": {"name": "name", "industry": "industry"}}}
    )
    with pytest.raises(MissingBrevoAttributes) as err:
        env.run()
    assert err.value.missing == {"companies": ["industry"]}
    assert "`companies`: `industry`" in str(err.value) and "Create these attributes in Brevo" in str(err.value)
    env.brevo.types["companies"].add("industry")  # created in Brevo's UI
    result = env.run()
    assert result["updated"] == 3  # hashes were cleared: everything written again
    assert env.brevo.records["companies"]["acme0"]["industry"] == "x"
    assert env.run()["unchanged"] == 3


def test_confirmed_keys_are_not_read_back_again(env: Env) -> None:
    calls: list[int] = []
    real = env.brevo.read_records
    env.brevo.read_records = lambda t, p, n: calls.append(p) or real(t, p, n)  # type: ignore[method-assign]
    env.run()
    assert calls == [1]
    env.cio.objects["1"]["acme0"]["name"] = "Renamed"
    env.run()
    assert calls == [1]


# ------------------------------------------------------------------------------------------------ failures


def test_failed_process_is_resubmitted(env: Env) -> None:
    env.brevo.fail_next = 1
    result = env.run()
    assert len(env.brevo.upserts) == 2 and result["created"] == 3 and result["rejected"] == 0
    assert env.brevo.links["companies"]["acme0"] == {"id-p0a", "id-p0b"}


def test_process_failing_every_time_is_ledgered_and_retried_next_run(env: Env) -> None:
    env.brevo.fail_next = 3
    result = env.run()
    assert result["rejects_by_reason"] == {"upsert_failed": 3}
    assert env.brevo.records["companies"] == {}
    second = env.run()
    assert second["created"] == 3 and second["rejected"] == 0
    assert env.brevo.records["companies"]["acme0"]["name"] == "Acme 0"


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


def test_timeout_keeps_records_pending_and_the_retry_resumes_waiting(env: Env) -> None:
    env.brevo.finish_processes = False
    sync = env.sync("r1")
    sync.run()
    with pytest.raises(BrevoProcessTimeout, match="re-run the task"):
        sync.wait(timeout=5, delays=[1.0] * 100)
    env.brevo.finish_processes = True
    result = env.run("r1")
    assert len(env.brevo.upserts) == 1  # nothing sent twice
    assert result["links_added"] == 6
    assert env.brevo.records["companies"]["acme0"]["name"] == "Acme 0"


def test_dry_run_writes_nothing(env: Env) -> None:
    sync = env.sync()
    sync.run(dry_run=True)
    result = sync.finish()
    assert result["dry_run"] is True and result["created"] == 3
    assert env.brevo.upserts == []
    assert result["plan"]["creates"] == 3 and result["plan"]["links"] == 6 and result["plan"]["deletes"] == 0


# ------------------------------------------------------------------------------------------------ reverse direction


class FakeRecords:
    """Brevo records (``records``) and contacts (``contacts``: id -> Customer.io identifiers)."""

    def __init__(self, records: list[BrevoRecord], contacts: dict[int, dict[str, str]]) -> None:
        self.records = records
        self.contacts = contacts
        self.lookups = 0

    def iter_records(self, object_type: str) -> Iterator[BrevoRecord]:
        yield from self.records

    def person_identifiers(self, contact_id: int) -> Mapping[str, str] | None:
        self.lookups += 1
        return self.contacts.get(contact_id)


class FakeTrack:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.reject: set[str] = set()

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        ops = [json.loads(json.dumps(op)) for op in operations]
        self.batches.append(ops)
        return [(i, "invalid object") for i, op in enumerate(ops) if op["identifiers"]["object_id"] in self.reject]


def reverse(
    env: Env, source: FakeRecords, track: FakeTrack, run_id: str = "rev", dry_run: bool = False
) -> dict[str, Any]:
    ledger = Ledger.for_run(env.tmp / "ledger", "dag", run_id, "reverse")
    env.ledgers.append(ledger)
    return ReverseObjectSync(
        config=env.config,
        source=source,
        writer=track,
        state=StateStore(env.db),
        objects=ObjectStateTable(env.db),
        ledger=ledger,
    ).run(dry_run=dry_run)


def test_reverse_writes_records_from_elsewhere_with_relationships_and_skips_echoes(env: Env) -> None:
    env.run()  # forward: acme0..2 are Customer.io objects in Brevo
    records = [
        BrevoRecord(1, "acme0", {"name": "Acme 0"}, (11,)),  # written by the forward direction: an echo
        BrevoRecord(7, "crm-7", {"name": "From CRM", "plan": "gold", "unknown": "x"}, (11, 12, 13)),
        BrevoRecord(8, None, {"name": "No ext id"}, ()),
    ]
    source = FakeRecords(records, {11: {"id": "42"}, 12: {"email": "b@example.com"}})
    track = FakeTrack()
    dry = reverse(env, source, track, "dry", dry_run=True)
    assert track.batches == [] and dry["plan"]["creates"] == 2
    assert dry["plan"]["creates_items"] == ["companies/crm-7", "companies/brevo-8"]
    result = reverse(env, source, track)
    assert result["echoes"] == 1 and result["created"] == 2
    (ops,) = track.batches
    assert ops[0] == {
        "type": "object",
        "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "crm-7"},
        "attributes": {"name": "From CRM", "plan": "gold"},
        "cio_relationships": [{"identifiers": {"id": "42"}}, {"identifiers": {"email": "b@example.com"}}],
    }
    assert ops[1]["identifiers"]["object_id"] == "brevo-8" and "cio_relationships" not in ops[1]
    (line,) = env.ledger()
    assert line["reason"] == "related_contact_missing" and line["identifiers"]["brevo_contact_id"] == 13
    # unchanged records are not sent again; the forward direction leaves Brevo-owned objects alone
    assert reverse(env, source, track, "rev2")["unchanged"] == 3 and len(track.batches) == 1
    env.cio.add("1", "crm-7", {"name": "Changed in Customer.io"})
    forward = env.run()
    assert forward["created"] == 0 and "crm-7" not in [
        r["identifiers"]["ext_id"] for _t, recs in env.brevo.upserts[1:] for r in recs
    ]


def test_reverse_ledgers_rejected_operations_and_retries_them(env: Env) -> None:
    source = FakeRecords([BrevoRecord(7, "crm-7", {"name": "A"}), BrevoRecord(8, "crm-8", {"name": "B"})], {})
    track = FakeTrack()
    track.reject = {"crm-8"}
    result = reverse(env, source, track)
    assert result["created"] == 1 and result["rejects_by_reason"] == {"vendor_rejected": 1}
    track.reject = set()
    again = reverse(env, source, track, "rev2")
    assert again["created"] == 1 and again["unchanged"] == 1
    assert [op["identifiers"]["object_id"] for op in track.batches[-1]] == ["crm-8"]
