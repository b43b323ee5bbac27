"""The object sync's adapters (:mod:`airflow_provider_customerio.adapters.objects`) over a mocked API
(requests-mock, hook level): the Brevo type probe, record listing and contact lookups, the Customer.io object
reads and the Track batch's 207 errors."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_customerio.adapters.objects import (
    BrevoObjectSink,
    BrevoRecordSource,
    CustomerIOObjectSource,
    CustomerIOObjectWriter,
)
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.hooks.retry import RetryPolicy
from airflow_provider_customerio.sync.objects.ports import (
    BrevoRecord,
    ContactRef,
    ObjectSink,
    ObjectSource,
    ObjectWriter,
    RecordSource,
    RelatedPerson,
)

BREVO = "https://api.brevo.test/v3"
APP = "https://api.cio.test"
TRACK = "https://track.cio.test"
NO_RETRY = RetryPolicy(max_attempts=1, backoff_base=0)


@pytest.fixture
def brevo(airflow_conn: Any) -> BrevoHook:
    airflow_conn("brevo_t", conn_type="brevo", host=BREVO, password="k")
    return BrevoHook("brevo_t", retry_policy=NO_RETRY, rate_limit=0)


@pytest.fixture
def app(airflow_conn: Any) -> CustomerIOAppHook:
    airflow_conn("cio_app_t", conn_type="customerio_app", host=APP, password="k")
    return CustomerIOAppHook("cio_app_t", retry_policy=NO_RETRY, rate_limit=0)


@pytest.fixture
def track(airflow_conn: Any) -> CustomerIOTrackHook:
    airflow_conn("cio_track_t", conn_type="customerio_track", host=TRACK, login="site", password="k")
    return CustomerIOTrackHook("cio_track_t", retry_policy=NO_RETRY, rate_limit=0)


def test_the_adapters_implement_the_ports(brevo: BrevoHook, app: CustomerIOAppHook, track: CustomerIOTrackHook):
    source: ObjectSource = CustomerIOObjectSource(app)
    sink: ObjectSink = BrevoObjectSink(brevo)
    records: RecordSource = BrevoRecordSource(brevo)
    writer: ObjectWriter = CustomerIOObjectWriter(track)
    assert (source.hook, sink.hook, records.hook, writer.hook) == (app, brevo, brevo, track)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "body", "exists", "available"),
    [
        (404, {"code": "document_not_found", "message": "object type not found"}, False, True),
        (400, {"code": "invalid_parameter", "message": "invalid object_type"}, False, True),
        (403, {"code": "permission_denied", "message": "custom objects not enabled"}, False, False),
        (424, {"code": "failed_dependency", "message": "primary attribute not found"}, True, True),
    ],
    ids=["404", "400-object", "403", "424"],
)
def test_the_type_probe_reads_brevo_answers(brevo, requests_mock, status, body, exists, available):
    requests_mock.get(f"{BREVO}/objects/companies/records", status_code=status, json=body)
    probe = BrevoObjectSink(brevo).probe_type("companies")
    assert (probe.exists, probe.available) == (exists, available)
    assert probe.message


def test_the_type_probe_samples_attribute_keys_and_the_count(brevo, requests_mock):
    requests_mock.get(
        f"{BREVO}/objects/companies/records",
        json={"records": [{"attributes": {"name": "A"}}, {"attributes": {"plan": "p", "name": "B"}}], "count": 7},
    )
    probe = BrevoObjectSink(brevo).probe_type("companies")
    assert probe.exists and probe.sample_keys == {"name", "plan"} and probe.count == 7
    assert requests_mock.last_request.qs == {"limit": ["100"], "page_num": ["1"], "sort": ["desc"]}


def test_the_sink_upserts_reads_processes_and_finds_contacts(brevo, requests_mock):
    requests_mock.post(f"{BREVO}/objects/companies/batch/upsert", status_code=202, json={"processId": 12})
    requests_mock.get(f"{BREVO}/processes/12", json={"id": 12, "status": "completed", "error": "records[0]: bad"})
    requests_mock.get(f"{BREVO}/contacts/e1", json={"id": 5, "ext_id": "e1"})
    requests_mock.get(f"{BREVO}/contacts/e2", status_code=404, json={"code": "document_not_found", "message": "x"})
    requests_mock.get(f"{BREVO}/contacts/a%40example.com", json={"id": 6, "email": "a@example.com"})
    sink = BrevoObjectSink(brevo)
    assert sink.upsert("companies", [{"identifiers": {"ext_id": "c"}, "attributes": {"name": "C"}}]) == "12"
    state = sink.get_process("12")
    assert (state.process_id, state.succeeded, state.error) == ("12", True, "records[0]: bad")
    assert sink.find_contact(ext_id="e1", email=None) == ContactRef({"ext_id": "e1"})
    assert sink.find_contact(ext_id="e2", email=" A@example.com ") == ContactRef({"id": 6})


def test_the_record_source_pages_and_lists_associated_contacts(brevo, requests_mock):
    def record(i: int, ext: str | None, contacts: list[int]) -> dict[str, Any]:
        assoc = [{"object_type": "contacts", "records": [{"identifiers": {"id": c}} for c in contacts]}]
        return {"identifiers": {"id": i, "ext_id": ext}, "attributes": {"name": f"N{i}"}, "associations": assoc}

    requests_mock.get(
        f"{BREVO}/objects/companies/records",
        [{"json": {"records": [record(1, "c1", [11, 12]), record(2, None, [])]}}, {"json": {"records": []}}],
    )
    got = list(BrevoRecordSource(brevo, page_limit=2).iter_records("companies"))
    assert got == [BrevoRecord(1, "c1", {"name": "N1"}, (11, 12)), BrevoRecord(2, None, {"name": "N2"}, ())]
    assert [r.qs["page_num"] for r in requests_mock.request_history] == [["1"], ["2"]]
    assert requests_mock.last_request.qs["association"] == ["true"]


def test_the_record_source_names_a_contact_by_ext_id_then_email(brevo, requests_mock):
    requests_mock.get(f"{BREVO}/contacts/1", json={"id": 1, "attributes": {"EXT_ID": "42"}, "email": "a@x.io"})
    requests_mock.get(f"{BREVO}/contacts/2", json={"id": 2, "attributes": {}, "email": "b@x.io"})
    requests_mock.get(f"{BREVO}/contacts/3", json={"id": 3, "attributes": {}})
    requests_mock.get(f"{BREVO}/contacts/4", status_code=404, json={"code": "document_not_found", "message": "x"})
    source = BrevoRecordSource(brevo)
    assert [source.person_identifiers(i) for i in (1, 2, 3, 4)] == [{"id": "42"}, {"email": "b@x.io"}, None, None]


def test_the_object_source_reads_objects_and_keys_related_people(app, requests_mock):
    requests_mock.get(f"{APP}/v1/objects/1/acme/attributes", json={"object": {"attributes": {"name": "Acme"}}})
    requests_mock.get(f"{APP}/v1/objects/1/gone/attributes", status_code=404, json={"errors": [{"detail": "x"}]})
    people = [
        {"identifiers": {"cio_id": "c1", "id": "7", "email": "a@x.io"}},
        {"identifiers": {"id": "8"}},
        {"identifiers": {"email": "b@x.io"}},
        {"identifiers": {}},
    ]
    requests_mock.get(f"{APP}/v1/objects/1/acme/relationships", json={"cio_relationships": people})
    source = CustomerIOObjectSource(app)
    obj = source.get_object("1", "acme")
    assert obj is not None and (obj.object_id, dict(obj.attributes)) == ("acme", {"name": "Acme"})
    assert source.get_object("1", "gone") is None
    assert list(source.iter_related_people("1", "acme")) == [
        RelatedPerson("c1", "7", "a@x.io"),
        RelatedPerson("id:8", "8", None),
        RelatedPerson("email:b@x.io", None, "b@x.io"),
    ]


def test_the_object_writer_returns_the_operations_track_refused(track, requests_mock):
    requests_mock.post(
        f"{TRACK}/api/v2/batch",
        status_code=207,
        json={"errors": [{"batch_index": 1, "reason": "invalid", "message": "bad object_id"}, {"batch_index": 2}]},
    )
    ops = [
        {"type": "object", "action": "identify", "identifiers": {"object_type_id": "1", "object_id": str(i)}}
        for i in range(3)
    ]
    assert CustomerIOObjectWriter(track).send_batch(ops) == [(1, "bad object_id"), (2, "rejected")]
    assert requests_mock.last_request.json() == {"batch": ops}
