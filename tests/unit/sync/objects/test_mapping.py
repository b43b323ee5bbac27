"""The mapping of one object (:mod:`airflow_provider_customerio.sync.objects.mapping`): attributes and upsert
records."""

from __future__ import annotations

from airflow_provider_customerio.sync.objects.mapping import build_records, map_object
from airflow_provider_customerio.sync.objects.ports import CioObject


def test_map_object_maps_configured_keys_and_reports_oversized_values() -> None:
    obj = CioObject("acme", {"name": "Acme", "plan": "", "notes": "x" * 2000, "employees": "12"})
    mapped = map_object(
        obj, {"name": "name", "plan": "plan", "notes": "notes", "object_id": "cio_id", "missing": "missing"}
    )
    assert mapped.attributes == {"name": "Acme", "cio_id": "acme"}
    assert [(p[0], p[2]) for p in mapped.problems] == [("notes", "oversized_attribute")]


def test_build_records_spreads_associations_and_unlinks_first() -> None:
    links = [(f"k{i}", {"ext_id": f"e{i}"}) for i in range(25)]
    unlinks = [("old", {"ext_id": "gone"})]
    out = build_records("acme", {"name": "Acme"}, links, unlinks, per_record=10)
    assert len(out) == 3
    assert [len(linked) for _, linked, _ in out] == [10, 10, 5]
    first = out[0][0]
    assert first["identifiers"] == {"ext_id": "acme"} and first["attributes"] == {"name": "Acme"}
    assert [a["action"] for a in first["associations"]] == ["unlink", "link"]
    assert all(r["attributes"] == {"name": "Acme"} for r, _, _ in out)
    assert build_records("acme", {"name": "A"}, [], [])[0][0] == {
        "identifiers": {"ext_id": "acme"},
        "attributes": {"name": "A"},
    }
