"""BrevoHook with requests-mock: imports, process waits, lists, events, contacts, objects."""

from __future__ import annotations

import json

import pytest

from airflow_provider_customerio.exceptions import (
    ConfigError,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook


# ---------------------------------------------------------------------------------------------- Brevo
def test_import_contacts_body(brevo, requests_mock):
    requests_mock.post("https://api.brevo.com/v3/contacts/import", status_code=202, json={"processId": 78})
    pid = brevo.import_contacts(json_body=[{"email": "a@b.co", "attributes": {"FIRSTNAME": "A"}}], list_ids=[12])
    assert pid == 78
    body = requests_mock.last_request.json()
    assert body["jsonBody"][0]["email"] == "a@b.co"
    assert body["listIds"] == [12]
    assert body["updateExistingContacts"] is True


def test_list_members_bounds_and_already_member(brevo, requests_mock):
    with pytest.raises(ValueError, match="at most 150"):
        brevo.add_contacts_to_list(12, emails=[f"{i}@x.io" for i in range(151)])
    with pytest.raises(ValueError, match="exactly one"):
        brevo.add_contacts_to_list(12, emails=["a@x.io"], ids=[1])
    requests_mock.post(
        "https://api.brevo.com/v3/contacts/lists/12/contacts/add",
        status_code=400,
        json={"code": "invalid_parameter", "message": "Contact already in list and/or does not exist"},
    )
    assert brevo.add_contacts_to_list(12, ext_ids=["1"]) == {"success": [], "failure": ["1"]}
    assert requests_mock.last_request.json() == {"extIds": ["1"]}


def test_events_batch_207(brevo, requests_mock):
    requests_mock.post(
        "https://api.brevo.com/v3/events/batch",
        status_code=207,
        json={"status": "partial", "errors": [{"eventIndex": [0, 2], "message": "invalid identifiers"}]},
    )
    result = brevo.create_events_batch([{"event_name": "a"}] * 3)
    assert result.failed_indexes == {0, 2}
    assert requests_mock.last_request.json() == {"events": [{"event_name": "a"}] * 3}


def test_delete_contact_twice_is_not_an_error(brevo, requests_mock):
    requests_mock.delete(
        "https://api.brevo.com/v3/contacts/77?identifierType=ext_id",
        [
            {"status_code": 204},
            {"status_code": 404, "json": {"code": "document_not_found", "message": "Contact does not exist"}},
        ],
    )
    assert brevo.delete_contact("77", identifier_type="ext_id") is True
    assert brevo.delete_contact("77", identifier_type="ext_id") is False
    with pytest.raises(ConfigError, match="identifier_type"):
        brevo.delete_contact("77", identifier_type="extid")


def test_brevo_duplicate_error_carries_metadata(brevo, requests_mock):
    requests_mock.post(
        "https://api.brevo.com/v3/contacts",
        status_code=400,
        json={
            "code": "duplicate_parameter",
            "message": "Unable to create contact",
            "metadata": {"duplicate_identifiers": ["email"]},
        },
    )
    from airflow_provider_customerio.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        brevo.create_contact(email="a@b.co")
    assert info.value.errors[0]["metadata"] == {"duplicate_identifiers": ["email"]}
    assert "duplicate_parameter" in str(info.value)


def test_brevo_other_endpoints_have_hourly_budget(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"other_requests_per_hour": 360})
    hook = BrevoHook()
    assert hook._limiter_for("/processes/1").rate == pytest.approx(0.1)
    assert hook._limiter_for("/contacts/import") is hook.rate_limiter
    assert hook._limiter_for("/events/batch") is hook.events_limiter


def test_upsert_object_records(brevo, requests_mock):
    requests_mock.post(
        "https://api.brevo.com/v3/objects/companies/batch/upsert",
        status_code=202,
        json={"processId": 21, "message": "ok"},
    )
    assert (
        brevo.upsert_object_records("companies", [{"identifiers": {"ext_id": "acme"}, "attributes": {"name": "Acme"}}])
        == 21
    )
    assert json.loads(requests_mock.last_request.body)["records"][0]["identifiers"] == {"ext_id": "acme"}


def test_object_records_paging(brevo, requests_mock):
    requests_mock.get(
        "https://api.brevo.com/v3/objects/companies/records",
        [
            {"json": {"count": 3, "records": [{"identifiers": {"ext_id": "a"}}, {"identifiers": {"ext_id": "b"}}]}},
            {"json": {"count": 3, "records": [{"identifiers": {"ext_id": "c"}}]}},
        ],
    )
    ids = [r["identifiers"]["ext_id"] for r in brevo.iter_object_records("companies", limit=2, association=True)]
    assert ids == ["a", "b", "c"]
    assert requests_mock.request_history[1].qs == {
        "limit": ["2"],
        "page_num": ["2"],
        "sort": ["asc"],
        "association": ["true"],
    }


def test_iter_events_query(brevo, requests_mock):
    requests_mock.get("https://api.brevo.com/v3/events", json={"events": [{"event_name": "A"}], "count": 1})
    assert list(brevo.iter_events(event_names=["A", "B"], start_date="2026-01-01", end_date="2026-01-02")) == [
        {"event_name": "A"}
    ]
    assert requests_mock.last_request.qs["event_name"] == ["a", "b"]
    with pytest.raises(ValueError, match="both"):
        brevo.iter_events(start_date="2026-01-01")


# ------------------------------------------------------------------- the hourly budget, shared through the store
class SharedClock:
    """One wall clock for every hook (the machines agree on time); a hook's sleep moves it on."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _shared_hook(store_path, clock: SharedClock) -> BrevoHook:
    from airflow_provider_customerio.store.sync_store import SyncStore

    hook = BrevoHook(rate_limit=0)
    hook._sleep = clock.sleep
    hook.share_hourly_budget(SyncStore.at(store_path).request_budget(), clock=clock)  # an engine of its own
    return hook


def test_two_hooks_sharing_the_store_never_exceed_the_accounts_hourly_budget(airflow_conn, requests_mock, tmp_path):
    """Two tasks' hooks (each on its own engine of one store) poll ``/processes`` in turns: together at most the
    plan's 100 calls in any sliding hour, where a budget per hook would let 200 through at once."""
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-key", extra={"plan": "general"})
    clock = SharedClock()
    sent: list[float] = []
    requests_mock.get(
        "https://api.brevo.com/v3/processes/7",
        json=lambda request, context: sent.append(clock()) or {"id": 7, "status": "in_process"},
    )
    hooks = [_shared_hook(tmp_path / "store.db", clock) for _ in range(2)]
    for i in range(260):
        hooks[i % 2].get_process(7)
    assert len(sent) == 260
    windows = [sum(1 for s in sent if t <= s < t + 3600) for t in sent]
    assert max(windows) == 100  # the plan's budget, for both hooks together
    # each hour's calls go once the first of the hour before has left it, with the skew margin (30 s)
    assert sent[99] == sent[0] and sent[100] == sent[0] + 3630 and sent[200] == sent[0] + 7260
    assert hooks[0].other_limiter.account == hooks[1].other_limiter.account != "brevo-key"
    assert "brevo-key" not in hooks[0].other_limiter.account


def test_the_shared_budget_follows_the_plan_and_its_override(airflow_conn, tmp_path):
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"plan": "extended"})
    clock = SharedClock()
    assert _shared_hook(tmp_path / "a.db", clock).other_limiter.limit == 600
    airflow_conn(
        "brevo_default", conn_type="brevo", password="k", extra={"plan": "advanced", "other_requests_per_hour": 50}
    )
    assert _shared_hook(tmp_path / "b.db", clock).other_limiter.limit == 50
