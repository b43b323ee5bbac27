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


APP = "https://api.customer.io"


@pytest.fixture
def source(airflow_conn: Any) -> Any:
    from airflow_provider_customerio.adapters.people import CustomerIOPeopleSource
    from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook

    airflow_conn("cio_t", conn_type="customerio_app", password="k")
    hook = CustomerIOAppHook("cio_t", retry_policy=RetryPolicy(max_attempts=1, backoff_base=0), rate_limit=0)
    hook._sleep = lambda s: None  # type: ignore[method-assign]
    return CustomerIOPeopleSource(hook, attributes=["first_name"], export_check_interval=0)


def test_changed_export_names_the_people_in_exports_of_10000_and_counts_its_calls(
    source: Any, requests_mock: Any, monkeypatch: Any
) -> None:
    import airflow_provider_customerio.adapters.people as mod

    monkeypatch.setattr(mod, "MAX_EXPORT_FILTER_IDS", 2)
    monkeypatch.setattr(type(source.hook), "ids_filter", staticmethod(_small_ids_filter))
    created = iter([{"json": {"export": {"id": 5}}}, {"json": {"export": {"id": 6}}}])
    requests_mock.post(f"{APP}/v1/exports/customers", [next(created), next(created)])
    for n in (5, 6):
        requests_mock.get(
            f"{APP}/v1/exports/{n}",
            [{"json": {"export": {"status": "pending"}}}, {"json": {"export": {"status": "done"}}}],
        )
        requests_mock.get(f"{APP}/v1/exports/{n}/download", json={"url": f"https://files.example/{n}.csv"})
    requests_mock.get("https://files.example/5.csv", text="cio_id,id,email,first_name,unsubscribed\nc1,1,a@x.io,A,\n")
    requests_mock.get("https://files.example/6.csv", text="cio_id,id,email,first_name,unsubscribed\nc3,3,c@x.io,C,1\n")
    token = source.start_changed_export(["c1", "c2", "c3", "c1"])
    bodies = [r.json() for r in requests_mock.request_history if r.method == "POST"]
    assert [[c["attribute"]["value"] for c in b["filters"]["or"]] for b in bodies] == [["c1", "c2"], ["c3"]]
    assert bodies[0]["attributes"] == ["first_name", "unsubscribed"]
    assert token["export_ids"] == [5, 6] and token["calls"] == 2 + 4 + 4  # 2 creates, 4 polls, 2 links + 2 files
    people = list(source.iter_export(token))
    assert [(p.cio_id, p.attributes.get("first_name"), p.unsubscribed) for p in people] == [
        ("c1", "A", False),
        ("c3", "C", True),
    ]


def _small_ids_filter(ids: Any, *, field: str = "cio_id") -> dict[str, Any]:
    values = list(ids)
    assert len(values) <= 2
    return {"or": [{"attribute": {"field": field, "operator": "eq", "value": v}} for v in values]}


def test_failed_changed_export_is_none(source: Any, requests_mock: Any) -> None:
    requests_mock.post(f"{APP}/v1/exports/customers", json={"export": {"id": 7}})
    requests_mock.get(f"{APP}/v1/exports/7", json={"export": {"status": "failed", "failed": True}})
    assert source.start_changed_export(["c1"]) is None
    assert source.start_changed_export([]) is None


def test_full_export_token_carries_its_calls_and_wait(source: Any, requests_mock: Any) -> None:
    requests_mock.post(f"{APP}/v1/exports/customers", json={"export": {"id": 9}})
    requests_mock.get(
        f"{APP}/v1/exports/9", [{"json": {"export": {"status": "pending"}}}, {"json": {"export": {"status": "done"}}}]
    )
    token = source.start_full()
    assert token["export_id"] == 9 and token["calls"] == 1 + 2 + 2 and token["seconds"] >= 0
    assert requests_mock.last_request.method == "GET"
