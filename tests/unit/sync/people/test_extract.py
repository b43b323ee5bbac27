"""The extract steps (sync/people/extract.py): collect, read, map, skip the unchanged, ledger the rejects, stage."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.store.ledger import read_ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.mapping import MappingError, Person
from airflow_provider_customerio.sync.people.ports import Change
from airflow_provider_customerio.sync.people.sync import run_blocking
from tests.unit.sync.people.fakes import CFG_RAW, WINDOW, people


def test_changed_person_is_the_only_one_written_again(env):
    make, src, sink, state, clock = env
    run_blocking(make(), mode="full", window=None)
    p = src.people["c00003"]
    src.people["c00003"] = Person(p.cio_id, p.id, p.email, {**p.attributes, "first_name": "Changed"})
    s = run_blocking(make(), mode="full", window=None)
    assert s.updated == 1 and s.unchanged == 249
    assert [r["email"] for r in sink.imports[-1]["rows"]] == ["p3@example.com"]
    assert sink.contacts["p3@example.com"]["attributes"]["FIRSTNAME"] == "Changed"


def test_incremental_reads_window_hydrates_in_100s_and_deletes(env):
    make, src, sink, state, clock = env
    run_blocking(make(), mode="full", window=None)
    ts = int(WINDOW.start.timestamp())
    src.people.update({p.cio_id: p for p in people(150, start=1000)})
    src.changes = [Change(f"c{i:05d}", "upsert", ts + 10) for i in range(1000, 1150)]
    src.changes += [
        Change("c00001", "delete", ts + 20),
        Change("c00009", "upsert", ts - 5),
        Change("c00010", "upsert", ts + 3600),
    ]  # outside the window
    src.people.pop("c00001")
    src.hydrate_calls = 0
    s = run_blocking(make(), mode="incremental", window=WINDOW)
    assert src.hydrate_calls == 2 and s.created == 150 and s.deleted == 1 and s.blacklisted == 0
    assert "p1@example.com" not in sink.contacts and not sink.contacts["p2@example.com"].get("blacklisted")
    assert sink.deleted == [("1", "ext_id")] and state.get_hash(CIO_TO_BREVO, "c00001") is None
    assert state.get_watermark("people.cio_to_brevo.until") == WINDOW.end.isoformat()


def test_latest_change_wins_within_the_window(env):
    make, src, sink, state, clock = env
    ts = int(WINDOW.start.timestamp())
    src.changes = [Change("c00005", "upsert", ts + 1), Change("c00005", "delete", ts + 2)]
    run_blocking(make(), mode="full", window=None)
    s = run_blocking(make(), mode="incremental", window=WINDOW)
    assert s.deleted == 1 and s.created == s.updated == 0


def test_full_sync_deletes_people_gone_from_customerio(env):
    make, src, sink, state, clock = env
    run_blocking(make(), mode="full", window=None)
    for cid in ("c00010", "c00011"):
        src.people.pop(cid)
    s = run_blocking(make(), mode="full", window=None)
    assert s.deleted == 2 and "p10@example.com" not in sink.contacts and s.unchanged == 248


def test_full_sync_safety_brake_on_mass_disappearance(env):
    make, src, sink, state, clock = env
    run_blocking(make(), mode="full", window=None)
    src.people = dict(list(src.people.items())[:20])
    s = run_blocking(make(), mode="full", window=None)
    assert s.deleted == 0 and "safety brake" in s.notes[-1] and len(sink.contacts) == 250


def test_rejects_go_to_ledger_with_reasons(env, tmp_path):
    make, src, sink, state, clock = env
    src.people = {p.cio_id: p for p in people(40)}
    src.people["x1"] = Person("x1", attributes={"first_name": "nobody"})
    src.people["x2"] = Person("x2", id="99", email="bad@@example")
    src.people["x3"] = Person("x3", id="98", email="ok@example.com", attributes={"created_at": "someday"})
    src.people["x4"] = Person("x4", id="97", email="refused@example.com")
    sink.invalid_emails = {"refused@example.com"}
    cfg = parse_config({"connectors": {"customerio": {**CFG_RAW, "people": {"reject_threshold": 0.5}}}}).customerio
    s = run_blocking(make(cfg=cfg), mode="full", window=None)
    lines = read_ledger(tmp_path / "ledger", s.ledger)
    got = {(l["record_id"], l["reason"]) for l in lines}
    assert got == {
        ("x1", "missing_identifier"),
        ("x2", "invalid_email"),
        ("x3", "invalid_date"),
        ("x4", "import_invalid"),
    }
    assert s.rejected == 3 and s.value_rejects == 1 and s.read == 44
    assert "ok@example.com" in sink.contacts and state.get_hash(CIO_TO_BREVO, "x4") is None
    assert s.to_xcom()["rejects_by_reason"]["invalid_email"] == 1


def test_killed_extract_resumes_from_its_checkpoint(env):
    make, src, sink, state, clock = env
    src.fail_after = 120
    with pytest.raises(ConnectionError):
        make("crash", checkpoint_every=50).run(mode="full", window=None)
    assert sink.imports == []
    assert state.get_checkpoint("dag/crash/t")["offset"] == 100
    src.fail_after = None
    s = run_blocking(make("crash", checkpoint_every=50), mode="full", window=None)
    rows = [r["email"] for i in sink.imports for r in i["rows"]]
    assert len(rows) == len(set(rows)) == 250  # nothing imported twice, nothing missed
    assert s.created == 250 and s.read == 250 and src.full_calls == 1  # the same export was reused


def test_missing_attribute_is_an_error_unless_opted_in(env):
    make, src, sink, state, clock = env
    sink.attributes = [a for a in sink.attributes if a.name != "SIGNUP_DATE"]
    with pytest.raises(MappingError, match="SIGNUP_DATE.*create_missing_attributes"):
        run_blocking(make(), mode="full", window=None)
    assert sink.imports == []
    cfg = parse_config(
        {
            "connectors": {
                "customerio": {
                    **CFG_RAW,
                    "field_mapping": {
                        **CFG_RAW["field_mapping"],
                        "created_at": {"attribute": "SIGNUP_DATE", "type": "date"},
                    },
                    "people": {"create_missing_attributes": True},
                }
            }
        }
    ).customerio
    s = run_blocking(make(cfg=cfg), mode="full", window=None)
    assert sink.created_attributes == [("SIGNUP_DATE", "date")] and s.created == 250
