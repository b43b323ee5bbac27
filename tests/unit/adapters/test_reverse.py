"""The reverse sync's adapters over a mocked API (requests-mock, hook level): Brevo contacts read as the
:class:`ContactSource`, Customer.io Track batches and App profiles as the :class:`PeopleWriter`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_customerio.adapters.reverse import BrevoContactSource, CustomerIOPeopleWriter
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.sync.reverse.ports import BatchError, ContactSource, PeopleWriter

BREVO = "https://api.brevo.com/v3"


@pytest.fixture
def source(airflow_conn: Any) -> ContactSource:
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-key")
    return BrevoContactSource(BrevoHook(rate_limit=0))  # typed: mypy checks the Protocol


@pytest.fixture
def writer(airflow_conn: Any) -> PeopleWriter:
    airflow_conn("customerio_track_default", conn_type="customerio_track", login="site-1", password="track-key")
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="app-key")
    return CustomerIOPeopleWriter(CustomerIOTrackHook(rate_limit=0), CustomerIOAppHook(rate_limit=0))


def test_contacts_are_read_oldest_first_from_one_millisecond_before_the_mark(source, requests_mock) -> None:
    requests_mock.get(
        f"{BREVO}/contacts",
        json={
            "contacts": [
                {"id": 7, "email": "a@x.io", "ext_id": "u7", "attributes": {"plan": "pro"}, "modifiedAt": 1000},
                {"id": 8, "emailBlacklisted": True, "createdAt": "2026-01-01T00:00:00.000Z"},
            ],
            "count": 2,
        },
    )
    contacts = list(source.iter_modified(datetime(2026, 3, 1, tzinfo=timezone.utc)))
    assert [(c.id, c.ext_id, c.attributes.get("PLAN"), c.modified_at) for c in contacts] == [
        (7, "u7", "pro", 1000),
        (8, None, None, 1767225600000),
    ]
    assert contacts[1].email_blacklisted
    qs = requests_mock.last_request.qs
    assert qs["modifiedsince"] == ["2026-02-28t23:59:59.999z"] and qs["sort"] == ["asc"] and qs["limit"] == ["1000"]


def test_a_contact_brevo_no_longer_has_does_not_exist(source, requests_mock) -> None:
    requests_mock.get(f"{BREVO}/contacts/5", json={"id": 5})
    requests_mock.get(f"{BREVO}/contacts/6", status_code=404, json={"code": "document_not_found", "message": "x"})
    assert source.contact_exists(5) and not source.contact_exists(6)
    assert requests_mock.last_request.qs["identifiertype"] == ["contact_id"]


def test_a_207_answer_becomes_batch_errors_by_operation(writer, requests_mock) -> None:
    requests_mock.post(
        "https://track.customer.io/api/v2/batch",
        status_code=207,
        json={"errors": [{"batch_index": 1, "reason": "internal", "field": "email", "message": "try later"}]},
    )
    ops = [{"type": "person", "action": "identify", "identifiers": {"id": str(i)}} for i in range(2)]
    assert writer.send_batch(ops) == [BatchError(index=1, reason="internal", message="try later", field="email")]
    assert requests_mock.last_request.json() == {"batch": ops}


def test_profiles_carry_the_time_of_each_attribute_change(writer, requests_mock) -> None:
    requests_mock.post(
        "https://api.customer.io/v1/customers/attributes",
        json={
            "customers": [
                {
                    "customer": {
                        "identifiers": {"cio_id": "c1", "id": "u1", "email": "a@x.io"},
                        "attributes": {"plan": "pro"},
                        "timestamps": {"plan": 1700000100, "email": 1700000000, "bad": True},
                    }
                },
                {"identifiers": {"cio_id": "c2"}, "attributes": {}},
            ]
        },
    )
    p1, p2 = writer.profiles(["c1", "c2"])
    assert (p1.person.cio_id, p1.person.id, p1.person.attributes) == ("c1", "u1", {"plan": "pro"})
    assert p1.changed_at == 1700000100 and p1.field_times == {"plan": 1700000100, "email": 1700000000}
    assert p2.person.cio_id == "c2" and p2.changed_at is None and p2.field_times == {}
    assert requests_mock.last_request.json() == {"ids": ["c1", "c2"]}
