"""Vendor URIs of every sync operator's outlets and OpenLineage datasets; the summary on the asset events."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.lineage import SUMMARY_ATTR, asset_uris, emit_asset_events, lineage_of
from airflow_provider_customerio.operators.campaigns import CustomerIOCampaignMetricsOperator
from airflow_provider_customerio.operators.events import CustomerIOEventsToBrevoOperator
from airflow_provider_customerio.operators.objects import (
    BrevoObjectsToCustomerIOOperator,
    CustomerIOObjectsToBrevoOperator,
)
from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.operators.reverse import BrevoToCustomerIOPeopleOperator
from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator
from airflow_provider_customerio.operators.workflow import CustomerIOWorkflowStateToBrevoOperator


@pytest.mark.parametrize(
    ("make", "uris"),
    [
        (
            lambda: CustomerIOToBrevoPeopleOperator(task_id="t", brevo_conn_id="brevo_eu"),
            ["customerio://customerio_app_default/people", "brevo://brevo_eu/contacts"],
        ),
        (lambda: CustomerIOToBrevoPeopleOperator(task_id="t", step="extract"), []),
        (lambda: BrevoToCustomerIOPeopleOperator(task_id="t"), ["customerio://customerio_track_default/people"]),
        (
            lambda: CustomerIOSegmentToBrevoListOperator(task_id="t", segment_id=4, list_id=13),
            ["brevo://brevo_default/lists/13"],
        ),
        (
            lambda: CustomerIOSegmentToBrevoListOperator(task_id="t", segment_id=4, list_id="{{ params.list_id }}"),
            ["brevo://brevo_default/lists"],
        ),
        (lambda: CustomerIOEventsToBrevoOperator(task_id="t"), ["brevo://brevo_default/events"]),
        (
            lambda: CustomerIOCampaignMetricsOperator(task_id="t", campaign={"id": 1}),
            ["customerio-sync-store://customerio_sync_store/customerio_campaign_metrics"],
        ),
        (lambda: CustomerIOWorkflowStateToBrevoOperator(task_id="t"), ["brevo://brevo_default/contacts"]),
        (lambda: CustomerIOObjectsToBrevoOperator(task_id="t"), ["brevo://brevo_default/objects"]),
        (lambda: BrevoObjectsToCustomerIOOperator(task_id="t"), ["customerio://customerio_track_default/objects"]),
    ],
)
def test_every_sync_operator_declares_vendor_outlets(make, uris):
    op = make()
    assert [a.uri for a in op.outlets] == uris


def test_outlets_given_by_the_dag_are_kept():
    from airflow.sdk import Asset

    op = CustomerIOToBrevoPeopleOperator(task_id="t", outlets=[Asset("x://y/z")])
    assert [a.uri for a in op.outlets] == ["x://y/z"]


def test_unknown_capability_is_an_error():
    with pytest.raises(ValueError, match="capability"):
        lineage_of("nope", object())
    assert asset_uris("segments", object()) == ["brevo://brevo_default/lists"]


@pytest.mark.lineage
def test_openlineage_facets_carry_uris_rows_and_schema():
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is in the test extra")
    op = CustomerIOToBrevoPeopleOperator(task_id="t")
    setattr(op, SUMMARY_ATTR, {"created": 3, "updated": 4, "deleted": 1, "read": 20})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("customerio://customerio_app_default", "people")]
    out = lineage.outputs[0]
    assert (out.namespace, out.name) == ("brevo://brevo_default", "contacts")
    assert out.outputFacets["outputStatistics"].rowCount == 8
    assert "email" in {f.name for f in out.facets["schema"].fields}


def test_summary_goes_on_every_outlet_event():
    class Event:
        def __init__(self):
            self.extra = {}

    op = CustomerIOToBrevoPeopleOperator(task_id="t")
    events = {a: Event() for a in op.outlets}
    emit_asset_events({"task": op, "outlet_events": events}, {"read": 5, "created": 2, "window": {"start": "a"}})
    assert [e.extra for e in events.values()] == [{"read": 5, "created": 2, "window": {"start": "a"}}] * 2
