"""The people sync's Brevo adapter over a mocked API (requests-mock, hook level): attributes read, a blacklist of a
contact Brevo no longer has is no error."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.adapters.people import BrevoContactSink
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.retry import RetryPolicy

BASE = "https://api.brevo.test/v3"


@pytest.fixture
def sink(airflow_conn: Any) -> BrevoContactSink:
    airflow_conn("brevo_t", conn_type="brevo", host=BASE, password="k")
    hook = BrevoHook("brevo_t", retry_policy=RetryPolicy(max_attempts=1, backoff_base=0), rate_limit=0)
    return BrevoContactSink(hook)


def test_attributes_are_read_with_their_types(sink: BrevoContactSink, requests_mock: Any) -> None:
    requests_mock.get(f"{BASE}/contacts/attributes", json={"attributes": [{"name": "PLAN", "type": "text"}]})
    (attr,) = sink.list_attributes()
    assert (attr.name, attr.type) == ("PLAN", "text")


def test_blacklisting_a_contact_brevo_no_longer_has_is_false(sink: BrevoContactSink, requests_mock: Any) -> None:
    requests_mock.put(f"{BASE}/contacts/u1", status_code=204)
    requests_mock.put(f"{BASE}/contacts/u2", status_code=404, json={"code": "document_not_found", "message": "x"})
    assert sink.blacklist_contact("u1", "ext_id") is True
    assert requests_mock.request_history[0].json() == {"emailBlacklisted": True}
    assert requests_mock.request_history[0].qs["identifiertype"] == ["ext_id"]
    assert sink.blacklist_contact("u2", "ext_id") is False
