"""People sync Customer.io -> Brevo against the real sandbox (real HTTP, real hooks, real operator)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.store.ledger import VALUE_REASONS
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore
from tests.conftest import ledger_rows

pytestmark = pytest.mark.integration
EXAMPLE_CONFIG = Path(__file__).parents[2] / "dags" / "customerio_config.yaml"
SEED_NOW = 1_795_910_400  # an hour boundary: seeded activity times are pinned
FAST = {"rate_limit": 50.0}  # the hooks' client-side rate; the sandbox enforces the vendor limits


@pytest.fixture
def env(sandbox, monkeypatch, tmp_path):
    sandbox.seed(people=250, seed=11, now=SEED_NOW)
    sandbox.settings(export_polls=1)
    sandbox.http.post(
        f"{sandbox.control_url}/brevo/processes/settings", json={"polls_to_complete": 2}
    ).raise_for_status()
    sandbox.set_airflow_env(monkeypatch)
    text = EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db")
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(text)
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    return SimpleNamespace(sandbox=sandbox, tmp=tmp_path, cfg=cfg)


def run(mode="full", run_id="r1", start=None, end=None, since=None, deferrable=False, **kw):
    op = CustomerIOToBrevoPeopleOperator(
        task_id="sync_people",
        mode=mode,
        since=since,
        deferrable=deferrable,
        poll_interval=0.05,
        export_check_interval=0.05,
        customerio_app_hook_params=FAST,
        brevo_hook_params=FAST,
        **kw,
    )
    ctx = {"ti": SimpleNamespace(dag_id="people_it"), "run_id": run_id}
    if start is not None:
        ctx.update(data_interval_start=start, data_interval_end=end)
    return op, ctx


def execute(**kw):
    op, ctx = run(**kw)
    return op.execute(ctx)


def brevo_contacts(sandbox) -> dict[str, dict]:
    body = sandbox.http.get(f"{sandbox.control_url}/brevo/contacts").json()
    return {c["attributes"].get("EXT_ID") or c.get("email"): c for c in body["contacts"]}


def live_people(sandbox) -> list[dict]:
    return sandbox.http.get(f"{sandbox.control_url}/state/customerio/people", params={"limit": 1000}).json()["people"]


def brevo_writes(sandbox) -> list[dict]:
    return [r for r in sandbox.requests(vendor="brevo") if r["method"] in ("POST", "PUT", "DELETE")]


def ledger_ids(path, record_level=True):
    return {l["record_id"] for l in ledger_rows(path) if (l["reason"] not in VALUE_REASONS) == record_level}


def test_full_sync_lands_every_person_or_ledgers_it(env):
    sb = env.sandbox
    out = execute(mode="full")
    people = live_people(sb)
    contacts = brevo_contacts(sb)
    state = StateStore(env.cfg.parent / "state.db")
    synced = {p["identifiers"]["cio_id"] for p in people if state.get_hash(CIO_TO_BREVO, p["identifiers"]["cio_id"])}
    rejected = ledger_ids(out["ledger"])
    # nothing lost: every person read is in Brevo or in the ledger, never both
    assert synced | rejected == {p["identifiers"]["cio_id"] for p in people} and not synced & rejected
    assert out["read"] == len(people) and out["created"] == len(synced) == len(contacts)
    assert out["rejected"] == len(rejected) > 0 and out["imports"] >= 1
    reasons = {l["reason"] for l in ledger_rows(out["ledger"])}
    assert {"invalid_email", "invalid_phone"} <= reasons
    # typed attributes, ext_id and list
    p = next(
        p
        for p in people
        if p["identifiers"]["cio_id"] in synced and p["identifiers"]["id"] and p["attributes"].get("mrr", "").isdigit()
    )
    c = contacts[p["identifiers"]["id"]]
    assert c["email"] == p["identifiers"]["email"].lower()
    assert c["attributes"]["FIRSTNAME"] == p["attributes"]["first_name"]
    assert (
        c["attributes"]["SIGNUP_DATE"]
        == datetime.fromtimestamp(int(p["attributes"]["created_at"]), timezone.utc).date().isoformat()
    )
    assert c["attributes"]["MONTHLY_REVENUE"] == float(p["attributes"]["mrr"])
    assert 12 in c["listIds"]
    # imports only: never the deprecated /contacts/batch
    paths = {r["path"] for r in brevo_writes(sb)}
    assert any(path.endswith("/contacts/import") for path in paths)
    assert not any(path.endswith("/contacts/batch") for path in paths)


def test_rerun_of_unchanged_workspace_makes_zero_brevo_writes(env):
    sb = env.sandbox
    first = execute(mode="full", run_id="r1")
    sb.clear_requests()
    second = execute(mode="full", run_id="r2")
    assert brevo_writes(sb) == []
    assert second["unchanged"] == first["created"] and second["created"] == second["updated"] == 0
    assert second["imports"] == 0


def test_incremental_syncs_only_changed_people_and_deletes(env):
    sb = env.sandbox
    execute(mode="full", run_id="full")
    people = [
        p
        for p in live_people(sb)
        if p["identifiers"]["id"]
        and p["identifiers"]["email"]
        and "@@" not in p["identifiers"]["email"]
        and "@" in p["identifiers"]["email"]
    ]
    changed, deleted = people[0]["identifiers"], people[1]["identifiers"]
    auth = sb.track_auth
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    r = requests.put(
        f"{sb.track_url}/api/v1/customers/{changed['id']}", auth=auth, json={"first_name": "Renamed"}, timeout=10
    )
    assert r.status_code == 200
    r = requests.put(
        f"{sb.track_url}/api/v1/customers/new-person-1",
        auth=auth,
        json={"email": "new.person@example.com", "first_name": "New", "created_at": 1700000000},
        timeout=10,
    )
    assert r.status_code == 200
    r = requests.delete(f"{sb.track_url}/api/v1/customers/{deleted['id']}", auth=auth, timeout=10)
    assert r.status_code == 200
    end = datetime.now(timezone.utc) + timedelta(seconds=5)
    sb.clear_requests()
    out = execute(mode="incremental", run_id="inc", start=start, end=end)
    assert (out["read"], out["created"], out["updated"], out["deleted"]) == (2, 1, 1, 1)
    contacts = brevo_contacts(sb)
    assert contacts[changed["id"]]["attributes"]["FIRSTNAME"] == "Renamed"
    assert contacts["new-person-1"]["attributes"]["SIGNUP_DATE"] == "2023-11-14"
    assert deleted["id"] not in contacts
    imports = [r for r in brevo_writes(sb) if r["path"].endswith("/contacts/import")]
    assert len(imports) == 1
    # hydrated by cio_id, at most 100 per call
    hydrates = [r for r in sb.requests(vendor="app") if r["path"].endswith("/customers/attributes")]
    assert len(hydrates) == 1


def _changes_in(sb, lo: int, hi: int) -> set[str]:
    """Independent reading of the seeded feed: people with a profile change in [lo, hi)."""
    out: set[str] = set()
    for t in ("attribute_change", "profile_create", "profile_merge", "profile_delete"):
        start = None
        while True:
            params = {"type": t, "limit": 100, "deleted": "true", **({"start": start} if start else {})}
            body = requests.get(f"{sb.app_url}/v1/activities", headers=sb.app_headers, params=params, timeout=10).json()
            acts = body.get("activities") or []
            out |= {a["customer_identifiers"]["cio_id"] for a in acts if lo <= a["timestamp"] < hi}
            if not acts or acts[-1]["timestamp"] < lo or not body.get("next"):
                break
            start = body["next"]
    return out


def test_backfill_of_two_intervals_syncs_each_interval_once(env):
    sb = env.sandbox
    sb.ratelimits(enabled=False)
    h = datetime.fromtimestamp(SEED_NOW, timezone.utc)
    intervals = [(h - timedelta(hours=3), h - timedelta(hours=2)), (h - timedelta(hours=2), h - timedelta(hours=1))]
    outs = []
    for n, (start, end) in enumerate(intervals):
        outs.append(execute(mode="incremental", run_id=f"backfill__{n}", start=start, end=end))
    state = StateStore(env.cfg.parent / "state.db")
    alive = {p["identifiers"]["cio_id"] for p in live_people(sb)}
    union: set[str] = set()
    for out, (start, end) in zip(outs, intervals):
        expected = _changes_in(sb, int(start.timestamp()), int(end.timestamp()))
        assert expected and out["window"] == {"start": start.isoformat(), "end": end.isoformat()}
        assert out["read"] == len(expected & alive)  # each changed, living person read once
        rejected = ledger_ids(out["ledger"])
        for cid in expected:
            synced = state.get_hash(CIO_TO_BREVO, cid) is not None
            assert synced != (cid in rejected) if cid in alive else not synced
        union |= expected
    # nobody outside the two intervals was synced
    synced_all = {cid for cid in alive if state.get_hash(CIO_TO_BREVO, cid)}
    assert synced_all <= union and len(brevo_contacts(sb)) == len(synced_all)
    assert state.get_watermark("people.cio_to_brevo.until") == intervals[1][1].isoformat()
    # re-running both intervals changes nothing
    sb.clear_requests()
    for n, (start, end) in enumerate(intervals):
        again = execute(mode="incremental", run_id=f"backfill__{n}__rerun", start=start, end=end)
        assert again["created"] == again["updated"] == 0
    assert [r for r in brevo_writes(sb) if r["path"].endswith("/contacts/import")] == []


def test_delete_policy_blacklist_keeps_contact(env):
    sb = env.sandbox
    text = env.cfg.read_text().replace("delete_policy: delete", "delete_policy: blacklist")
    env.cfg.write_text(text)
    execute(mode="full", run_id="full")
    person = next(
        p["identifiers"]
        for p in live_people(sb)
        if p["identifiers"]["id"] and re.fullmatch(r"[^@]+@[^@]+\.[a-z]+", p["identifiers"]["email"] or "")
    )
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    assert (
        requests.delete(f"{sb.track_url}/api/v1/customers/{person['id']}", auth=sb.track_auth, timeout=10).status_code
        == 200
    )
    out = execute(mode="incremental", run_id="inc", start=start, end=datetime.now(timezone.utc) + timedelta(seconds=5))
    assert out["blacklisted"] == 1 and out["deleted"] == 0
    assert brevo_contacts(sb)[person["id"]]["emailBlacklisted"] is True


def test_failing_import_process_is_retried_then_ledgered(env):
    sb = env.sandbox
    fault = f"{sb.control_url}/brevo/faults"
    sb.http.post(fault, json={"kind": "import_failure", "count": 1}).raise_for_status()
    out = execute(mode="full", run_id="r1")
    # two batches (subscribed people, and unsubscribed ones imported with emailBlacklist) and the failed process
    # resubmitted once
    assert out["imports"] == 3 and out["created"] > 0
    assert "import_failed" not in out["rejects_by_reason"]
    # a process that keeps failing: its rows go to the ledger, and the next run retries them
    people = [p["identifiers"] for p in live_people(sb) if p["identifiers"]["id"]][:3]
    for p in people:
        assert (
            requests.put(
                f"{sb.track_url}/api/v1/customers/{p['id']}",
                auth=sb.track_auth,
                json={"first_name": "Again"},
                timeout=10,
            ).status_code
            == 200
        )
    env.cfg.write_text(env.cfg.read_text().replace("reject_threshold: 0.05", "reject_threshold: 1"))
    sb.http.post(fault, json={"kind": "import_failure", "count": 3}).raise_for_status()
    out = execute(mode="full", run_id="r2")
    failed = [l for l in ledger_rows(out["ledger"]) if l["reason"] == "import_failed"]
    assert out["imports"] == 3 and out["updated"] == 0
    assert sorted(l["identifiers"]["id"] for l in failed) == sorted(p["id"] for p in people)
    assert all(l["detail"]["process_id"] for l in failed)
    out = execute(mode="full", run_id="r3")
    assert out["updated"] == 3 and "import_failed" not in out["rejects_by_reason"]
    assert {brevo_contacts(sb)[p["id"]]["attributes"]["FIRSTNAME"] for p in people} == {"Again"}


def test_reject_threshold_fails_the_task_with_the_ledger_path(env):
    env.cfg.write_text(env.cfg.read_text().replace("reject_threshold: 0.05", "reject_threshold: 0.001"))
    with pytest.raises(Exception, match=r"records rejected .* over the reject_threshold .*ledger"):
        execute(mode="full")


def test_missing_brevo_attribute_fails_before_any_write(env):
    sb = env.sandbox
    env.cfg.write_text(env.cfg.read_text().replace("role: JOB_TITLE", "role: JOB_ROLE"))
    with pytest.raises(Exception, match="JOB_ROLE.*create_missing_attributes"):
        execute(mode="full")
    assert brevo_writes(sb) == []


def test_deferrable_wait_through_the_trigger(env):
    sb = env.sandbox
    op, ctx = run(mode="full", run_id="deferred", deferrable=True)
    with pytest.raises(TaskDeferred) as ei:
        op.execute(ctx)
    trigger = ei.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("BrevoProcessTrigger") and json.loads(json.dumps(kwargs)) == kwargs
    trigger.poll_interval = 0.05

    async def first_event():
        async for ev in trigger.run():
            return ev.payload

    event = asyncio.run(first_event())
    assert event["status"] == "success" and all(p["status"] == "completed" for p in event["processes"].values())
    assert list(event["processes"]) == ["1"]  # one import in flight per account: the trigger waited for the first
    # Resumed, the task sends the next import (the blacklisted rows) and defers again (one import at a time).
    with pytest.raises(TaskDeferred) as again:
        getattr(op, ei.value.method_name)(ctx, event)
    trigger = again.value.trigger
    trigger.poll_interval = 0.05
    assert trigger.process_ids == ["2"]
    event = asyncio.run(first_event())
    out = getattr(op, again.value.method_name)(ctx, event)
    assert out["created"] > 0 and out["created"] == len(brevo_contacts(sb)) and out["imports"] == 2


def test_two_tasks_extract_then_load(env):
    sb = env.sandbox
    op1, ctx = run(mode="full", run_id="split", step="extract")
    extracted = op1.execute(ctx)
    assert extracted["read"] > 0 and brevo_writes(sb) == []
    op2, _ = run(mode="full", run_id="split", step="load")
    out = op2.execute(ctx)
    assert out["created"] == len(brevo_contacts(sb)) > 0 and out["read"] == extracted["read"]


def test_manual_run_without_interval_needs_since(env):
    with pytest.raises(Exception, match="no data interval.*since"):
        execute(mode="incremental", run_id="manual__x")
    out = execute(mode="incremental", run_id="manual__y", since=(date.today() - timedelta(days=1)).isoformat())
    assert out["window"]["start"].startswith((date.today() - timedelta(days=1)).isoformat())


def test_unsubscribed_person_becomes_email_blacklisted(env):
    sb = env.sandbox
    execute(mode="full", run_id="full")
    person = next(
        p["identifiers"]
        for p in live_people(sb)
        if p["identifiers"]["id"] and re.fullmatch(r"[^@]+@[^@]+\.[a-z]+", p["identifiers"]["email"] or "")
    )
    assert brevo_contacts(sb)[person["id"]]["emailBlacklisted"] is False
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    assert (
        requests.put(
            f"{sb.track_url}/api/v1/customers/{person['id']}",
            auth=sb.track_auth,
            json={"unsubscribed": True, "role": "Unsubscriber"},
            timeout=10,
        ).status_code
        == 200
    )
    sb.clear_requests()
    out = execute(mode="incremental", run_id="inc", start=start, end=datetime.now(timezone.utc) + timedelta(seconds=5))
    assert out["updated"] == 1
    contact = brevo_contacts(sb)[person["id"]]
    assert contact["emailBlacklisted"] is True and contact["attributes"]["JOB_TITLE"] == "Unsubscriber"
    imports = [r for r in brevo_writes(sb) if r["path"].endswith("/contacts/import")]
    assert len(imports) == 1


def test_process_report_shapes_are_read_as_counts_or_rows():
    from airflow_provider_customerio.adapters.brevo_imports import import_process_state as process_state

    counts = process_state(
        {
            "id": 7,
            "status": "completed",
            "info": {
                "import": {
                    "invalid_emails": 2,
                    "duplicate_email_id": 1,
                    "duplicate_ext_id": 0,
                    "duplicate_phone_id": None,
                }
            },
        }
    )
    assert counts.finished and counts.report.unidentified == {"import_invalid": 2, "import_duplicate": 1}
    urls = process_state({"id": 8, "status": "completed", "info": {"import": {"invalid_emails": "https://x/r.csv"}}})
    assert urls.report.unidentified == {"import_invalid": 1}
    rows = process_state(
        {"id": 9, "status": "failed", "error": "boom", "info": {"import": {"invalid_emails": ["a@x"]}}}
    )
    assert rows.report.rejected == {"a@x": "import_invalid"} and rows.error == "boom" and rows.finished
    assert not process_state({"id": 10, "status": "processing"}).finished


def test_each_run_leaves_its_summary_in_the_store(env):
    from airflow_provider_customerio.store.sync_store import SyncStore

    first = execute(mode="full", run_id="s1")
    second = execute(mode="full", run_id="s2")
    rows = SyncStore.at(env.cfg.parent / "state.db").summaries("people")
    assert [r["run_id"] for r in rows] == ["s2", "s1"]  # newest first
    assert rows[1]["summary"]["read"] == first["read"] and rows[0]["summary"]["unchanged"] == second["unchanged"]
    assert rows[0]["dag_id"] == "people_it" and rows[0]["task_id"] == "sync_people"


def test_a_full_sync_sends_imports_while_the_export_is_still_read(sandbox, monkeypatch, tmp_path):
    """Pipelined (step "all"): the first Brevo import goes out before the last person of the export is read, one
    import at a time (the sandbox's serial default), and the end state is every person in Brevo or the ledger."""
    from airflow_provider_customerio.adapters.people import CustomerIOPeopleSource
    from airflow_provider_customerio.hooks.brevo import BrevoHook

    sandbox.seed(people=2500, seed=5, now=SEED_NOW)
    sandbox.settings(export_polls=1)
    sandbox.set_airflow_env(monkeypatch)
    text = EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {tmp_path}/state.db")
    text = re.sub(r"import_batch_bytes: \d+", "import_batch_bytes: 60000", text)
    cfg = tmp_path / "customerio_config.yaml"
    cfg.write_text(text)
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    sent: list[int] = []
    imports_when_read: list[int] = []
    import_contacts, iter_full = BrevoHook.import_contacts, CustomerIOPeopleSource.iter_full

    def counting_import(self, **kw):
        sent.append(len(kw.get("json_body") or ()))
        return import_contacts(self, **kw)

    def noting_iter_full(self, token):
        for person in iter_full(self, token):
            imports_when_read.append(len(sent))
            yield person

    monkeypatch.setattr(BrevoHook, "import_contacts", counting_import)
    monkeypatch.setattr(CustomerIOPeopleSource, "iter_full", noting_iter_full)
    out = execute(mode="full")
    assert imports_when_read[-1] >= 1  # an import was in Brevo's hands while the export was still read
    assert out["imports"] == len(sent) > 2
    assert out["read"] == len(imports_when_read) > 2000
    assert out["created"] + out["rejected"] == out["read"] and out["created"] == len(brevo_contacts(sandbox))
