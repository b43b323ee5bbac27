"""In-memory fakes of both vendors for the object sync's unit tests.

The Brevo fake follows the documented semantics: records are applied when the process completes, unknown
attribute keys are dropped silently, ``ext_id`` creates or updates, ``link``/``unlink`` change associations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.objects import ObjectStateTable
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.objects.forward import ObjectSync, run_blocking
from airflow_provider_customerio.sync.objects.ports import BrevoRecord, CioObject, ContactRef, RelatedPerson, TypeProbe
from airflow_provider_customerio.sync.objects.reverse import ReverseObjectSync
from airflow_provider_customerio.sync.objects.run import MAX_UPSERT_BYTES
from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState


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
        self.ledgers: list[Any] = []

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
