"""The sandbox as unkind as the vendors: post-apply faults on every write, background processes on the sandbox clock,
read lag per surface, dynamic segments rebuilt asynchronously and object records refused after the 202.

Each new fault kind and each lag has a test here showing that it fires. Nothing waits on wall time: the sandbox
clock is frozen and moved through the control plane (``applied_timeout`` waits 0.3 s, against a 0.1 s client
timeout, because a client timing out is the point of that fault).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.integration.conftest import SandboxClient

pytestmark = pytest.mark.integration
EMAIL = "ada@example.com"


def brevo(sb: SandboxClient, method: str, path: str, body: Any = None, timeout: float = 30) -> requests.Response:
    return sb.http.request(method, f"{sb.brevo_url}{path}", json=body, headers=sb.brevo_headers, timeout=timeout)


def track(sb: SandboxClient, method: str, path: str, body: Any = None, timeout: float = 30) -> requests.Response:
    return sb.http.request(method, f"{sb.track_url}{path}", json=body, auth=sb.track_auth, timeout=timeout)


def app(sb: SandboxClient, path: str, **params: Any) -> requests.Response:
    return sb.http.get(f"{sb.app_url}{path}", params=params, headers=sb.app_headers, timeout=30)


def brevo_contact(sb: SandboxClient, email: str) -> dict[str, Any] | None:
    found = [c for c in sb._call("GET", "/brevo/contacts")["contacts"] if c.get("email") == email]
    return found[0] if found else None


def freeze(sb: SandboxClient) -> None:
    sb._call("PUT", "/clock", json={"frozen": True})


def advance(sb: SandboxClient, seconds: float) -> None:
    sb._call("POST", "/clock/advance", json={"seconds": seconds})


# ------------------------------------------------------------------------------------------ post-apply faults


@dataclass
class Write:
    """One write endpoint: how to prepare for it, the write itself, and how to see it was applied."""

    vendor: str
    setup: Callable[[SandboxClient], None]
    send: Callable[[SandboxClient, float], requests.Response]
    applied: Callable[[SandboxClient], bool]


def _nothing(sb: SandboxClient) -> None:
    return None


def _person(sb: SandboxClient) -> None:
    assert track(sb, "PUT", "/api/v1/customers/p1", {"email": EMAIL}).status_code == 200


def _contact(sb: SandboxClient) -> None:
    assert brevo(sb, "POST", "/contacts", {"email": EMAIL, "attributes": {"FIRSTNAME": "Ada"}}).status_code == 201


def _listed(sb: SandboxClient) -> None:
    _contact(sb)
    assert brevo(sb, "POST", "/contacts/lists/12/contacts/add", {"emails": [EMAIL]}).status_code == 201


def _complete_then(check: Callable[[SandboxClient], bool]) -> Callable[[SandboxClient], bool]:
    def run(sb: SandboxClient) -> bool:
        sb._call("POST", "/brevo/processes/complete")
        return check(sb)

    return run


def _events(sb: SandboxClient) -> int:
    return len(sb._call("GET", "/brevo/events")["events"])


WRITES: dict[str, Write] = {
    "track_identify": Write(
        "track",
        _nothing,
        lambda sb, t: track(sb, "PUT", "/api/v1/customers/p1", {"email": EMAIL}, t),
        lambda sb: sb.person("p1", "id") is not None,
    ),
    "track_delete": Write(
        "track",
        _person,
        lambda sb, t: track(sb, "DELETE", "/api/v1/customers/p1", None, t),
        lambda sb: sb.person("p1", "id") is None,
    ),
    "track_event": Write(
        "track",
        _person,
        lambda sb, t: track(sb, "POST", "/api/v1/customers/p1/events", {"name": "signed_up"}, t),
        lambda sb: sb.summary()["events"] == 1,
    ),
    "track_suppress": Write(
        "track",
        _person,
        lambda sb, t: track(sb, "POST", "/api/v1/customers/p1/suppress", None, t),
        lambda sb: bool(sb.summary()["suppressed"]),
    ),
    "track_v2_entity": Write(
        "track",
        _nothing,
        lambda sb, t: track(
            sb,
            "POST",
            "/api/v2/entity",
            {"type": "person", "identifiers": {"id": "p1"}, "action": "identify", "attributes": {"email": EMAIL}},
            t,
        ),
        lambda sb: sb.person("p1", "id") is not None,
    ),
    "track_v2_batch": Write(
        "track",
        _nothing,
        lambda sb, t: track(
            sb,
            "POST",
            "/api/v2/batch",
            {"batch": [{"type": "person", "identifiers": {"id": "p1"}, "action": "identify", "attributes": {}}]},
            t,
        ),
        lambda sb: sb.person("p1", "id") is not None,
    ),
    "brevo_import": Write(
        "brevo",
        _nothing,
        lambda sb, t: brevo(sb, "POST", "/contacts/import", {"jsonBody": [{"email": EMAIL}], "listIds": [12]}, t),
        _complete_then(lambda sb: brevo_contact(sb, EMAIL) is not None),
    ),
    "brevo_contact_update": Write(
        "brevo",
        _contact,
        lambda sb, t: brevo(sb, "PUT", f"/contacts/{EMAIL}", {"attributes": {"FIRSTNAME": "Grace"}}, t),
        lambda sb: (brevo_contact(sb, EMAIL) or {}).get("attributes", {}).get("FIRSTNAME") == "Grace",
    ),
    "brevo_contact_delete": Write(
        "brevo",
        _contact,
        lambda sb, t: brevo(sb, "DELETE", f"/contacts/{EMAIL}", None, t),
        lambda sb: brevo_contact(sb, EMAIL) is None,
    ),
    "brevo_list_add": Write(
        "brevo",
        _contact,
        lambda sb, t: brevo(sb, "POST", "/contacts/lists/12/contacts/add", {"emails": [EMAIL]}, t),
        lambda sb: 12 in (brevo_contact(sb, EMAIL) or {}).get("listIds", []),
    ),
    "brevo_list_remove": Write(
        "brevo",
        _listed,
        lambda sb, t: brevo(sb, "POST", "/contacts/lists/12/contacts/remove", {"emails": [EMAIL]}, t),
        lambda sb: 12 not in (brevo_contact(sb, EMAIL) or {"listIds": [12]}).get("listIds", []),
    ),
    "brevo_event": Write(
        "brevo",
        _nothing,
        lambda sb, t: brevo(sb, "POST", "/events", {"event_name": "e", "identifiers": {"email_id": EMAIL}}, t),
        lambda sb: _events(sb) == 1,
    ),
    "brevo_events_batch": Write(
        "brevo",
        _nothing,
        lambda sb, t: brevo(
            sb, "POST", "/events/batch", {"events": [{"event_name": "e", "identifiers": {"email_id": EMAIL}}]}, t
        ),
        lambda sb: _events(sb) == 1,
    ),
    "brevo_object_upsert": Write(
        "brevo",
        _nothing,
        lambda sb, t: brevo(
            sb,
            "POST",
            "/objects/companies/batch/upsert",
            {"records": [{"identifiers": {"ext_id": "acme"}, "attributes": {"name": "Acme"}}]},
            t,
        ),
        _complete_then(lambda sb: len(sb._call("GET", "/brevo/objects/companies/records")["records"]) == 1),
    ),
}


def _logged(sb: SandboxClient, vendor: str, kind: str) -> list[dict[str, Any]]:
    """The faulted request's log entry; an ``applied_timeout`` is logged when the server side ends, after the
    client gave up: bounded polling of that condition."""
    for _ in range(200):
        found = [r for r in sb.requests(vendor=vendor) if r["fault"] == kind]
        if found:
            return found
        threading.Event().wait(0.01)
    return []


@pytest.mark.parametrize("kind", ["applied_drop", "applied_5xx", "applied_timeout"])
@pytest.mark.parametrize("endpoint", sorted(WRITES))
def test_post_apply_fault_applies_the_write_and_loses_the_answer(sandbox, endpoint, kind):
    write = WRITES[endpoint]
    sandbox.ratelimits(enabled=False)
    write.setup(sandbox)
    assert not write.applied(sandbox)
    sandbox.faults(vendor=write.vendor, kind=kind, count=1, delay_s=0.3, seed=7)
    answer: requests.Response | None = None
    try:
        answer = write.send(sandbox, 0.1 if kind == "applied_timeout" else 30)
    except requests.exceptions.ReadTimeout:
        assert kind == "applied_timeout"
    except requests.exceptions.ConnectionError:
        assert kind == "applied_drop"
    if kind == "applied_5xx":
        assert answer is not None and answer.status_code == 502, answer.text
    else:
        assert answer is None, f"{kind} answered {answer.status_code if answer is not None else None}"
    logged = _logged(sandbox, write.vendor, kind)
    assert len(logged) == 1 and 200 <= logged[0]["applied_status"] < 300, logged
    assert write.applied(sandbox), f"{endpoint}: the write was not applied before the {kind}"
    assert sandbox._call("GET", "/faults")["faults"][0]["fired"] == 1


@pytest.mark.parametrize("endpoint", ["brevo_import", "brevo_events_batch", "brevo_contact_update"])
def test_hold_answer_applies_the_write_then_holds_its_true_answer(sandbox, endpoint):
    write = WRITES[endpoint]
    sandbox.ratelimits(enabled=False)
    write.setup(sandbox)
    sandbox.faults(vendor=write.vendor, kind="hold_answer", count=1, delay_s=3)
    answered = threading.Event()
    answers: list[requests.Response] = []

    def send() -> None:
        answers.append(write.send(sandbox, 60))
        answered.set()

    caller = threading.Thread(target=send)
    caller.start()
    try:
        for _ in range(500):  # bounded polling: the sandbox applied the write and now holds the answer
            if sandbox._call("GET", "/faults")["faults"][0]["applied"] == 1:
                break
            threading.Event().wait(0.005)
        seen_applied = write.applied(sandbox)
        held = not answered.is_set()
    finally:
        caller.join(timeout=60)
    assert seen_applied, f"{endpoint}: the write was not applied while its answer was held"
    assert held, f"{endpoint}: the answer was not held (the caller had it before the write was seen applied)"
    assert len(answers) == 1 and 200 <= answers[0].status_code < 300, answers  # the true answer, late
    logged = _logged(sandbox, write.vendor, "hold_answer")
    assert len(logged) == 1 and logged[0]["applied_status"] == answers[0].status_code


def test_post_apply_fault_spares_reads_and_refused_writes(sandbox):
    sandbox.ratelimits(enabled=False)
    sandbox.faults(vendor="brevo", kind="applied_5xx", count=1, path_contains="/contacts")
    assert brevo(sandbox, "GET", "/contacts").status_code == 200  # reads are never post-apply faulted
    refused = brevo(sandbox, "PUT", "/contacts/nobody@example.com", {"attributes": {"FIRSTNAME": "X"}})
    assert refused.status_code == 404  # not applied: the vendor's own answer goes through, the fault is kept
    assert sandbox._call("GET", "/faults")["faults"][0]["remaining"] == 1
    assert brevo(sandbox, "POST", "/contacts", {"email": EMAIL}).status_code == 502  # applied, answer lost
    assert brevo_contact(sandbox, EMAIL) is not None


def test_post_apply_rate_is_seeded_and_repeatable(sandbox):
    sandbox.ratelimits(enabled=False)

    def pattern() -> list[int]:
        sandbox.clear_faults()
        sandbox.faults(vendor="track", kind="applied_5xx", rate=0.3, seed=42, status=503)
        return [track(sandbox, "PUT", f"/api/v1/customers/p{i}", {"n": i}).status_code for i in range(40)]

    first, second = pattern(), pattern()
    assert first == second and 503 in first and 200 in first
    assert all(sandbox.person(f"p{i}", "id") is not None for i in range(40))  # every write applied


def test_fault_spec_errors_for_the_new_kinds(sandbox):
    for spec, field in (
        ({"vendor": "track", "kind": "import_failure", "count": 1}, "vendor"),
        ({"vendor": "brevo", "kind": "applied_drop", "count": 1, "status": 502}, "status"),
        ({"vendor": "brevo", "kind": "applied_5xx", "count": 1, "colour": 1}, "colour"),
    ):
        resp = sandbox.http.post(f"{sandbox.control_url}/faults", json=spec, timeout=10)
        assert resp.status_code == 400 and resp.json()["error"].startswith(field), resp.text


# --------------------------------------------------------------------------------- one fault mechanism


def test_brevo_processing_faults_live_in_the_one_injector(sandbox):
    sandbox.ratelimits(enabled=False)
    sandbox.faults(vendor="brevo", kind="import_failure", count=1)  # through the generic control plane
    sandbox._call("POST", "/brevo/faults", json={"kind": "events_partial_207", "count": 1})  # the Brevo alias
    kinds = [f["kind"] for f in sandbox._call("GET", "/faults")["faults"]]
    assert kinds == ["import_failure", "events_partial_207"]
    pid = brevo(sandbox, "POST", "/contacts/import", {"jsonBody": [{"email": EMAIL}], "listIds": [12]}).json()
    sandbox._call("POST", "/brevo/processes/complete")
    assert brevo(sandbox, "GET", f"/processes/{pid['processId']}").json()["status"] == "failed"
    sandbox.clear_faults()
    assert sandbox._call("GET", "/brevo/faults")["faults"] == []


def test_import_partial_applies_part_of_the_rows_then_fails(sandbox):
    sandbox.ratelimits(enabled=False)
    sandbox.faults(vendor="brevo", kind="import_partial", count=1)
    rows = [{"email": f"u{i}@example.com"} for i in range(10)]
    pid = brevo(sandbox, "POST", "/contacts/import", {"jsonBody": rows, "listIds": [12]}).json()["processId"]
    sandbox._call("POST", "/brevo/processes/complete")
    proc = brevo(sandbox, "GET", f"/processes/{pid}").json()
    assert proc["status"] == "failed" and "5 of 10" in proc["error"]
    assert len(sandbox._call("GET", "/brevo/contacts")["contacts"]) == 5


# ------------------------------------------------------------------------------------ the sandbox clock


def test_clock_frozen_ticks_per_request_and_advances(sandbox):
    freeze(sandbox)
    t0 = sandbox._call("GET", "/clock")["now"]
    assert sandbox._call("GET", "/clock")["now"] == t0  # frozen: wall time does not move it
    sandbox._call("PUT", "/clock", json={"tick_s": 2})
    brevo(sandbox, "GET", "/account")
    brevo(sandbox, "GET", "/account")
    assert sandbox._call("GET", "/clock")["now"] == t0 + 4
    advance(sandbox, 100)
    assert sandbox._call("GET", "/clock")["now"] == t0 + 104
    sandbox.reset()
    assert sandbox._call("GET", "/clock")["frozen"] is False  # defaults: wall time, no tick


def test_background_import_runs_on_the_clock_not_on_polls(sandbox):
    sandbox.ratelimits(enabled=False)
    freeze(sandbox)
    sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": 10, "queue_s": 5})
    rows = [{"email": f"u{i}@example.com"} for i in range(100)]  # 100 rows at 10/s: 10 s after 5 s queued
    pid = brevo(sandbox, "POST", "/contacts/import", {"jsonBody": rows, "listIds": [12]}).json()["processId"]
    statuses = [brevo(sandbox, "GET", f"/processes/{pid}").json()["status"] for _ in range(20)]
    assert set(statuses) == {"queued"}  # polling does not move it
    advance(sandbox, 5)
    assert brevo(sandbox, "GET", f"/processes/{pid}").json()["status"] == "processing"
    assert not sandbox._call("GET", "/brevo/contacts")["contacts"]
    advance(sandbox, 10)
    # done in the background: the contacts are there before anyone polls the process again
    assert len(sandbox._call("GET", "/brevo/contacts")["contacts"]) == 100
    assert brevo(sandbox, "GET", f"/processes/{pid}").json()["status"] == "completed"


def _import(sb: SandboxClient, n: int, prefix: str) -> int:
    rows = [{"email": f"{prefix}{i}@example.com"} for i in range(n)]
    resp = brevo(sb, "POST", "/contacts/import", {"jsonBody": rows, "listIds": [12]})
    assert resp.status_code == 202, resp.text
    return int(resp.json()["processId"])


def _status(sb: SandboxClient, pid: int) -> str:
    return str(brevo(sb, "GET", f"/processes/{pid}").json()["status"])


def test_an_accounts_imports_run_one_after_the_other_by_default(sandbox):
    """Brevo: "Do not import multiple files at the same time. Wait for your current import to finish before
    starting a new one." The second import stays queued, however often it is polled, until the first is done."""
    sandbox.ratelimits(enabled=False)
    freeze(sandbox)
    sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": 10, "queue_s": 1})  # serial: default
    first, second = _import(sandbox, 100, "a"), _import(sandbox, 50, "b")  # 1 + 10 s, then 5 s
    advance(sandbox, 2)
    assert (_status(sandbox, first), _status(sandbox, second)) == ("processing", "queued")
    advance(sandbox, 8.5)  # 10.5 s: the first still runs, the second waits although its own queue_s is long past
    assert [_status(sandbox, second) for _ in range(5)] == ["queued"] * 5
    assert _status(sandbox, first) == "processing"
    advance(sandbox, 1)  # 11.5 s: the first ended at 11 s, the second started then
    assert (_status(sandbox, first), _status(sandbox, second)) == ("completed", "processing")
    assert len(sandbox._call("GET", "/brevo/contacts")["contacts"]) == 100
    advance(sandbox, 5)  # 16.5 s: the second ended at 16 s
    assert _status(sandbox, second) == "completed"
    timeline = {p: sandbox._call("GET", f"/brevo/processes/{p}")["sandbox"] for p in (first, second)}
    assert timeline[second]["starts_at"] == timeline[first]["ended_at"]  # back to back, never overlapping


def test_parallel_imports_stay_an_option(sandbox):
    sandbox.ratelimits(enabled=False)
    freeze(sandbox)
    sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": 10, "queue_s": 1, "serial": False})
    first, second = _import(sandbox, 100, "a"), _import(sandbox, 50, "b")
    advance(sandbox, 2)
    assert (_status(sandbox, first), _status(sandbox, second)) == ("processing", "processing")
    advance(sandbox, 5)  # 7 s: the second (1 + 5 s) ended while the first runs
    assert (_status(sandbox, first), _status(sandbox, second)) == ("processing", "completed")
    with pytest.raises(AssertionError, match="serial"):
        sandbox._call("POST", "/brevo/processes/settings", json={"serial": "yes"})


def test_a_process_outlives_the_clients_timeout_and_finishes_later(sandbox, monkeypatch):
    from airflow_provider_customerio.exceptions import ProcessTimeoutError
    from airflow_provider_customerio.hooks.brevo import BrevoHook

    sandbox.ratelimits(enabled=False)
    sandbox.set_airflow_env(monkeypatch)
    freeze(sandbox)
    sandbox._call("POST", "/brevo/processes/settings", json={"rate_per_s": 1})
    hook = BrevoHook(rate_limit=0)
    pid = hook.import_contacts(json_body=[{"email": f"u{i}@example.com"} for i in range(600)], list_ids=[12])
    from airflow_provider_customerio.adapters.brevo_imports import BrevoImports

    with pytest.raises(ProcessTimeoutError):
        BrevoImports(hook, poll_interval=0.01).wait([pid], timeout=0.05)
    advance(sandbox, 601)  # 600 rows at 1/s after the default queue_s (0.2 s)
    assert hook.get_process(pid)["status"] == "completed"
    assert len(sandbox._call("GET", "/brevo/contacts")["contacts"]) == 600


def test_customerio_export_runs_on_the_clock(sandbox):
    sandbox.ratelimits(enabled=False)
    sandbox.seed(people=50, seed=1)
    freeze(sandbox)
    sandbox.settings(export_rate_per_s=5, export_queue_s=1)
    body = {"filters": {"and": [{"attribute": {"field": "email", "operator": "exists"}}]}}
    resp = sandbox.http.post(f"{sandbox.app_url}/v1/exports/customers", json=body, headers=sandbox.app_headers)
    assert resp.status_code == 200, resp.text
    export_id = resp.json()["export"]["id"]
    assert {app(sandbox, f"/v1/exports/{export_id}").json()["export"]["status"] for _ in range(10)} == {"pending"}
    advance(sandbox, 11)
    assert app(sandbox, f"/v1/exports/{export_id}").json()["export"]["status"] == "done"


def test_filtered_export_takes_the_workspace_time_and_has_a_bound_on_conditions(sandbox):
    """Customer.io publishes neither how long a filtered export takes nor how many conditions a filter may hold:
    a filter naming two people takes as long as the whole workspace, and more than max_filter_conditions is a 400."""
    sandbox.ratelimits(enabled=False)
    sandbox.seed(people=50, seed=1)
    freeze(sandbox)
    sandbox.settings(export_rate_per_s=5, export_queue_s=1, max_filter_conditions=3)
    people = sandbox.http.post(
        f"{sandbox.app_url}/v1/customers",
        json={"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}},
        headers=sandbox.app_headers,
        timeout=10,
    ).json()["identifiers"]
    two = [people[0]["cio_id"], people[1]["cio_id"]]
    eqs = [{"attribute": {"field": "cio_id", "operator": "eq", "value": c}} for c in two]
    url = f"{sandbox.app_url}/v1/exports/customers"
    resp = sandbox.http.post(url, json={"filters": {"or": eqs}}, headers=sandbox.app_headers)
    assert resp.status_code == 200, resp.text
    export_id = resp.json()["export"]["id"]
    advance(sandbox, 5)  # 2 people would be done in 1.4 s; the workspace's 50 take 11
    assert app(sandbox, f"/v1/exports/{export_id}").json()["export"]["status"] == "pending"
    advance(sandbox, 7)
    done = app(sandbox, f"/v1/exports/{export_id}").json()["export"]
    assert (done["status"], done["total"]) == ("done", 2)
    four = {"or": [*eqs, *eqs]}
    resp = sandbox.http.post(url, json={"filters": four}, headers=sandbox.app_headers)
    assert resp.status_code == 400 and "at most 3" in resp.text


# --------------------------------------------------------------------------------------------- read lag


def test_lag_settings_default_to_zero_and_validate(sandbox):
    assert set(sandbox._call("GET", "/lag").values()) == {0.0}
    resp = sandbox.http.put(f"{sandbox.control_url}/lag", json={"brevo_eventz": 1}, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"].startswith("brevo_eventz")


def test_brevo_events_read_lag(sandbox):
    sandbox.ratelimits(enabled=False)
    freeze(sandbox)
    sandbox._call("PUT", "/lag", json={"brevo_events": 30})
    assert brevo(sandbox, "POST", "/events", {"event_name": "e", "identifiers": {"email_id": EMAIL}}).status_code == 204
    assert brevo(sandbox, "GET", "/events").json()["events"] == []  # accepted, not yet readable
    assert _events(sandbox) == 1
    advance(sandbox, 30)
    assert len(brevo(sandbox, "GET", "/events").json()["events"]) == 1


def test_brevo_contacts_read_lag(sandbox):
    sandbox.ratelimits(enabled=False)
    _contact(sandbox)
    freeze(sandbox)
    sandbox._call("PUT", "/lag", json={"brevo_contacts": 20})
    assert brevo(sandbox, "PUT", f"/contacts/{EMAIL}", {"attributes": {"FIRSTNAME": "Grace"}}).status_code == 204
    _new = brevo(sandbox, "POST", "/contacts", {"email": "new@example.com"})
    assert brevo(sandbox, "GET", f"/contacts/{EMAIL}").json()["attributes"]["FIRSTNAME"] == "Ada"  # stale
    assert brevo(sandbox, "GET", "/contacts/new@example.com").status_code == 404  # not yet readable
    assert [c["email"] for c in brevo(sandbox, "GET", "/contacts").json()["contacts"]] == [EMAIL]
    advance(sandbox, 20)
    assert brevo(sandbox, "GET", f"/contacts/{EMAIL}").json()["attributes"]["FIRSTNAME"] == "Grace"
    assert brevo(sandbox, "GET", "/contacts/new@example.com").status_code == 200
    assert len(brevo(sandbox, "GET", "/contacts").json()["contacts"]) == 2


def test_customerio_activity_feed_lag(sandbox):
    sandbox.ratelimits(enabled=False)
    freeze(sandbox)
    sandbox._call("PUT", "/lag", json={"cio_activities": 15})
    _person(sandbox)
    assert track(sandbox, "POST", "/api/v1/customers/p1/events", {"name": "signed_up"}).status_code == 200
    assert app(sandbox, "/v1/activities", customer_id="p1").json()["activities"] == []
    advance(sandbox, 15)
    types = {a["type"] for a in app(sandbox, "/v1/activities", customer_id="p1").json()["activities"]}
    assert "event" in types, types


def test_dynamic_segment_is_rebuilt_in_the_background(sandbox):
    sandbox.ratelimits(enabled=False)
    freeze(sandbox)
    for i in range(6):
        track(sandbox, "PUT", f"/api/v1/customers/p{i}", {"plan": "pro" if i < 2 else "free"})
    created = sandbox.http.post(
        f"{sandbox.app_url}/v1/segments", json={"segment": {"name": "Pro"}}, headers=sandbox.app_headers, timeout=10
    ).json()["segment"]
    seg = created["id"]
    assert (
        sandbox._call("PUT", f"/customerio/segments/{seg}/rule", json={"attribute": "plan", "equals": "pro"})["count"]
        == 2
    )
    sandbox._call("PUT", "/lag", json={"cio_segments": 60})

    def members() -> set[str]:
        return {i["id"] for i in app(sandbox, f"/v1/segments/{seg}/membership").json()["identifiers"]}

    track(sandbox, "PUT", "/api/v1/customers/p3", {"plan": "pro"})
    track(sandbox, "PUT", "/api/v1/customers/p0", {"plan": "free"})
    assert app(sandbox, f"/v1/segments/{seg}").json()["segment"]["state"] == "build"
    assert members() == {"p0", "p1"}  # the old membership until the rebuild finishes
    advance(sandbox, 60)
    assert app(sandbox, f"/v1/segments/{seg}").json()["segment"]["state"] == "finished"
    assert members() == {"p1", "p3"}


# ------------------------------------------------------------------------- objects refused after the 202


def test_object_records_refused_in_the_background_surface_in_the_process(sandbox):
    sandbox.ratelimits(enabled=False)
    sandbox._call("POST", "/brevo/faults", json={"kind": "object_reject", "count": 1})
    records = [{"identifiers": {"ext_id": f"c{i}"}, "attributes": {"name": f"C{i}"}} for i in range(3)]
    resp = brevo(sandbox, "POST", "/objects/companies/batch/upsert", {"records": records})
    assert resp.status_code == 202
    sandbox._call("POST", "/brevo/processes/complete")
    proc = brevo(sandbox, "GET", f"/processes/{resp.json()['processId']}").json()
    assert proc["status"] == "completed" and proc["error"].startswith("1 of 3 records rejected: records[0]")
    stored = {r["identifiers"]["ext_id"] for r in sandbox._call("GET", "/brevo/objects/companies/records")["records"]}
    assert stored == {"c1", "c2"}


def test_defaults_are_kind(sandbox):
    """No faults, no lag: the demo's sandbox. Imports and exports take time on the sandbox clock (the unkind
    reading: one import at a time per account), at a rate that ends a test's small import at once."""
    assert sandbox._call("GET", "/faults")["faults"] == []
    assert set(sandbox._call("GET", "/lag").values()) == {0.0}
    settings = sandbox._call("GET", "/brevo/processes/settings")
    assert settings == {
        "polls_to_complete": 2,
        "running_status": "processing",
        "rate_per_s": 20_000.0,
        "queue_s": 0.2,
        "serial": True,
    }
    cio = sandbox._call("GET", "/customerio/settings")
    assert (cio["export_rate_per_s"], cio["export_queue_s"]) == (20_000.0, 0.2)
