"""The reverse direction (:mod:`airflow_provider_customerio.sync.objects.reverse`): Brevo records from elsewhere ->
Customer.io objects."""

from __future__ import annotations

from airflow_provider_customerio.sync.objects.ports import BrevoRecord
from tests.unit.sync.objects.fakes import Env, FakeRecords, FakeTrack, reverse


def test_reverse_writes_records_from_elsewhere_with_relationships_and_skips_echoes(env: Env) -> None:
    env.run()  # forward: acme0..2 are Customer.io objects in Brevo
    records = [
        BrevoRecord(1, "acme0", {"name": "Acme 0"}, (11,)),  # written by the forward direction: an echo
        BrevoRecord(7, "crm-7", {"name": "From CRM", "plan": "gold", "unknown": "x"}, (11, 12, 13)),
        BrevoRecord(8, None, {"name": "No ext id"}, ()),
    ]
    source = FakeRecords(records, {11: {"id": "42"}, 12: {"email": "b@example.com"}})
    track = FakeTrack()
    dry = reverse(env, source, track, "dry", dry_run=True)
    assert track.batches == [] and dry["plan"]["creates"] == 2
    assert dry["plan"]["creates_items"] == ["companies/crm-7", "companies/brevo-8"]
    result = reverse(env, source, track)
    assert result["echoes"] == 1 and result["created"] == 2
    (ops,) = track.batches
    assert ops[0] == {
        "type": "object",
        "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "crm-7"},
        "attributes": {"name": "From CRM", "plan": "gold"},
        "cio_relationships": [{"identifiers": {"id": "42"}}, {"identifiers": {"email": "b@example.com"}}],
    }
    assert ops[1]["identifiers"]["object_id"] == "brevo-8" and "cio_relationships" not in ops[1]
    (line,) = env.ledger()
    assert line["reason"] == "related_contact_missing" and line["identifiers"]["brevo_contact_id"] == 13
    # unchanged records are not sent again; the forward direction leaves Brevo-owned objects alone
    assert reverse(env, source, track, "rev2")["unchanged"] == 3 and len(track.batches) == 1
    env.cio.add("1", "crm-7", {"name": "Changed in Customer.io"})
    forward = env.run()
    assert forward["created"] == 0 and "crm-7" not in [
        r["identifiers"]["ext_id"] for _t, recs in env.brevo.upserts[1:] for r in recs
    ]


def test_reverse_ledgers_rejected_operations_and_retries_them(env: Env) -> None:
    source = FakeRecords([BrevoRecord(7, "crm-7", {"name": "A"}), BrevoRecord(8, "crm-8", {"name": "B"})], {})
    track = FakeTrack()
    track.reject = {"crm-8"}
    result = reverse(env, source, track)
    assert result["created"] == 1 and result["rejects_by_reason"] == {"vendor_rejected": 1}
    track.reject = set()
    again = reverse(env, source, track, "rev2")
    assert again["created"] == 1 and again["unchanged"] == 1
    assert [op["identifiers"]["object_id"] for op in track.batches[-1]] == ["crm-8"]
