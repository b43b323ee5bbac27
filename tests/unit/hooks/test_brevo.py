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
