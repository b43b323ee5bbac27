"""Chaos: people sync in both directions (Customer.io -> Brevo, Brevo -> Customer.io) under the fault profile."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.operators.reverse import BrevoToCustomerIOPeopleOperator
from airflow_provider_customerio.store.ledger import VALUE_REASONS
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore
from tests.chaos.conftest import (
    assert_landed_or_ledgered,
    brevo_contacts,
    cio_ids,
    cio_people,
    diff,
    lower_keys,
    run_with_retries,
)
from tests.conftest import ledger_rows
from tests.integration.test_reverse_helpers import CONFIG

pytestmark = pytest.mark.integration
EXAMPLE_CONFIG = Path(__file__).parents[2] / "dags" / "customerio_config.yaml"
SEED_NOW = 1_795_910_400
PEOPLE = 160
HOOK = {"rate_limit": 0}


def _prepare(sb: Any, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Path:
    sb.reset()
    sb.seed(people=PEOPLE, seed=11, now=SEED_NOW)
    sb.settings(export_polls=1)
    sb._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    sb.ratelimits(enabled=False)
    sb.set_airflow_env(monkeypatch)
    workdir.mkdir()
    cfg = workdir / "customerio_config.yaml"
    cfg.write_text(EXAMPLE_CONFIG.read_text().replace("state_path: null", f"state_path: {workdir}/state.db"))
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    return workdir


def _forward(run_id: str) -> dict[str, Any]:
    op = CustomerIOToBrevoPeopleOperator(
        task_id="sync_people",
        mode="full",
        deferrable=False,
        poll_interval=0.01,
        export_check_interval=0.01,
        customerio_app_hook_params=HOOK,
        brevo_hook_params=HOOK,
    )
    return op.execute({"ti": SimpleNamespace(dag_id="people_chaos"), "run_id": run_id})  # type: ignore[arg-type]


def _ledger(out: dict[str, Any]) -> set[tuple[str, str]]:
    """Every ledger row of a run as (record, reason), value rejects included."""
    return {(line["record_id"], line["reason"]) for line in ledger_rows(out["ledger"])} if out.get("ledger") else set()


def _cio_keys(sb: Any) -> dict[str, str]:
    """Each live Customer.io person's cio_id -> its key among the Brevo contacts (EXT_ID = id, else e-mail)."""
    body = sb._call("GET", "/state/customerio/people", params={"limit": 1000})
    out = {}
    for p in body["people"]:
        ids = p["identifiers"]
        key = str(ids["id"]) if ids.get("id") not in (None, "") else (ids.get("email") or f"none:{ids['cio_id']}")
        out[ids["cio_id"]] = key.lower()
    return out


def _rejects(out: dict[str, Any]) -> dict[str, str]:
    return {
        line["record_id"]: line["reason"] for line in ledger_rows(out["ledger"]) if line["reason"] not in VALUE_REASONS
    }


def test_people_to_brevo_under_faults_equals_the_fault_free_run(sandbox, chaos, monkeypatch, tmp_path):
    # fault-free reference: two scheduled runs
    _prepare(sandbox, monkeypatch, tmp_path / "ref")
    ref_first = _forward("r1")
    ref_first_contacts, ref_first_ledger = lower_keys(brevo_contacts(sandbox)), _ledger(ref_first)
    ref_last = _forward("r2")
    ref_contacts, ref_people = brevo_contacts(sandbox), cio_people(sandbox)
    ref_rejects = _rejects(ref_last)
    assert ref_contacts and ref_rejects, "the seeded world has both good and bad people"

    # same world, faults on; the task is retried like Airflow would
    chaos_dir = _prepare(sandbox, monkeypatch, tmp_path / "chaos")
    chaos.on(vendors=("app", "brevo"))
    out, errors = run_with_retries(lambda n: _forward("r1"))
    injected = chaos.injected()
    applied = chaos.post_applied()  # writes applied whose answer was lost
    assert applied["applied_5xx"] >= 1 and applied["applied_drop"] >= 1, applied
    failed_imports = sum(f["fired"] for f in sandbox._call("GET", "/brevo/faults")["faults"] if "import" in f["kind"])
    chaos.off()
    assert injected["503"] >= 2 and injected["429"] >= 2 and injected["drop"] >= 2, injected
    # failed import processes were resubmitted: more imports accepted than the fault-free run needed
    accepted = [
        r
        for r in sandbox.requests(vendor="brevo", path_contains="/contacts/import")
        if r["method"] == "POST" and r.get("status") in (200, 201, 202)
    ]
    assert failed_imports >= 1 and len(accepted) > ref_first["imports"], (failed_imports, len(accepted), errors)
    # nothing lost: each person read is synced (state) or ledgered, never both
    people = cio_ids(sandbox)
    state = StateStore(chaos_dir / "state.db")
    synced = {cid for cid in people if state.get_hash(CIO_TO_BREVO, cid)}
    rejected = set(_rejects(out))
    assert synced | rejected == set(people) and not synced & rejected, (len(synced), len(rejected), errors)
    # record by record: each person is in Brevo with the attributes and lists of the fault-free first run, or in
    # the ledger; every reject of the fault-free run is there with its reason; no other contact
    landed = lower_keys(brevo_contacts(sandbox))
    assert_landed_or_ledgered(_cio_keys(sandbox), landed, ref_first_contacts, _ledger(out), ref_first_ledger)
    assert len(landed) == len(synced), diff(dict.fromkeys(synced, 1), landed)

    # the next scheduled run, faults over: same final state as the reference, no duplicate contact
    last = _forward("r2")
    assert brevo_contacts(sandbox) == ref_contacts, diff(ref_contacts, brevo_contacts(sandbox))
    assert cio_people(sandbox) == ref_people  # the forward sync never writes Customer.io
    assert _rejects(last) == ref_rejects  # every data reject is ledgered, with the same reason


def _reverse(config: Path, run_id: str, since: str) -> dict[str, Any]:
    op = BrevoToCustomerIOPeopleOperator(
        task_id="reverse",
        config_path=str(config),
        since=since,
        mode="incremental",
        brevo_hook_params=HOOK,
        customerio_track_hook_params=HOOK,
        customerio_app_hook_params=HOOK,
    )
    return op.execute({"run_id": run_id})  # type: ignore[arg-type]


def _prepare_reverse(sb: Any, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Path:
    sb.reset()
    sb.ratelimits(enabled=False)
    sb.set_airflow_env(monkeypatch)
    resp = sb.http.post(f"{sb.control_url}/brevo/seed", json={"seed": 3, "contacts": 120}, timeout=60)
    assert resp.status_code == 201, resp.text
    workdir.mkdir()
    cfg = workdir / "customerio_config.yaml"
    cfg.write_text(CONFIG.format(state=workdir / "state.db", ledger=workdir / "ledger", policy="brevo_wins"))
    return cfg


def _brevo_keys(sb: Any) -> dict[str, str]:
    """Each Brevo contact's ledger record id (``brevo:<id>``) -> its key among Customer.io people (the id its
    EXT_ID or CIO_ID attribute names, else its e-mail, else its phone)."""
    out = {}
    for c in sb._call("GET", "/brevo/contacts")["contacts"]:
        attrs = c.get("attributes") or {}
        key = attrs.get("EXT_ID") or attrs.get("CIO_ID") or c.get("email") or attrs.get("SMS") or f"none:{c['id']}"
        out[f"brevo:{c['id']}"] = str(key).lower()
    return out


def test_brevo_to_customerio_under_faults_equals_the_fault_free_run(sandbox, chaos, monkeypatch, tmp_path):
    from datetime import date, timedelta

    since = (date.today() - timedelta(days=3)).isoformat()
    cfg = _prepare_reverse(sandbox, monkeypatch, tmp_path / "ref")
    ref_first = _reverse(cfg, "manual__1", since)
    ref_first_people, ref_first_ledger = lower_keys(cio_people(sandbox)), _ledger(ref_first)
    _reverse(cfg, "manual__2", since)
    ref_people, ref_contacts = cio_people(sandbox), brevo_contacts(sandbox)
    ref_rejects = (
        {(l["record_id"], l["reason"]) for l in ledger_rows(ref_first["ledger"])} if ref_first.get("ledger") else set()
    )
    assert len(ref_people) >= 100

    cfg = _prepare_reverse(sandbox, monkeypatch, tmp_path / "chaos")
    chaos.on(vendors=("brevo", "track"))
    out, errors = run_with_retries(lambda n: _reverse(cfg, "manual__1", since))
    injected = chaos.injected()
    applied = chaos.post_applied()  # writes applied whose answer was lost
    assert applied["applied_5xx"] >= 1 and applied["applied_drop"] >= 1, applied
    chaos.off()
    print("reverse chaos: calls", len(sandbox.requests()), "faults", dict(injected))
    assert injected["503"] >= 2 and injected["429"] >= 2 and injected["drop"] >= 2, injected
    assert injected["partial_207"] >= 1, injected
    # nothing lost, record by record: each Brevo contact is a Customer.io person with the attributes of the
    # fault-free first run, or in the ledger (with the fault-free run's reason when it had one)
    ledgered = _ledger(out)
    landed = lower_keys(cio_people(sandbox))
    assert_landed_or_ledgered(_brevo_keys(sandbox), landed, ref_first_people, ledgered, ref_first_ledger)
    assert out["read"] == out["updated"] + out["unchanged"] + out["rejected"], out
    assert out["rejected"] == len({rid for rid, _ in ledgered}), (out, ledgered)

    _reverse(cfg, "manual__2", since)
    assert cio_people(sandbox) == ref_people, diff(ref_people, cio_people(sandbox))
    assert brevo_contacts(sandbox) == ref_contacts  # the reverse sync never writes Brevo contacts
    assert ref_rejects <= ledgered, (ref_rejects, ledgered, errors)  # every data reject is ledgered too
