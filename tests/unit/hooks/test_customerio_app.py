"""CustomerIOAppHook with requests-mock: people, campaigns, activities, exports, objects."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.exceptions import (
    ConfigError,
    ProcessFailedError,
)


# ------------------------------------------------------------------------------------------------ App
def test_people_attributes_unwraps_and_bounds(app, requests_mock):
    requests_mock.post(
        "https://api.customer.io/v1/customers/attributes",
        json={"customers": [{"customer": {"id": "1", "attributes": {"a": "1"}}}, {"id": "2", "attributes": {}}]},
    )
    people = app.get_people_attributes(["c1", "c2"])
    assert [p["id"] for p in people] == ["1", "2"]
    assert requests_mock.last_request.qs["id_type"] == ["cio_id"]
    assert requests_mock.last_request.json() == {"ids": ["c1", "c2"]}
    with pytest.raises(ValueError, match="at most 100"):
        app.get_people_attributes([str(i) for i in range(101)])


def test_search_people_default_filter_and_limit(app, requests_mock):
    requests_mock.post("https://api.customer.io/v1/customers", json={"identifiers": [{"cio_id": "x"}], "next": ""})
    assert list(app.search_people()) == [{"cio_id": "x"}]
    assert requests_mock.last_request.json()["filter"]["and"][0]["attribute"]["field"] == "cio_id"
    assert requests_mock.last_request.qs["limit"] == ["1000"]
    with pytest.raises(ConfigError, match="between 1 and 1000"):
        list(app.search_people(limit=5000))


def test_campaign_metrics_v1_and_v2(app, requests_mock):
    requests_mock.get("https://api.customer.io/v1/campaigns/4/metrics", json={"metric": {"series": {"sent": [1, 2]}}})
    assert app.get_campaign_metrics(4, period="days", steps=2) == {"sent": [1, 2]}
    assert requests_mock.last_request.qs == {"period": ["days"], "steps": ["2"]}
    app.get_campaign_metrics(4, version=2, res="days", start=10, end=20)
    assert requests_mock.last_request.qs == {"version": ["2"], "res": ["days"], "start": ["10"], "end": ["20"]}


def test_activities_params(app, requests_mock):
    requests_mock.get("https://api.customer.io/v1/activities", json={"activities": [{"id": "a"}], "next": None})
    assert list(app.iter_activities(type="attribute_change")) == [{"id": "a"}]
    assert requests_mock.last_request.qs == {"limit": ["100"], "type": ["attribute_change"], "deleted": ["true"]}


def test_export_lifecycle_and_streaming(app, requests_mock):
    requests_mock.post("https://api.customer.io/v1/exports/customers", json={"export": {"id": 8, "status": "pending"}})
    requests_mock.get(
        "https://api.customer.io/v1/exports/8",
        [
            {"json": {"export": {"id": 8, "status": "pending"}}},
            {"json": {"export": {"id": 8, "status": "done", "total": 2}}},
        ],
    )
    requests_mock.get(
        "https://api.customer.io/v1/exports/8/download", json={"url": "https://files.example/x.csv?sig=abc"}
    )
    requests_mock.get("https://files.example/x.csv?sig=abc", text="id,email\n1,a@b.co\n2,\n")
    export = app.create_customer_export(attributes=["plan"])
    assert export["id"] == 8
    assert app.wait_for_export(8, check_interval=2)["total"] == 2
    assert app.sleeps == [2]
    assert list(app.iter_export_rows(8)) == [{"id": "1", "email": "a@b.co"}, {"id": "2", "email": ""}]
    assert "Authorization" not in requests_mock.last_request.headers


def test_export_polls_wait_longer_each_time_up_to_four_intervals(app, requests_mock):
    requests_mock.get(
        "https://api.customer.io/v1/exports/7",
        [{"json": {"export": {"id": 7, "status": "pending"}}}] * 6
        + [{"json": {"export": {"id": 7, "status": "done"}}}],
    )
    app.wait_for_export(7, check_interval=2)
    assert app.sleeps == [2, 3, 4.5, 6.75, 8, 8]


def test_export_failure(app, requests_mock):
    requests_mock.get("https://api.customer.io/v1/exports/9", json={"export": {"id": 9, "status": "failed"}})
    with pytest.raises(ProcessFailedError):
        app.wait_for_export(9)


def test_objects_search_filter(app, requests_mock):
    requests_mock.post("https://api.customer.io/v1/objects", json={"identifiers": [{"object_id": "acme"}], "next": ""})
    assert list(app.iter_objects(1)) == [{"object_id": "acme"}]
    body = requests_mock.last_request.json()
    assert body["object_type_id"] == "1"
    assert body["filter"]["and"][0]["object_attribute"]["type_id"] == "1"


def test_ids_filter_names_each_person_and_is_bounded(app, requests_mock):
    from airflow_provider_customerio.hooks.customerio_app import MAX_EXPORT_FILTER_IDS

    flt = app.ids_filter(["c1", "c2"])
    assert flt == {
        "or": [
            {"attribute": {"field": "cio_id", "operator": "eq", "value": "c1"}},
            {"attribute": {"field": "cio_id", "operator": "eq", "value": "c2"}},
        ]
    }
    requests_mock.post("https://api.customer.io/v1/exports/customers", json={"export": {"id": 3}})
    app.create_customer_export(filters=flt, attributes=["plan"])
    assert requests_mock.last_request.json() == {"filters": flt, "attributes": ["plan"]}
    with pytest.raises(ValueError, match="at least one id"):
        app.ids_filter([])
    with pytest.raises(ValueError, match=f"at most {MAX_EXPORT_FILTER_IDS}"):
        app.ids_filter(str(i) for i in range(MAX_EXPORT_FILTER_IDS + 1))
