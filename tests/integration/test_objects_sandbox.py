"""Object data sync against the sandbox: real HTTP, real hooks, the real operator and trigger.

Seeded world: Customer.io object type 1 (Companies) with ``objects`` companies; person ``i`` is related to company
``i % objects``. Brevo has the custom object type ``companies`` with the attribute keys name, domain, plan and
employees. The people sync is simulated by creating the related people as Brevo contacts (``ext_id`` = the
Customer.io id), which is what it writes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_customerio.operators.objects import CustomerIOObjectsToBrevoOperator
from airflow_provider_customerio.store.ledger import read_ledger
from airflow_provider_customerio.sync.objects.ports import MissingBrevoAttributes, MissingBrevoObjectTypes
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout

pytestmark = pytest.mark.integration

MAPPING = {"name": "name", "plan": "plan", "employees": "employees"}
UPSERT = "/batch/upsert"


class World:
    """The sandbox plus helpers to change Customer.io, read Brevo and run the operator."""

    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.runs = 0
        sandbox.set_airflow_env(monkeypatch)
        brevo = json.loads(sandbox.info["airflow_conn_env"]["AIRFLOW_CONN_BREVO_DEFAULT"])
        brevo["extra"] = {"other_requests_per_hour": 0}  # no client-side throttle of /objects and /processes
        monkeypatch.setenv("AIRFLOW_CONN_BREVO_DEFAULT", json.dumps(brevo))
        sandbox.ratelimits(enabled=False)
        self.config({"1": {"brevo_object_type": "companies", "field_mapping": MAPPING}})

    def seed(self, *, people: int, objects: int) -> None:
        self.sandbox.seed(people=people, objects=objects, seed=5, campaigns=0)
        self.sandbox.ratelimits(enabled=False)
        self.sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})

    def config(self, types: dict[str, Any], enabled: bool = True) -> None:
        doc = {"connectors": {"customerio": {"sync": {"objects": enabled}, "objects": {"types": types}}}}
        path = self.tmp_path / "customerio_config.yaml"
        path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
        self.monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(path))

    def operator(self, **kwargs: Any) -> CustomerIOObjectsToBrevoOperator:
        return CustomerIOObjectsToBrevoOperator(
            task_id="sync_objects",
            state_path=str(self.tmp_path / "state.db"),
            poll_interval=0.01,
            app_hook_params={"rate_limit": 0},
            brevo_hook_params={"rate_limit": 0},
            **kwargs,
        )

    def run(self, **kwargs: Any) -> dict[str, Any]:
        self.runs += 1
        return self.operator(**kwargs).execute(context={"run_id": f"run{self.runs}"})

    # ------------------------------------------------------------------------------------ Customer.io side
    def app_get(self, path: str, **params: Any) -> dict[str, Any]:
        resp = requests.get(
            f"{self.sandbox.app_url}{path}", params=params, headers=self.sandbox.app_headers, timeout=30
        )
        resp.raise_for_status()
        return resp.json()

    def object_ids(self) -> list[str]:
        resp = requests.post(
            f"{self.sandbox.app_url}/v1/objects",
            params={"limit": 1000},
            headers=self.sandbox.app_headers,
            timeout=30,
            json={
                "object_type_id": "1",
                "filter": {"object_attribute": {"type_id": "1", "field": "object_id", "operator": "exists"}},
            },
        )
        resp.raise_for_status()
        return [i["object_id"] for i in resp.json()["identifiers"]]

    def related(self, object_id: str) -> list[dict[str, Any]]:
        out, start = [], ""
        while True:
            body = self.app_get(f"/v1/objects/1/{object_id}/relationships", limit=1000, start=start)
            out.extend(r["identifiers"] for r in body["cio_relationships"])
            start = body.get("next") or ""
            if not start:
                return out

    def track_batch(self, ops: list[dict[str, Any]]) -> None:
        resp = requests.post(
            f"{self.sandbox.track_url}/api/v2/batch", json={"batch": ops}, auth=self.sandbox.track_auth, timeout=60
        )
        assert resp.status_code == 200, resp.text

    # -------------------------------------------------------------------------------------------- Brevo side
    def create_contacts(self, people: list[dict[str, Any]]) -> None:
        """What the people sync writes: one contact per person, ``ext_id`` = the Customer.io id."""
        for p in people:
            body: dict[str, Any] = {"updateEnabled": True}
            if p.get("id"):
                body["ext_id"] = p["id"]
            if p.get("email") and "@" in p["email"] and "@@" not in p["email"]:
                body["email"] = p["email"]
            if len(body) == 1:
                continue
            resp = requests.post(
                f"{self.sandbox.brevo_url}/contacts", json=body, headers=self.sandbox.brevo_headers, timeout=30
            )
            assert resp.status_code in (201, 204), resp.text

    def contact_id(self, identifier: str, identifier_type: str = "ext_id") -> int:
        resp = requests.get(
            f"{self.sandbox.brevo_url}/contacts/{identifier}",
            params={"identifierType": identifier_type},
            headers=self.sandbox.brevo_headers,
            timeout=30,
        )
        resp.raise_for_status()
        return int(resp.json()["id"])

    def records(self, object_type: str = "companies") -> dict[str, dict[str, Any]]:
        body = self.sandbox._call("GET", f"/brevo/objects/{object_type}/records")
        return {r["identifiers"]["ext_id"]: r for r in body["records"]}

    def upserts(self) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests(vendor="brevo", path_contains=UPSERT) if r["method"] == "POST"]


@pytest.fixture
def world(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(sandbox, tmp_path, monkeypatch)


def seeded(world: World, people: int = 24, objects: int = 4) -> dict[str, list[dict[str, Any]]]:
    """Seed, create the related people in Brevo, and return each object's related identifiers."""
    world.seed(people=people, objects=objects)
    rels = {oid: world.related(oid) for oid in world.object_ids()}
    assert len(rels) == objects and all(len(ppl) == people // objects for ppl in rels.values()), rels
    world.create_contacts([p for ppl in rels.values() for p in ppl])
    return rels


def expected_contacts(world: World, people: list[dict[str, Any]]) -> list[int]:
    """Brevo contact ids of related people (by ext_id, or by email for people without an id)."""
    out = []
    for p in people:
        if p.get("id"):
            out.append(world.contact_id(p["id"]))
        elif p.get("email") and "@" in p["email"] and "@@" not in p["email"]:
            out.append(world.contact_id(p["email"], "email_id"))
    return sorted(out)


def test_first_sync_creates_objects_associated_with_their_people(world: World) -> None:
    rels = seeded(world)  # 24 people over 4 companies
    result = world.run()
    records = world.records()
    assert set(records) == set(rels) and result["created"] == len(rels) and result["rejected"] == 0
    for oid, people in rels.items():
        attrs = world.app_get(f"/v1/objects/1/{oid}/attributes")["object"]["attributes"]
        assert records[oid]["attributes"] == {
            "name": attrs["name"],
            "plan": attrs["plan"],
            "employees": attrs["employees"],
        }
        assert records[oid]["associations"].get("contact", []) == expected_contacts(world, people)
    assert result["links_added"] == sum(len(p) for p in rels.values())


def test_records_refused_after_the_202_are_ledgered_and_written_by_the_next_run(world: World) -> None:
    rels = seeded(world)
    world.sandbox._call("POST", "/brevo/faults", json={"kind": "object_reject", "count": 2})
    first = world.run()
    landed = set(world.records())
    refused = set(rels) - landed
    assert len(refused) == 2, (landed, first)
    ledger = read_ledger(world.tmp_path / "state.db")
    assert {(line["record_id"], line["reason"]) for line in ledger} == {(oid, "vendor_rejected") for oid in refused}
    assert first["rejected"] == 2
    again = world.run()  # the refused records were not committed: the next run writes them
    assert set(world.records()) == set(rels) and again["rejected"] == 0, again


def test_rerun_is_idempotent(world: World) -> None:
    seeded(world)
    world.run()
    before = world.records()
    world.sandbox.clear_requests()
    result = world.run()
    assert result["unchanged"] == len(before) and result["created"] == result["updated"] == 0
    assert world.upserts() == []  # nothing written
    after = world.records()
    assert {k: (v["attributes"], v["associations"]) for k, v in after.items()} == {
        k: (v["attributes"], v["associations"]) for k, v in before.items()
    }


def test_attribute_change_is_written(world: World) -> None:
    rels = seeded(world)
    world.run()
    oid = sorted(rels)[0]
    world.track_batch(
        [
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "1", "object_id": oid},
                "attributes": {"plan": "platinum", "industry": "ignored"},
            }
        ]
    )
    world.sandbox.clear_requests()
    result = world.run()
    assert result["updated"] == 1 and result["unchanged"] == len(rels) - 1
    assert world.records()[oid]["attributes"]["plan"] == "platinum"
    (upsert,) = world.upserts()
    assert '"plan":"platinum"' in upsert["body"]


def test_relationship_added_and_another_removed_are_mirrored(world: World) -> None:
    rels = seeded(world)
    world.run()
    first, second = sorted(rels)[:2]
    leaver = rels[first][0]
    joiner = rels[second][0]  # also joins the first company
    world.track_batch(
        [
            {
                "type": "object",
                "action": "delete_relationships",
                "identifiers": {"object_type_id": "1", "object_id": first},
                "cio_relationships": [{"identifiers": {"cio_id": leaver["cio_id"]}}],
            },
            {
                "type": "object",
                "action": "add_relationships",
                "identifiers": {"object_type_id": "1", "object_id": first},
                "cio_relationships": [{"identifiers": {"id": joiner["id"]}}],
            },
        ]
    )
    now = world.related(first)
    assert leaver["cio_id"] not in {p["cio_id"] for p in now} and joiner["cio_id"] in {p["cio_id"] for p in now}
    result = world.run()
    assert result["updated"] == 1 and result["links_added"] == 1 and result["links_removed"] == 1
    assert world.records()[first]["associations"]["contact"] == expected_contacts(world, now)
    assert world.contact_id(joiner["id"]) in world.records()[second]["associations"]["contact"]
    assert world.run()["unchanged"] == len(rels)


def test_missing_brevo_object_type_fails_with_what_to_create(world: World) -> None:
    seeded(world)
    world.config(
        {
            "1": {"brevo_object_type": "companies", "field_mapping": MAPPING},
            "2": {"brevo_object_type": "accounts", "field_mapping": {"name": "name", "tier": "tier"}},
        }
    )
    world.sandbox.clear_requests()
    with pytest.raises(MissingBrevoObjectTypes) as err:
        world.run()
    message = str(err.value)
    assert "`accounts` with the attribute keys `name`, `tier`" in message
    assert "Customer.io object type 2 'Accounts'" in message and "Nothing was written" in message
    assert world.upserts() == [] and world.records() == {}


def test_missing_attribute_key_fails_naming_it_then_recovers(world: World) -> None:
    rels = seeded(world)
    world.config({"1": {"brevo_object_type": "companies", "field_mapping": {**MAPPING, "industry": "industry"}}})
    with pytest.raises(MissingBrevoAttributes) as err:
        world.run()
    assert err.value.missing == {"companies": ["industry"]}
    assert "Create these attributes in Brevo" in str(err.value)
    world.sandbox._call("POST", "/brevo/objects/types", json={"name": "companies", "attributes": ["industry"]})
    result = world.run()
    assert result["updated"] == len(rels)
    assert all(r["attributes"].get("industry") for r in world.records().values())


def test_people_not_in_brevo_are_ledgered_and_linked_later(world: World) -> None:
    world.seed(people=12, objects=3)
    rels = {oid: world.related(oid) for oid in world.object_ids()}
    everyone = [p for ppl in rels.values() for p in ppl if p.get("id")]
    late, early = everyone[0], everyone[1:]
    world.create_contacts(early)
    result = world.run()
    ledger = read_ledger(world.tmp_path / "state.db", result["ledger"])
    missing = [line for line in ledger if line["reason"] == "related_contact_missing"]
    assert late["cio_id"] in {line["identifiers"].get("cio_id") for line in missing}
    world.create_contacts([late])  # the people sync caught up
    second = world.run()
    assert second["links_added"] >= 1
    holder = next(oid for oid, ppl in rels.items() if late in ppl)
    assert world.contact_id(late["id"]) in world.records()[holder]["associations"]["contact"]


def test_batches_at_the_count_bound(world: World) -> None:
    world.seed(people=0, objects=1001)
    result = world.run()
    assert len(world.upserts()) == 2
    processes = world.sandbox._call("GET", "/brevo/processes/1"), world.sandbox._call("GET", "/brevo/processes/2")
    assert [p["sandbox"]["applied"] for p in processes] == [1000, 1]
    assert result["created"] == 1001 and len(world.records()) == 1001
    assert result["records_sent"] == 1001 and result["imports"] == 2


def test_batches_at_the_byte_bound(world: World) -> None:
    world.seed(people=0, objects=0)
    big = "x" * 990  # ~4 KB per record: about 260 records fill the 1 MB bound, far below the 1000-record bound
    ops = [
        {
            "type": "object",
            "action": "identify",
            "identifiers": {"object_type_id": "1", "object_id": f"big{i:04d}"},
            "attributes": {"name": f"{i}{big}", "domain": big, "plan": big, "employees": big},
        }
        for i in range(300)
    ]
    for i in range(0, len(ops), 100):
        world.track_batch(ops[i : i + 100])
    mapping = {"name": "name", "domain": "domain", "plan": "plan", "employees": "employees"}
    world.config({"1": {"brevo_object_type": "companies", "field_mapping": mapping}})
    result = world.run()
    upserts = world.upserts()
    assert [u["status"] for u in upserts] == [202] * len(upserts)
    sizes = [u["body_size"] for u in upserts]
    assert all(s <= 1024 * 1024 for s in sizes)
    assert len(sizes) == 2 and sizes[0] > 1024 * 1024 - 4100  # a full batch: one more record would not fit
    assert result["created"] == 300 and len(world.records()) == 300


def test_switched_off_sync_is_skipped(world: World) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    world.config({"1": {"brevo_object_type": "companies", "field_mapping": MAPPING}}, enabled=False)
    with pytest.raises(AirflowSkipException, match="sync.objects is false"):
        world.run()


def test_deferrable_wait_through_the_real_trigger(world: World) -> None:
    rels = seeded(world)
    world.sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 3})
    op = world.operator(deferrable=True)
    context = {"run_id": "deferred"}
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context=context)
    assert world.records() == {}  # not applied yet: the process is still running
    trigger = deferred.value.trigger

    async def first_event() -> Any:
        async for event in trigger.run():
            return event

    event = asyncio.run(first_event())
    assert event.payload["status"] == "success"
    result = getattr(op, deferred.value.method_name)(context=context, event=event.payload)
    assert result["created"] == len(rels) and set(world.records()) == set(rels)


def test_reverse_direction_writes_brevo_records_from_elsewhere_to_customerio(world: World) -> None:
    from airflow_provider_customerio.operators.objects import BrevoObjectsToCustomerIOOperator

    rels = seeded(world, people=8, objects=2)
    world.run()  # forward first: the Customer.io companies are in Brevo
    person = next(p for ppl in rels.values() for p in ppl if p.get("id"))
    contact = world.contact_id(person["id"])
    resp = requests.post(
        f"{world.sandbox.brevo_url}/objects/companies/batch/upsert",
        headers=world.sandbox.brevo_headers,
        timeout=30,
        json={
            "records": [
                {
                    "identifiers": {"ext_id": "crm-1"},
                    "attributes": {"name": "Initrode", "plan": "gold"},
                    "associations": [{"object_type": "contact", "records": [{"identifiers": {"id": contact}}]}],
                }
            ]
        },
    )
    assert resp.status_code == 202, resp.text
    world.sandbox._call("POST", "/brevo/processes/complete")

    def run_reverse(run_id: str) -> dict[str, Any]:
        op = BrevoObjectsToCustomerIOOperator(
            task_id="reverse",
            state_path=str(world.tmp_path / "state.db"),
            track_hook_params={"rate_limit": 0},
            brevo_hook_params={"rate_limit": 0},
        )
        return op.execute(context={"run_id": run_id})

    result = run_reverse("rev1")
    assert result["created"] == 1 and result["echoes"] == len(rels) and result["rejected"] == 0
    attrs = world.app_get("/v1/objects/1/crm-1/attributes")["object"]["attributes"]
    assert attrs["name"] == "Initrode" and attrs["plan"] == "gold"
    assert [p["cio_id"] for p in world.related("crm-1")] == [person["cio_id"]]
    world.sandbox.clear_requests()
    again = run_reverse("rev2")
    assert again["unchanged"] == len(rels) + 1 and again["created"] == again["updated"] == 0
    assert world.sandbox.requests(vendor="track") == []
    forward = world.run()  # the forward direction leaves the Brevo-owned object alone
    assert forward["created"] == forward["updated"] == 0 and world.upserts() == []


def test_deferred_wait_times_out_then_the_retry_resumes_without_rewriting(world: World) -> None:
    rels = seeded(world)
    world.sandbox._call("POST", "/brevo/faults", json={"kind": "process_stuck", "count": 1})
    context = {"run_id": "stuck"}
    op = world.operator(deferrable=True, process_timeout=0)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context=context)
    trigger = deferred.value.trigger

    async def first_event() -> Any:
        async for event in trigger.run():
            return event

    event = asyncio.run(first_event())
    assert event.payload["status"] == "timeout"
    with pytest.raises(BrevoProcessTimeout, match="clear the task to resume waiting"):
        op.execute_complete(context=context, event=event.payload)
    assert world.records() == {}
    world.sandbox._call("POST", "/brevo/processes/complete")  # Brevo gets unstuck
    result = world.operator().execute(context=context)  # the task's retry: same run
    assert len(world.upserts()) == 1  # resumed waiting, nothing sent twice
    assert result["created"] == len(rels) and set(world.records()) == set(rels)


def test_object_deleted_in_customerio_is_deleted_in_brevo(world: World) -> None:
    rels = seeded(world)
    world.run()
    oid = sorted(rels)[0]
    world.track_batch(
        [{"type": "object", "action": "delete", "identifiers": {"object_type_id": "1", "object_id": oid}}]
    )
    assert oid not in world.object_ids()

    result = world.run()

    assert result["gone"] == 1 and result["deleted"] == 1 and result["delete_policy"] == "delete"
    assert set(world.records()) == set(rels) - {oid}
    (call,) = [
        r for r in world.sandbox.requests(vendor="brevo", path_contains="/batch/delete") if r["method"] == "POST"
    ]
    assert json.loads(call["body"]) == {"identifiers": {"ext_ids": [oid]}}
    again = world.run()
    assert again["gone"] == 0 and again["unchanged"] == len(rels) - 1
