"""Stale reads of the two-way sync (sync/stale.py) and how both directions use them, over in-memory ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO, TO_BREVO, TO_CIO, OwnWrite, StateStore
from airflow_provider_customerio.sync.mapping import (
    EMAIL_FIELD,
    BrevoAttribute,
    MappedRow,
    Person,
    PersonMapper,
    field_digest,
)
from airflow_provider_customerio.sync.people.ports import Change
from airflow_provider_customerio.sync.people.sync import PeopleSync, run_blocking
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.stale import (
    BLACKLIST_FIELD,
    CONFIRMED,
    EXPIRED,
    NEWER,
    STALE,
    judge,
    read_values,
    settle,
    with_fields,
)
from tests.unit.sync.people.fakes import ATTRS, CFG, WINDOW, FakeClock, FakeSink, FakeSource
from tests.unit.sync.reverse.fakes import MS0, cio_now, contact, run, synced

NOW = MS0 / 1000 + 3600.0  # one hour after the fixtures' T0


# ------------------------------------------------------------------------------------------ the verdicts


@pytest.mark.parametrize(
    ("value", "read_time", "written_at", "verdict"),
    [
        ("enterprise", None, NOW - 10, CONFIRMED),  # the read shows the write
        ("enterprise", 1.0, NOW - 10, CONFIRMED),
        ("free", None, NOW - 10, STALE),  # no time said: within the settle time, older
        (None, None, NOW - 10, STALE),  # absent: the write has not landed yet
        ("free", NOW - 100, NOW - 10, STALE),  # set before the write
        ("free", float(int(NOW - 10)), NOW - 10.0, STALE),  # the same (whole) second: not taken as newer
        ("team", NOW - 5, NOW - 10, NEWER),  # a change made after the write
        ("free", None, NOW - 3601, EXPIRED),  # never read back within the settle time
    ],
)
def test_judge(value: Any, read_time: float | None, written_at: float, verdict: str) -> None:
    own = OwnWrite("enterprise", written_at)
    assert judge(value, read_time, own, now=NOW, settle_s=3600) == verdict


def test_settle_corrects_stale_fields_and_lists_the_rest_to_forget() -> None:
    own = {
        "PLAN_NAME": OwnWrite("enterprise", NOW - 10),
        "FIRSTNAME": OwnWrite("Ann", NOW - 10),
        "LASTNAME": OwnWrite("Lovelace", NOW - 10),
    }
    times = {"PLAN_NAME": NOW - 100, "FIRSTNAME": NOW - 100, "LASTNAME": NOW - 1}
    values = {"PLAN_NAME": "free", "FIRSTNAME": "Ann", "LASTNAME": "Byron"}
    result = settle(values, own, times.get, now=NOW)
    assert result.corrections == {"PLAN_NAME": "enterprise"}
    assert sorted(result.settled) == ["FIRSTNAME", "LASTNAME"]  # confirmed, and superseded by a newer change


def test_with_fields_sets_attributes_and_the_email() -> None:
    row = MappedRow("c1", "u1", "old@x.io", {"email": "old@x.io", "attributes": {"PLAN_NAME": "free"}}, False)
    fixed = with_fields(row, {"PLAN_NAME": "pro", EMAIL_FIELD: "new@x.io", BLACKLIST_FIELD: True})
    assert fixed.row == {"email": "new@x.io", "attributes": {"PLAN_NAME": "pro"}} and fixed.email == "new@x.io"
    assert fixed.blacklisted is True and read_values(fixed)[BLACKLIST_FIELD] is True
    assert row.row["attributes"]["PLAN_NAME"] == "free"  # the original is left alone
    assert with_fields(row, {}) is row


# ------------------------------------------------------------------------------------------ the store


def test_own_writes_in_the_store(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as st:
        st.record_own_writes(TO_CIO, [("c1", "PLAN_NAME", "pro"), ("c1", "MRR", 9.5), ("c2", "email", "a@x.io")], 100)
        st.record_own_writes(TO_CIO, [("c1", "PLAN_NAME", "team")], 200)  # the later write replaces it
        st.record_own_writes(TO_BREVO, [("c3", "PLAN_NAME", "x")], 100)
        got = st.get_own_writes(TO_CIO, ["c1", "c2", "c9"])
        assert got == {
            "c1": {"PLAN_NAME": OwnWrite("team", 200.0), "MRR": OwnWrite(9.5, 100.0)},
            "c2": {"email": OwnWrite("a@x.io", 100.0)},
        }
        assert list(st.iter_own_write_people(TO_CIO)) == ["c1", "c2"]
        st.forget_own_writes(TO_CIO, [("c1", "MRR")])
        assert st.expire_own_writes(TO_CIO, before=150) == 1  # c2's
        assert st.get_own_writes(TO_CIO, ["c1", "c2"]) == {"c1": {"PLAN_NAME": OwnWrite("team", 200.0)}}
        assert st.get_own_writes(TO_BREVO, ["c3"]) == {"c3": {"PLAN_NAME": OwnWrite("x", 100.0)}}


# ------------------------------------------------------------------------------------------ reverse direction


@pytest.fixture
def state() -> Iterator[StateStore]:
    with StateStore(":memory:") as s:
        yield s


def test_the_reverse_sync_keeps_what_it_wrote_to_customerio(state: StateStore, tmp_path: Path) -> None:
    _, brevo_attrs = synced(state, plan="free", first_name="Ann")
    edited = contact(7, email="a@x.io", **{**brevo_attrs, "PLAN_NAME": "pro"})
    summary, cio, _ = run(state, [edited], tmp_path, cio=cio_now({"plan": 1}, plan="free"), now=lambda: NOW)
    assert [op["attributes"] for op in cio.ops] == [{"plan": "pro"}]
    assert state.get_own_writes(TO_CIO, ["c1"]) == {"c1": {"PLAN_NAME": OwnWrite("pro", NOW)}}


def test_a_brevo_read_older_than_the_own_import_is_no_brevo_change(state: StateStore, tmp_path: Path) -> None:
    """Customer.io changed plan free -> pro and the people sync imported it; Brevo still reads free (modifiedAt
    before the import): the reverse sync writes nothing, and never reverts Customer.io."""
    synced(state, plan="pro")  # what the people sync committed after its import
    imported_at = MS0 / 1000 + 600  # the import was sent 10 minutes after T0
    state.record_own_writes(TO_BREVO, [("c1", "PLAN_NAME", "pro")], imported_at)
    stale = contact(7, email="a@x.io", minutes=5, CIO_ID="u1", EXT_ID="u1", PLAN_NAME="free")
    summary, cio, _ = run(state, [stale], tmp_path, cio=cio_now({"plan": 500}, plan="pro"), now=lambda: NOW)
    assert cio.batches == [] and summary.stale_reads == 1 and summary.echoes == 1
    assert state.get_own_writes(TO_BREVO, ["c1"]) != {}  # kept until a read shows it

    # a Brevo edit made after the import is a change: it flows (and the own write is forgotten)
    newer = contact(7, email="a@x.io", minutes=20, CIO_ID="u1", EXT_ID="u1", PLAN_NAME="team")
    summary, cio, _ = run(
        state, [newer], tmp_path, cio=cio_now({"plan": 500}, plan="pro"), now=lambda: NOW, run_key="d/r2/t"
    )
    assert [op["attributes"] for op in cio.ops] == [{"plan": "team"}] and summary.stale_reads == 0
    assert state.get_own_writes(TO_BREVO, ["c1"]) == {}


def test_a_customerio_profile_older_than_the_own_write_makes_no_conflict(state: StateStore, tmp_path: Path) -> None:
    """The reverse sync wrote plan = pro; Customer.io still reads free (stamped before the write) when the
    marketer edits the plan again: no conflict, the new edit flows."""
    _, brevo_attrs = synced(state, plan="pro")  # both sides agreed on pro after the reverse write
    written_at = MS0 / 1000 + 60
    state.record_own_writes(TO_CIO, [("c1", "PLAN_NAME", "pro")], written_at)
    edited = contact(7, email="a@x.io", minutes=5, **{**brevo_attrs, "PLAN_NAME": "team"})
    profile = cio_now({"plan": int(written_at) - 3600}, plan="free")
    summary, cio, _ = run(state, [edited], tmp_path, cio=profile, now=lambda: NOW)
    assert not summary.conflicts and [op["attributes"] for op in cio.ops] == [{"plan": "team"}]


def test_the_reverse_sync_removes_expired_own_writes_of_contacts_it_never_reads(
    state: StateStore, tmp_path: Path
) -> None:
    """The own-write table does not grow: an import of the people sync whose contact the reverse sync never reads
    again (nobody edits it in Brevo) is dropped once it expired; a recent one is kept."""
    state.record_own_writes(TO_BREVO, [("c1", "PLAN_NAME", "pro")], NOW - 3601)
    state.record_own_writes(TO_BREVO, [("c2", "PLAN_NAME", "pro")], NOW - 30)
    run(state, [], tmp_path, now=lambda: NOW)
    assert state.get_own_writes(TO_BREVO, ["c1", "c2"]) == {"c2": {"PLAN_NAME": OwnWrite("pro", NOW - 30)}}


# ------------------------------------------------------------------------------------------ forward direction


def _forward_env(tmp_path: Path, config: Any = CFG) -> tuple[Any, FakeSource, FakeSink, StateStore]:
    state = StateStore(tmp_path / "fwd.db")
    person = Person("c1", "1", "p1@example.com", {"first_name": "Ann", "created_at": "1489014595", "mrr": "1"})
    src, sink = FakeSource([person]), FakeSink(ATTRS)
    runs = iter(range(100))

    def make(now: float = NOW) -> PeopleSync:
        rid = f"r{next(runs)}"
        ledger = Ledger.for_run(tmp_path / "ledger", "dag", rid, "t")
        return PeopleSync(
            config=config,
            source=src,
            sink=sink,
            state=state,
            ledger=ledger,
            run_key=f"dag/{rid}/t",
            clock=FakeClock(),
            now=lambda: now,
        )

    return make, src, sink, state


def _brevo_edit_written_back(make: Any, src: FakeSource, state: StateStore, written_at: float) -> None:
    """Synced; then the reverse sync wrote FIRSTNAME = Brevo to Customer.io (hash, digests, own write)."""
    run_blocking(make(now=written_at - 60), mode="full", window=None)
    p = src.people["c1"]
    agreed = Person(p.cio_id, p.id, p.email, {**p.attributes, "first_name": "Brevo"})
    src.people["c1"] = agreed
    # what the reverse sync commits after its write: the forward hash of what Brevo holds, the agreed digest
    mapped = PersonMapper(CFG.field_mapping, [BrevoAttribute(n, t) for n, t in ATTRS]).map(agreed)
    assert isinstance(mapped, MappedRow)
    state.set_hashes(CIO_TO_BREVO, [("c1", mapped.content_hash([12]))])
    state.set_field_digests([("c1", {"FIRSTNAME": field_digest("Brevo")})])
    state.record_own_writes(TO_CIO, [("c1", "FIRSTNAME", "Brevo")], written_at)
    src.people["c1"] = p  # ... but Customer.io still reads the old value


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_customerio_read_older_than_the_reverse_write_is_no_change(tmp_path: Path, mode: str) -> None:
    make, src, sink, state = _forward_env(tmp_path)
    written_at = NOW - 30
    _brevo_edit_written_back(make, src, state, written_at)
    imports = len(sink.imports)
    if mode == "incremental":  # the profile read carries timestamps older than the write
        p = src.people["c1"]
        src.people["c1"] = Person(p.cio_id, p.id, p.email, p.attributes, timestamps={"first_name": 1})
        src.changes = []  # the feed names nobody: the person is read again because of the own write
    s = run_blocking(make(), mode=mode, window=WINDOW if mode == "incremental" else None)
    assert len(sink.imports) == imports and s.unchanged == 1 and s.stale_reads == 1
    assert state.get_own_writes(TO_CIO, ["c1"]) != {}  # still waiting to be read back

    # Customer.io applied it: read back, forgotten, nothing written
    p = src.people["c1"]
    src.people["c1"] = Person(p.cio_id, p.id, p.email, {**p.attributes, "first_name": "Brevo"})
    s = run_blocking(make(), mode=mode, window=WINDOW if mode == "incremental" else None)
    assert len(sink.imports) == imports and s.stale_reads == 0 and s.unchanged == 1
    assert state.get_own_writes(TO_CIO, ["c1"]) == {}


def test_a_customerio_change_after_the_reverse_write_flows(tmp_path: Path) -> None:
    make, src, sink, state = _forward_env(tmp_path)
    written_at = NOW - 30
    _brevo_edit_written_back(make, src, state, written_at)
    p = src.people["c1"]
    src.people["c1"] = Person(
        p.cio_id, p.id, p.email, {**p.attributes, "first_name": "Later"}, timestamps={"first_name": int(NOW - 5)}
    )
    s = run_blocking(make(), mode="incremental", window=WINDOW)
    assert s.stale_reads == 0 and sink.imports[-1]["rows"][0]["attributes"]["FIRSTNAME"] == "Later"
    assert state.get_own_writes(TO_CIO, ["c1"]) == {}


def test_an_own_write_never_read_back_expires(tmp_path: Path) -> None:
    make, src, sink, state = _forward_env(tmp_path)
    _brevo_edit_written_back(make, src, state, NOW - 30)
    s = run_blocking(make(now=NOW + 3600), mode="full", window=None)  # Customer.io never took the write
    assert s.stale_reads == 0 and sink.imports[-1]["rows"][0]["attributes"]["FIRSTNAME"] == "Ann"


def test_the_people_sync_keeps_what_it_imported_with_the_time_it_sent_it(tmp_path: Path) -> None:
    make, src, sink, state = _forward_env(tmp_path)
    run_blocking(make(now=NOW - 60), mode="full", window=None)
    own = state.get_own_writes(TO_BREVO, ["c1"])["c1"]
    assert own["FIRSTNAME"] == OwnWrite("Ann", NOW - 60) and own["email"] == OwnWrite("p1@example.com", NOW - 60)
    assert "EXT_ID" not in own  # identifiers are not fields


def test_an_edit_held_as_stale_flows_once_the_write_expires_in_incremental_runs(tmp_path: Path) -> None:
    """A Customer.io edit stamped in the whole second of the reverse write is held as stale; when the write
    expires unconfirmed, the person is read once more and the edit is written to Brevo (not dropped unread)."""
    make, src, sink, state = _forward_env(tmp_path)
    written_at = float(int(NOW - 30))
    _brevo_edit_written_back(make, src, state, written_at)
    p = src.people["c1"]
    src.people["c1"] = Person(
        p.cio_id, p.id, p.email, {**p.attributes, "first_name": "Same"}, timestamps={"first_name": int(written_at)}
    )
    src.changes = [Change("c1", "upsert", int(WINDOW.start.timestamp()) + 1)]
    s = run_blocking(make(), mode="incremental", window=WINDOW)
    imports = len(sink.imports)
    assert s.stale_reads == 1  # not taken as a change too early
    src.changes = []  # the next window names nobody: only the own write brings the person back
    later = RunWindow(WINDOW.end, WINDOW.end + timedelta(hours=1))
    s = run_blocking(make(now=NOW + 3700), mode="incremental", window=later)
    assert len(sink.imports) == imports + 1 and sink.imports[-1]["rows"][0]["attributes"]["FIRSTNAME"] == "Same"
    assert state.get_own_writes(TO_CIO, ["c1"]) == {}


def test_expired_own_writes_are_removed_even_when_no_read_settles_them(tmp_path: Path) -> None:
    """The own-write table does not grow: a write no read settles (the person no longer maps, so it is ledgered
    before any judging) is kept while it may still land and dropped by the incremental run once it expired."""
    lenient = dataclasses.replace(CFG, people=dataclasses.replace(CFG.people, reject_threshold=1.0))
    make, src, sink, state = _forward_env(tmp_path, lenient)
    _brevo_edit_written_back(make, src, state, NOW - 30)
    p = src.people["c1"]
    src.people["c1"] = Person(p.cio_id, p.id, "not an email", p.attributes)  # rejected by the mapper from now on
    src.changes = []  # the feed names nobody: the own write alone brings the person back
    run_blocking(make(), mode="incremental", window=WINDOW)
    assert state.get_own_writes(TO_CIO, ["c1"]) != {}  # within the settle time: kept
    later = RunWindow(WINDOW.end, WINDOW.end + timedelta(hours=1))
    run_blocking(make(now=NOW + 3700), mode="incremental", window=later)
    assert state.get_own_writes(TO_CIO, ["c1"]) == {}
    assert list(state.iter_own_write_people(TO_CIO)) == []
