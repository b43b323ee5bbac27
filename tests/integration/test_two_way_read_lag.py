"""Two-way people sync while the vendors are slow to agree (real HTTP against the sandbox, both real operators).

Customer.io applies Track writes after answering them, and Brevo's contact reads lag behind its imports. A sync
that reads the side the other direction has just written may see the old value; it must take it for the stale
read it is, not for a change, or it writes the old value back over the edit it had just carried over (silent data
loss). The sandbox's ``cio_people`` and ``brevo_contacts`` lag surfaces run on its clock, frozen here and advanced
to let the reads catch up.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_customerio.sandbox.server import SandboxServer
from airflow_provider_customerio.store.state import TO_BREVO, TO_CIO, StateStore
from tests.integration.test_reverse_helpers import Harness, utcnow, window_since

pytestmark = pytest.mark.integration
LAG_S = 120


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    """This module's own sandbox: a request another test's fault still holds cannot land in its request log."""
    server = SandboxServer(host="127.0.0.1", port=0, seed_people=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def h(sandbox: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    harness = Harness(sandbox, tmp_path, monkeypatch)
    sandbox._call("PUT", "/clock", json={"frozen": True})  # the lag moves only when the test advances the clock
    # a frozen clock holds background work: Brevo processes and Customer.io exports end on polls instead
    sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": None})
    sandbox._call("PUT", "/customerio/settings", json={"export_rate_per_s": None})
    return harness


def _person(h: Harness) -> None:
    h.track_identify(
        {"id": "u0"},
        {"email": "user0@example.com", "first_name": "Ada", "plan": "free", "mrr": 10, "lifecycle_stage": "lead"},
    )


def _app_plan(h: Harness) -> str:
    """``plan`` as the App API reads it now (what the forward sync sees)."""
    resp = h.http.get(f"{h.sandbox.app_url}/v1/customers/u0/attributes", headers=h.sandbox.app_headers, timeout=30)
    return str(resp.json()["customer"]["attributes"]["plan"])


#: Brevo writes that change no contact (set-up a run may repeat: attribute, folder and list creation).
_SETUP_PATHS = ("/contacts/attributes/", "/contacts/folders", "/contacts/lists?", "/contacts/lists")


def _contact_writes(h: Harness) -> list[str]:
    out = []
    for r in h.brevo_writes():
        path = str(r.get("path", ""))
        if path.endswith(_SETUP_PATHS) or "/contacts/attributes/" in path:
            continue
        out.append(f"{r.get('method')} {path} -> {r.get('status')}")
    return out


def _writes(h: Harness) -> tuple[int, int]:
    """(Track batches, Brevo writes to contacts) logged since the last clear; a mismatch names the writes."""
    writes = _contact_writes(h)
    if writes:
        print("Brevo contact writes:", writes)
    return len(h.track_batches()), len(writes)


def _own_writes(h: Harness, direction: str) -> dict[str, Any]:
    store = StateStore(h.state_path)
    try:
        cio_id = h.person("u0", "id")["cio_id"]
        return store.get_own_writes(direction, [cio_id])
    finally:
        store.close()


def test_a_brevo_edit_survives_forward_syncs_that_read_customerio_before_it_applied_the_write(h: Harness) -> None:
    t0 = utcnow() - timedelta(seconds=1)
    _person(h)
    h.forward(*window_since(t0))
    h.reverse(*window_since(t0))  # both sides agree on plan = free
    (contact,) = h.brevo_contacts()
    h.sandbox._call("PUT", "/lag", json={"cio_people": LAG_S})

    t1 = utcnow().replace(microsecond=0)
    h.brevo("PUT", f"/contacts/{contact['id']}", {"attributes": {"PLAN_NAME": "enterprise"}})  # a marketer's edit
    rev = h.reverse(*window_since(t1))  # carries it to Customer.io (Track): accepted, not yet read
    assert rev["updated"] == 1
    assert h.person("u0", "id")["attributes"]["plan"] == "enterprise" and _app_plan(h) == "free"

    full = h.forward(*window_since(t1), mode="full")  # the export shows plan = free (no timestamps)
    assert h.brevo_contacts()[0]["attributes"]["PLAN_NAME"] == "enterprise"
    incremental = h.forward(*window_since(t1))  # the feed names u0; the profile read shows plan = free
    assert h.brevo_contacts()[0]["attributes"]["PLAN_NAME"] == "enterprise"
    for run in (full, incremental):
        assert run["imports"] == 0 and run["stale_reads"] == 1 and run["rejected"] == 0
    assert _app_plan(h) == "free"  # still inside the lag

    h.sandbox._call("POST", "/clock/advance", json={"seconds": LAG_S})
    assert _app_plan(h) == "enterprise"
    h.sandbox.clear_requests()
    for n in range(2):  # no ping-pong: forward (incremental and full) and reverse rounds write nothing
        h.forward(*window_since(t1))
        h.forward(*window_since(t1), mode="full")
        h.reverse(*window_since(t1), run_id=f"scheduled__after_{n}")
    assert _writes(h) == (0, 0)
    assert h.person("u0", "id")["attributes"]["plan"] == "enterprise"
    assert h.brevo_contacts()[0]["attributes"]["PLAN_NAME"] == "enterprise"
    assert _own_writes(h, TO_CIO) == {}  # read back: forgotten


def test_a_customerio_edit_survives_a_reverse_sync_that_reads_brevo_before_the_import_applied(h: Harness) -> None:
    t0 = utcnow() - timedelta(seconds=1)
    _person(h)
    h.forward(*window_since(t0))  # Brevo has the contact (plan = free); the reverse sync has not run yet
    h.sandbox._call("PUT", "/lag", json={"brevo_contacts": LAG_S})

    t1 = utcnow().replace(microsecond=0)
    h.track_identify({"id": "u0"}, {"plan": "pro"})  # a Customer.io edit
    fwd = h.forward(*window_since(t1))  # carries it to Brevo: the import completed, contact reads lag
    assert fwd["imports"] == 1
    assert h.brevo_contacts()[0]["attributes"]["PLAN_NAME"] == "pro"  # the control plane: applied

    rev = h.reverse(*window_since(t0))  # reads the contact as it was before the import (plan = free)
    assert h.person("u0", "id")["attributes"]["plan"] == "pro"
    assert rev["updated"] == 0 and rev["stale_reads"] == 1 and rev["conflicts"] == {}
    assert _own_writes(h, TO_BREVO) != {}  # not yet read back

    h.sandbox._call("POST", "/clock/advance", json={"seconds": LAG_S})
    h.sandbox.clear_requests()
    for n in range(2):
        h.reverse(*window_since(t0), run_id=f"scheduled__after_{n}")
        h.forward(*window_since(t1))
    assert _writes(h) == (0, 0)
    assert h.person("u0", "id")["attributes"]["plan"] == "pro"
    assert h.brevo_contacts()[0]["attributes"]["PLAN_NAME"] == "pro"
    assert _own_writes(h, TO_BREVO) == {}


def test_a_brevo_unsubscribe_is_not_undone_or_rewritten_by_forward_syncs_inside_the_lag(h: Harness) -> None:
    t0 = utcnow() - timedelta(seconds=1)
    _person(h)
    h.forward(*window_since(t0))
    h.reverse(*window_since(t0))
    (contact,) = h.brevo_contacts()
    h.sandbox._call("PUT", "/lag", json={"cio_people": LAG_S})

    t1 = utcnow().replace(microsecond=0)
    h.brevo("PUT", f"/contacts/{contact['id']}", {"emailBlacklisted": True})
    rev = h.reverse(*window_since(t1))
    assert rev["unsubscribed"] == 1 and h.person("u0", "id")["unsubscribed"] is True
    h.sandbox.clear_requests()
    for mode in ("full", "incremental"):  # Customer.io still reads unsubscribed = false
        run = h.forward(*window_since(t1), mode=mode)
        assert run["imports"] == 0 and run["stale_reads"] == 1
    assert h.brevo_contacts()[0]["emailBlacklisted"] is True

    h.sandbox._call("POST", "/clock/advance", json={"seconds": LAG_S})
    h.forward(*window_since(t1))
    h.reverse(*window_since(t1), run_id="scheduled__after")
    assert _writes(h) == (0, 0)
    assert _own_writes(h, TO_CIO) == {}
