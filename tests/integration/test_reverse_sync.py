"""Brevo -> Customer.io contacts sync against the sandbox: real operator, real hooks, real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_customerio.adapters.reverse import BrevoContactSource, CustomerIOPeopleWriter
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.config import load_config
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.reverse.run import ReverseSync
from tests.integration.test_reverse_helpers import Harness, utcnow, window_since

pytestmark = pytest.mark.integration

THREE_DAYS_AGO = lambda: utcnow() - timedelta(days=3)


@pytest.fixture
def h(sandbox: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(sandbox, tmp_path, monkeypatch)


def _midnight(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())


def _batch_ops(h: Harness) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for r in h.track_batches():
        ops.extend(json.loads(r["body"])["batch"])
    return ops


def test_reverse_sync_maps_types_identifies_and_writes_without_timestamps(h: Harness) -> None:
    ids = h.seed_brevo(40, seed=3)
    contacts = {c["id"]: c for c in h.brevo_contacts()}
    h.sandbox.clear_requests()

    result = h.reverse(*window_since(THREE_DAYS_AGO()))

    assert result["read"] == 40 and result["updated"] == 40 and result["rejected"] == 0
    assert result["direction"] == "brevo_to_cio" and result["conflicts"] == {}
    # one Brevo page read for 40 contacts (plus the attribute list), one Track batch for all of them
    assert len(h.track_batches()) == 1
    (batch,) = h.track_batches()
    assert batch["status"] == 200 and "timestamp" not in batch["body"]  # (the log keeps the first 2 KB)
    kinds = set()
    for cid in ids:
        c = contacts[cid]
        attrs = c["attributes"]
        if attrs.get("EXT_ID"):
            person, kind = h.person(attrs["EXT_ID"], "id"), "id"
        elif attrs.get("CIO_ID"):
            person, kind = h.person(attrs["CIO_ID"], "id"), "id"
        elif c.get("email"):
            person, kind = h.person(c["email"].lower(), "email"), "email"
        else:
            person, kind = h.person(attrs["SMS"], "phone"), "phone"
        kinds.add(kind)
        assert person is not None, c
        got = person["attributes"]
        assert got["plan"] == attrs["PLAN_NAME"] and got["lifecycle_stage"] == attrs["LIFECYCLE_STAGE"]
        assert got["first_name"] == attrs["FIRSTNAME"] and got["last_name"] == attrs["LASTNAME"]
        assert got["created_at"] == _midnight(attrs["SIGNUP_DATE"])  # date -> unix timestamp
        assert float(got["mrr"]) == pytest.approx(attrs["MONTHLY_REVENUE"])
        assert "id" not in got and "CIO_ID" not in got
        assert person["unsubscribed"] is bool(c["emailBlacklisted"])
        if c.get("email"):
            assert person["email"] == c["email"].lower()
    assert kinds >= {"id", "email", "phone"}


def test_window_end_is_respected_and_rerun_is_idempotent(h: Harness) -> None:
    h.seed_brevo(10, seed=4)
    start = THREE_DAYS_AGO()
    end = utcnow()
    h.brevo("POST", "/contacts", {"email": "late@example.com", "attributes": {"PLAN_NAME": "pro"}})
    first = h.reverse(start, end, run_id="scheduled__a")
    assert first["read"] == 10 and first["updated"] == 10
    assert h.person("late@example.com", "email") is None  # modified after the window's end: next run's job
    h.sandbox.clear_requests()

    again = h.reverse(start, end, run_id="scheduled__a")  # the same run, re-run
    assert again["read"] == 10 and again["updated"] == 0 and again["unchanged"] == 10
    assert h.track_batches() == []

    nxt = h.reverse(end, utcnow() + timedelta(seconds=2))
    assert nxt["read"] == 1 and nxt["updated"] == 1
    assert h.person("late@example.com", "email")["attributes"]["plan"] == "pro"


def test_list_touch_bumps_modified_at_but_writes_nothing(h: Harness) -> None:
    h.seed_brevo(5, seed=5)
    h.reverse(*window_since(THREE_DAYS_AGO()))
    contact = h.brevo_contacts()[0]
    t1 = utcnow()
    h.brevo(
        "POST",
        "/contacts/lists/14/contacts/add"
        if 14 not in contact["listIds"]
        else "/contacts/lists/13/contacts/add"
        if 13 not in contact["listIds"]
        else "/contacts/lists/12/contacts/remove",
        {"ids": [contact["id"]]},
    )
    h.sandbox.clear_requests()

    result = h.reverse(*window_since(t1))

    assert result["read"] == 1 and result["unchanged"] == 1 and result["updated"] == 0
    assert h.track_batches() == []

    # a real change of the same contact does cross, and only the changed field is written
    h.brevo("PUT", f"/contacts/{contact['id']}", {"attributes": {"LIFECYCLE_STAGE": "customer-x"}})
    t2 = utcnow() - timedelta(milliseconds=500)
    result = h.reverse(*window_since(t2))
    assert result["updated"] == 1
    (op,) = _batch_ops(h)
    assert op["attributes"] == {"lifecycle_stage": "customer-x"}


def test_207_transient_items_are_resent_and_permanent_ones_ledgered_with_the_vendor_reason(h: Harness) -> None:
    for i in range(6):
        h.brevo("POST", "/contacts", {"email": f"p{i}@example.com", "attributes": {"PLAN_NAME": f"plan{i}"}})
    long_id = "x" * 200  # Customer.io ids are at most 150 bytes: a permanent per-operation error
    h.brevo("POST", "/contacts", {"email": "longid@example.com", "ext_id": long_id})
    h.sandbox.faults(vendor="track", kind="partial_207", count=1)  # first batch: every even index fails, "internal"
    h.sandbox.clear_requests()

    result = h.reverse(*window_since(THREE_DAYS_AGO()))

    batches = h.track_batches()
    assert [b["status"] for b in batches] == [207, 207]  # second send: only the long id fails again
    assert result["updated"] == 6 and result["rejected"] == 1
    for i in range(6):
        assert h.person(f"p{i}@example.com", "email")["attributes"]["plan"] == f"plan{i}"
    (line,) = h.ledger_lines(result)
    assert line["reason"] == "vendor_rejected" and line["detail"]["vendor_reason"] == "too_long"
    assert "too_long" in line["message"] and line["identifiers"]["email"] == "longid@example.com"
    assert result["rejects_by_reason"] == {"vendor_rejected": 1}

    # the rejected contact is retried by the next run only if it changes again: a re-run ledgers nothing new
    rerun = h.reverse(*window_since(THREE_DAYS_AGO()), run_id="scheduled__again")
    assert rerun["updated"] == 0 and rerun["rejected"] == 1


def test_killed_run_resumes_from_its_checkpoint_without_writing_twice(h: Harness, tmp_path: Any) -> None:
    h.seed_brevo(25, seed=6)
    config = load_config(h.config_path).customerio
    writer = CustomerIOPeopleWriter(CustomerIOTrackHook(), CustomerIOAppHook())

    class Killed(Exception):
        pass

    class DyingWriter:
        def __init__(self, after: int) -> None:
            self.after = after
            self.sent: list[str] = []
            self.batches = 0

        def send_batch(self, ops: Any) -> Any:
            if self.batches == self.after:
                raise Killed()
            self.batches += 1
            self.sent.extend(json.dumps(op["identifiers"], sort_keys=True) for op in ops)
            return writer.send_batch(ops)

        def profiles(self, ids: Any) -> Any:
            return writer.profiles(ids)

    window = RunWindow(*window_since(THREE_DAYS_AGO()))
    run_key = "dag/run/reverse"
    small = {"page_size": 5, "batch_budget_bytes": 6000}  # a batch every few pages
    with StateStore(h.state_path) as state:
        dying = DyingWriter(after=1)
        with Ledger(tmp_path / "ledger.db") as ledger:
            sync = ReverseSync(
                config=config,
                source=BrevoContactSource(BrevoHook()),
                writer=dying,
                state=state,
                ledger=ledger,
                run_key=run_key,
                **small,
            )
            with pytest.raises(Killed):
                sync.run(window=window)
        position = ReverseSync.load_checkpoint(state, run_key)["position"]
        assert 5 <= position < 25 and len(dying.sent) == position
        resumed = DyingWriter(after=99)
        with Ledger(tmp_path / "ledger.db") as ledger:
            summary = ReverseSync(
                config=config,
                source=BrevoContactSource(BrevoHook()),
                writer=resumed,
                state=state,
                ledger=ledger,
                run_key=run_key,
                **small,
            ).run(window=window)
        assert ReverseSync.load_checkpoint(state, run_key) is None  # finished runs leave no checkpoint
    assert len(dying.sent) + len(resumed.sent) == 25
    assert len(set(dying.sent) | set(resumed.sent)) == 25  # nothing written twice, nothing lost
    assert summary.read == 25 and summary.updated == 25
    assert h.sandbox.summary()["people"] == 25
    assert read_ledger(tmp_path / "ledger.db") == []


def test_manual_run_without_interval_uses_since_or_the_watermark_and_bad_input_is_explained(h: Harness) -> None:
    h.seed_brevo(3, seed=7)
    with pytest.raises(Exception, match="no data interval"):
        h.reverse(None, None)
    result = h.reverse(None, None, since=(utcnow() - timedelta(days=3)).date().isoformat())
    assert result["read"] == 3 and result["updated"] == 3
    h.brevo("POST", "/contacts", {"email": "after@example.com"})
    follow = h.reverse(None, None)  # continues from the end of the last window
    assert follow["read"] == 1 and follow["updated"] == 1
    with pytest.raises(Exception, match="conflict_policy `sometimes` is unknown"):
        h.reverse(None, None, conflict_policy="sometimes")
    dry = h.reverse(None, None, mode="full", dry_run=True)
    assert dry["dry_run"] is True and dry["read"] == 4 and dry["updated"] == 0
