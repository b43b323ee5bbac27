"""The object sync's ports and values (:mod:`airflow_provider_customerio.sync.objects.ports`): the fakes the unit
tests use satisfy the ports (typed assignments, checked by mypy), and the values behave as the sync relies on."""

from __future__ import annotations

from airflow_provider_customerio.sync.objects.ports import (
    BrevoRecord,
    ContactRef,
    MissingBrevoAttributes,
    MissingBrevoObjectTypes,
    ObjectSink,
    ObjectSource,
    ObjectSyncError,
    ObjectWriter,
    RecordSource,
)
from tests.unit.sync.objects.fakes import FakeBrevo, FakeCustomerIO, FakeRecords, FakeTrack


def test_the_fakes_implement_the_ports() -> None:
    source: ObjectSource = FakeCustomerIO()
    sink: ObjectSink = FakeBrevo()
    records: RecordSource = FakeRecords([], {})
    writer: ObjectWriter = FakeTrack()
    assert [t["id"] for t in source.list_object_types()] == ["1", "2"]
    assert sink.find_contact(ext_id="nobody", email=None) is None
    assert list(records.iter_records("companies")) == [] and writer.send_batch([]) == []


def test_a_brevo_record_without_ext_id_gets_an_object_id_from_its_brevo_id() -> None:
    assert BrevoRecord(7, "crm-7", {}).object_id == "crm-7"
    assert BrevoRecord(8, None, {}).object_id == "brevo-8"
    assert BrevoRecord(9, "", {}).object_id == "brevo-9"


def test_a_contact_ref_gives_a_fresh_identifiers_dict() -> None:
    ref = ContactRef({"ext_id": "42"})
    body = ref.to_json()
    body["ext_id"] = "changed"
    assert ref.to_json() == {"ext_id": "42"}


def test_the_errors_carry_what_is_missing_and_are_object_sync_errors() -> None:
    types = MissingBrevoObjectTypes("create them", {"companies": ("name",)})
    keys = MissingBrevoAttributes("create them", {"companies": ["plan"]})
    assert isinstance(types, ObjectSyncError) and isinstance(keys, ObjectSyncError)
    assert types.missing == {"companies": ("name",)} and keys.missing == {"companies": ["plan"]}
    assert str(types) == "create them"
