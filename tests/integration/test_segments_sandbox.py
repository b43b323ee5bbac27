"""Segment replication against the sandbox: real HTTP, real hooks, the real operator.

Seeded world (``seed(people=400, segments=[120, 30], seed=11)``): segment 1 and 2 are finished dynamic segments,
3 is still building, 4 is empty (the API answers ``null`` arrays), 5 is a manual segment whose membership the
tests change through the Track API. Brevo has lists 12, 13 and 14 in folder 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator
from airflow_provider_customerio.store.ledger import read_ledger
from airflow_provider_customerio.sync.segments.diff import is_valid_email
from airflow_provider_customerio.sync.segments.model import ListNotFoundError, RemovalBrakeError, mirror_list_name

pytestmark = pytest.mark.integration

SEGMENT_BIG, SEGMENT_SMALL, SEGMENT_BUILDING, SEGMENT_EMPTY, SEGMENT_MANUAL = 1, 2, 3, 4, 5
WRITE_METHODS = {"POST", "PUT", "DELETE"}


class World:
    """The sandbox plus helpers to read both sides and run the operator."""

    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.config(segments={})

    def seed(self, **params: Any) -> None:
        self.sandbox.seed(seed=11, **params)
        # imports finish on the first poll: no waiting in tests
        self.sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})

    def config(self, **customerio: Any) -> None:
        doc = {
            "connectors": {
                "customerio": {
                    "lists": {"all_contacts": 12, "active_subscribers": 13, "churned": 14},
                    "field_mapping": {
                        "email": "email",
                        "first_name": "FIRSTNAME",
                        "last_name": "LASTNAME",
                        "plan": "PLAN_NAME",
                    },
                    **customerio,
                }
            }
        }
        path = self.tmp_path / "customerio_config.yaml"
        path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
        self.monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(path))

    def run(self, segment_id: int, list_id: int, **kwargs: Any) -> dict[str, Any]:
        op = CustomerIOSegmentToBrevoListOperator(
            task_id=f"mirror_{segment_id}_{list_id}",
            segment_id=segment_id,
            list_id=list_id,
            state_path=str(self.tmp_path / "store.db"),
            import_check_interval=0.01,
            customerio_app_hook_params={"rate_limit": 0},  # the sandbox's limits are off for these tests
            brevo_hook_params={"rate_limit": 0},
            **kwargs,
        )
        return op.execute(context={})

    # -------------------------------------------------------------------------------- Customer.io side
    def members(self, segment_id: int) -> list[dict[str, Any]]:
        resp = requests.get(
            f"{self.sandbox.app_url}/v1/segments/{segment_id}/membership",
            params={"limit": 30000},
            headers=self.sandbox.app_headers,
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json()["identifiers"] or []

    def manual(self, op: str, ids: list[str]) -> None:
        resp = requests.post(
            f"{self.sandbox.track_url}/api/v1/segments/{SEGMENT_MANUAL}/{op}",
            json={"ids": ids},
            auth=self.sandbox.track_auth,
            timeout=30,
        )
        resp.raise_for_status()

    # -------------------------------------------------------------------------------------- Brevo side
    def list_contacts(self, list_id: int) -> list[dict[str, Any]]:
        out, offset = [], 0
        while True:
            resp = requests.get(
                f"{self.sandbox.brevo_url}/contacts/lists/{list_id}/contacts",
                params={"limit": 500, "offset": offset},
                headers=self.sandbox.brevo_headers,
                timeout=30,
            )
            resp.raise_for_status()
            page = resp.json()["contacts"]
            out.extend(page)
            offset += len(page)
            if len(page) < 500:
                return out

    def list_keys(self, list_id: int) -> set[str]:
        return {c.get("email") or f"ext:{c['attributes'].get('EXT_ID')}" for c in self.list_contacts(list_id)}

    def lists(self) -> dict[int, str]:
        resp = requests.get(
            f"{self.sandbox.brevo_url}/contacts/lists",
            params={"limit": 50},
            headers=self.sandbox.brevo_headers,
            timeout=30,
        )
        return {item["id"]: item["name"] for item in resp.json()["lists"]}

    def brevo_writes(self) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests(vendor="brevo") if r["method"] in WRITE_METHODS]


def valid_email(value: str | None) -> bool:
    return bool(value) and is_valid_email(value)


def expected_keys(members: list[dict[str, Any]]) -> set[str]:
    """What a list mirroring these members holds: the email, or the EXT_ID of people without email. People with
    an invalid email (the seed has some) or with no identifier at all are ledgered instead."""
    keys = set()
    for m in members:
        if m.get("email"):
            if valid_email(m["email"]):
                keys.add(m["email"].lower())
        elif m.get("id"):
            keys.add(f"ext:{m['id']}")
    return keys


def unmirrorable(members: list[dict[str, Any]]) -> dict[str, str]:
    """cio_id -> expected ledger reason."""
    out = {}
    for m in members:
        if m.get("email") and not valid_email(m["email"]):
            out[m["cio_id"]] = "invalid_email"
        elif not m.get("email") and not m.get("id"):
            out[m["cio_id"]] = "missing_identifier"
    return out


@pytest.fixture
def world(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    sandbox.ratelimits(enabled=False)
    sandbox.set_airflow_env(monkeypatch)
    w = World(sandbox, tmp_path, monkeypatch)
    w.seed(people=400, segments=[120, 30])
    return w


def test_first_mirror_exports_members_with_attributes(world: World) -> None:
    members = world.members(SEGMENT_BIG)
    assert any(not m.get("email") for m in members) and any(not m.get("id") for m in members)  # a realistic mix

    summary = world.run(SEGMENT_BIG, 13, include_attributes=["email", "first_name", "last_name", "plan"])

    assert world.list_keys(13) == expected_keys(members)
    assert summary["added"] == len(expected_keys(members)) == summary["list_size_after"]
    assert (summary["removed"], summary["rejected"], summary["dry_run"]) == (0, len(unmirrorable(members)), False)
    assert summary["api_calls"] > 0 and summary["segment_size"] == len(members)
    person = next(m for m in members if valid_email(m.get("email")) and m.get("id"))
    contact = next(c for c in world.list_contacts(13) if c.get("email") == person["email"].lower())
    profile = requests.post(
        f"{world.sandbox.app_url}/v1/customers/attributes",
        params={"id_type": "cio_id"},
        json={"ids": [person["cio_id"]]},
        headers=world.sandbox.app_headers,
        timeout=30,
    ).json()["customers"][0]["attributes"]
    assert contact["attributes"]["EXT_ID"] == person["id"]
    assert contact["attributes"]["FIRSTNAME"] == profile["first_name"]
    assert contact["attributes"]["PLAN_NAME"] == profile["plan"]
    hydrations = world.sandbox.requests(vendor="app", path_contains="/customers/attributes")
    assert all(len(json.loads(r["body"])["ids"]) <= 100 for r in hydrations)


def test_rerun_without_change_writes_nothing(world: World) -> None:
    world.run(SEGMENT_BIG, 13, include_attributes=["first_name"])
    world.sandbox.clear_requests()

    summary = world.run(SEGMENT_BIG, 13, include_attributes=["first_name"])

    assert world.brevo_writes() == []
    assert (summary["added"], summary["removed"], summary["write_calls"]) == (0, 0, 0)
    assert summary["unchanged"] == summary["list_size_before"] == summary["list_size_after"]


def test_membership_change_adds_and_removes(world: World) -> None:
    pool = [m for m in world.members(SEGMENT_BIG) if m.get("id") and valid_email(m.get("email"))]
    world.manual("add_customers", [m["id"] for m in pool[:10]])
    world.run(SEGMENT_MANUAL, 14)
    world.manual("remove_customers", [m["id"] for m in pool[:2]])
    world.manual("add_customers", [m["id"] for m in pool[10:13]])
    world.sandbox.clear_requests()

    summary = world.run(SEGMENT_MANUAL, 14)

    assert (summary["added"], summary["removed"], summary["unchanged"]) == (3, 2, 8)
    assert world.list_keys(14) == expected_keys(pool[2:13])
    removes = [r for r in world.brevo_writes() if r["path"].endswith("/contacts/remove")]
    assert len(removes) == 1 and len(json.loads(removes[0]["body"])["ids"]) == 2


def test_brake_refuses_then_force_applies(world: World) -> None:
    pool = [m for m in world.members(SEGMENT_BIG) if m.get("id") and valid_email(m.get("email"))]
    world.manual("add_customers", [m["id"] for m in pool[:10]])
    world.run(SEGMENT_MANUAL, 14)
    world.manual("remove_customers", [m["id"] for m in pool[:5]])
    world.sandbox.clear_requests()

    with pytest.raises(RemovalBrakeError) as err:
        world.run(SEGMENT_MANUAL, 14)
    assert "5 of the 10" in str(err.value) and "force=true" in str(err.value)
    assert world.brevo_writes() == [] and len(world.list_contacts(14)) == 10

    summary = world.run(SEGMENT_MANUAL, 14, force=True)
    assert (summary["removed"], summary["forced"]) == (5, True)
    assert world.list_keys(14) == expected_keys(pool[5:10])


def test_removals_are_chunked_by_150(world: World) -> None:
    world.seed(people=1500, segments=[900, 30])
    world.run(SEGMENT_BIG, 12)
    before = len(world.list_contacts(12))
    assert before > 150
    world.sandbox.clear_requests()

    summary = world.run(SEGMENT_EMPTY, 12, force=True)  # an empty segment: everyone leaves

    assert summary["removed"] == before and world.list_contacts(12) == []
    sizes = [len(json.loads(r["body"])["ids"]) for r in world.brevo_writes()]
    assert max(sizes) <= 150 and sum(sizes) == before


def test_dry_run_reports_without_writing(world: World) -> None:
    world.sandbox.clear_requests()
    summary = world.run(SEGMENT_SMALL, 13, dry_run=True, include_attributes=["plan"])
    assert summary["dry_run"] is True and summary["added"] == len(expected_keys(world.members(SEGMENT_SMALL)))
    assert summary["sample_adds"] and summary["write_calls"] == 0
    assert world.brevo_writes() == [] and world.list_contacts(13) == []


def test_building_segment_is_skipped_and_reported(world: World) -> None:
    world.sandbox.clear_requests()
    summary = world.run(SEGMENT_BUILDING, 13)
    assert summary["skipped_building"] is True and summary["segment_state"] == "build"
    assert world.sandbox.requests(vendor="brevo") == []
    assert world.sandbox.requests(vendor="app", path_contains="/membership") == []


def test_empty_segment_null_arrays(world: World) -> None:
    summary = world.run(SEGMENT_EMPTY, 13)
    assert (summary["segment_size"], summary["added"], summary["removed"]) == (0, 0, 0)


def test_missing_list_is_a_clear_error(world: World) -> None:
    with pytest.raises(ListNotFoundError, match="Brevo list 999.*create_missing_lists: true"):
        world.run(SEGMENT_SMALL, 999)
    assert world.brevo_writes() == []


def test_missing_list_created_when_opted_in_and_reused(world: World) -> None:
    world.config(segments={"create_missing_lists": True, "folder_id": 1})
    first = world.run(SEGMENT_SMALL, 999)
    created = first["list"]
    assert first["list_created"] is True and first["requested_list"] == 999
    segment = requests.get(
        f"{world.sandbox.app_url}/v1/segments/{SEGMENT_SMALL}", headers=world.sandbox.app_headers, timeout=30
    ).json()["segment"]
    assert world.lists()[created] == mirror_list_name(SEGMENT_SMALL, segment["name"])
    assert world.list_keys(created) == expected_keys(world.members(SEGMENT_SMALL))
    again = world.run(SEGMENT_SMALL, 999)
    assert again["list"] == created and again["list_created"] is False and again["write_calls"] == 0
    assert len(world.lists()) == 4


def test_lifecycle_attribute_first_matching_segment_wins(world: World) -> None:
    small = {m["cio_id"] for m in world.members(SEGMENT_SMALL)}
    world.config(
        segments={
            "lifecycle": {
                "attribute": "LIFECYCLE_STAGE",
                "order": [
                    {"segment_id": SEGMENT_SMALL, "value": "vip"},
                    {"segment_id": SEGMENT_BIG, "value": "active"},
                ],
            }
        }
    )
    members = world.members(SEGMENT_BIG)
    world.run(SEGMENT_BIG, 13)
    by_key = {c.get("email") or c["attributes"].get("EXT_ID"): c["attributes"] for c in world.list_contacts(13)}
    for m in members:
        key = m["email"].lower() if m.get("email") else m.get("id")
        if key is None or m["cio_id"] in unmirrorable(members):
            continue
        assert by_key[key].get("LIFECYCLE_STAGE") == ("vip" if m["cio_id"] in small else "active"), m
    world.sandbox.clear_requests()
    assert world.run(SEGMENT_BIG, 13)["write_calls"] == 0 and world.brevo_writes() == []


def test_unmirrorable_people_reach_the_ledger_with_their_reason(world: World) -> None:
    expected = unmirrorable(world.members(SEGMENT_BIG))
    assert expected  # the seed has people with a broken email or no identifier
    summary = world.run(SEGMENT_BIG, 13)
    assert summary["rejected"] == len(expected)
    lines = read_ledger(world.tmp_path / "store.db", summary["ledger"])
    assert {line["record_id"]: line["reason"] for line in lines} == expected
    assert all(line["detail"] == {"segment_id": SEGMENT_BIG, "list_id": 13} for line in lines)


def test_failed_import_fails_the_task_and_the_next_run_resumes(world: World) -> None:
    from airflow_provider_customerio.exceptions import ProcessFailedError

    members = world.members(SEGMENT_SMALL)
    world.sandbox._call("POST", "/brevo/faults", json={"kind": "import_failure", "count": 1})
    with pytest.raises(ProcessFailedError, match="failed"):
        world.run(SEGMENT_SMALL, 13)
    assert world.list_contacts(13) == []

    summary = world.run(SEGMENT_SMALL, 13)  # the retry re-reads both sides and sends what is still missing
    assert world.list_keys(13) == expected_keys(members) and summary["added"] == len(expected_keys(members))


def test_transient_server_errors_are_retried(world: World) -> None:
    world.sandbox.faults(vendor="brevo", kind="500", count=1, path_contains="/contacts/lists/13/contacts")
    world.sandbox.faults(vendor="app", kind="429", count=1, path_contains="/membership")
    summary = world.run(SEGMENT_SMALL, 13)
    assert world.list_keys(13) == expected_keys(world.members(SEGMENT_SMALL)) and summary["added"] > 0
    statuses = [r["status"] for r in world.sandbox.requests(vendor="app", path_contains="/membership")]
    assert statuses[:2] == [429, 200]
    list_reads = [r["status"] for r in world.sandbox.requests(vendor="brevo", path_contains="/lists/13/contacts")]
    assert list_reads[:2] == [500, 200]
