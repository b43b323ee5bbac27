"""Orchestration of the people sync against in-memory fakes of the two ports."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.ledger import Ledger, RejectThresholdExceeded, read_ledger
from airflow_provider_customerio.sync.mapping import BrevoAttribute, MappingError, Person
from airflow_provider_customerio.sync.people import (
    Change,
    PeopleSync,
    PeopleSyncError,
    RunWindow,
    resolve_window,
    run_blocking,
)
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout, ImportReport, ProcessOutcome, ProcessState
from airflow_provider_customerio.sync.state import CIO_TO_BREVO, StateStore

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
WINDOW = RunWindow(T0, T0 + timedelta(hours=1))


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def monotonic(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


class FakeSource:
    def __init__(self, people):
        self.people = {p.cio_id: p for p in people}
        self.changes: list[Change] = []
        self.hydrate_calls = 0
        self.full_calls = 0
        self.fail_after: int | None = None

    def iter_changes(self, since, until):
        for ch in sorted(self.changes, key=lambda c: -c.timestamp):
            if since.timestamp() <= ch.timestamp < until.timestamp():
                yield ch

    def hydrate(self, ids):
        assert len(ids) <= 100
        self.hydrate_calls += 1
        return [self.people[i] for i in ids if i in self.people]

    def start_full(self):
        self.full_calls += 1
        return {"export_id": self.full_calls}

    def iter_full(self, token):
        for n, p in enumerate(sorted(self.people.values(), key=lambda p: p.cio_id)):
            if self.fail_after is not None and n >= self.fail_after:
                raise ConnectionError("killed")
            yield p


class FakeSink:
    """Brevo: imports apply when the process is first polled after `polls_needed` polls."""

    def __init__(self, attributes):
        self.attributes = [BrevoAttribute(n, t) for n, t in attributes]
        self.contacts: dict[str, dict] = {}
        self.imports: list[dict] = []
        self.procs: dict[str, dict] = {}
        self.fail_next_processes = 0
        self.invalid_emails: set[str] = set()
        self.polls = 0
        self.deleted: list[tuple] = []
        self.blacklisted: list[tuple] = []
        self.created_attributes: list[tuple] = []
        self.ids = itertools.count(100)
        self.never_finish = False

    def list_attributes(self):
        return list(self.attributes)

    def create_attribute(self, name, type):
        self.created_attributes.append((name, type))
        self.attributes.append(BrevoAttribute(name, type))

    def start_import(self, rows, *, list_ids, email_blacklist):
        pid = str(next(self.ids))
        fail = self.fail_next_processes > 0
        self.fail_next_processes -= 1 if fail else 0
        self.procs[pid] = {
            "rows": [dict(r) for r in rows],
            "lists": list(list_ids),
            "bl": email_blacklist,
            "fail": fail,
            "done": False,
        }
        self.imports.append(self.procs[pid])
        return pid

    def get_process(self, pid):
        self.polls += 1
        p = self.procs[pid]
        if self.never_finish:
            return ProcessState(pid, ProcessOutcome.RUNNING)
        if p["fail"]:
            return ProcessState(pid, ProcessOutcome.FAILED, error="boom")
        rejected = {}
        if not p["done"]:
            for r in p["rows"]:
                if r.get("email") in self.invalid_emails:
                    rejected[r["email"]] = "import_invalid"
                    continue
                key = r.get("email") or r["attributes"]["EXT_ID"]
                c = self.contacts.setdefault(key, {"attributes": {}, "lists": set(), "blacklisted": False})
                c["attributes"].update(r["attributes"])
                c["lists"].update(p["lists"])
                c["blacklisted"] = c["blacklisted"] or p["bl"]
            p["done"] = True
            p["rejected"] = rejected
        return ProcessState(pid, ProcessOutcome.SUCCEEDED, report=ImportReport(rejected=p["rejected"]))

    def _find(self, identifier, id_type):
        for key, c in self.contacts.items():
            if (id_type == "email_id" and key == identifier) or (
                id_type == "ext_id" and c["attributes"].get("EXT_ID") == identifier
            ):
                return key
        return None

    def delete_contact(self, identifier, id_type):
        self.deleted.append((identifier, id_type))
        key = self._find(identifier, id_type)
        return self.contacts.pop(key, None) is not None if key else False

    def blacklist_contact(self, identifier, id_type):
        self.blacklisted.append((identifier, id_type))
        key = self._find(identifier, id_type)
        if key:
            self.contacts[key]["blacklisted"] = True
        return key is not None


def people(n, start=0, **over):
    return [
        Person(
            cio_id=f"c{i:05d}",
            id=str(i),
            email=f"p{i}@example.com",
            attributes={"first_name": f"P{i}", "created_at": "1489014595", "mrr": str(i)},
            **over,
        )
        for i in range(start, start + n)
    ]


CFG = parse_config(
    {
        "connectors": {
            "customerio": {
                "lists": {"all_contacts": 12},
                "field_mapping": {
                    "id": "CIO_ID",
                    "email": "email",
                    "first_name": "FIRSTNAME",
                    "created_at": "SIGNUP_DATE",
                    "mrr": "MONTHLY_REVENUE",
                },
                "people": {"import_batch_bytes": 10000},
            }
        }
    }
).customerio
ATTRS = [("CIO_ID", "text"), ("FIRSTNAME", "text"), ("SIGNUP_DATE", "date"), ("MONTHLY_REVENUE", "float")]


@pytest.fixture
def env(tmp_path):
    state = StateStore(tmp_path / "state.db")
    src = FakeSource(people(250))
    sink = FakeSink(ATTRS)
    clock = FakeClock()
    runs = itertools.count()

    def make(run_id=None, cfg=CFG, **kw):
        rid = run_id or f"r{next(runs)}"
        ledger = Ledger.for_run(tmp_path / "ledger", "dag", rid, "t")
        return PeopleSync(
            config=cfg, source=src, sink=sink, state=state, ledger=ledger, run_key=f"dag/{rid}/t", clock=clock, **kw
        )

    return make, src, sink, state, clock


def test_full_sync_imports_everyone_in_byte_bounded_batches(env):
    make, src, sink, state, clock = env
    s = run_blocking(make(), mode="full", window=None)
    assert len(sink.contacts) == 250 and s.read == 250 and s.created == 250 and s.updated == 0
    assert len(sink.imports) == s.imports > 1
    assert all(i["lists"] == [12] for i in sink.imports)
    c = sink.contacts["p7@example.com"]["attributes"]
    assert c == {"CIO_ID": "7", "FIRSTNAME": "P7", "SIGNUP_DATE": "2017-03-08", "MONTHLY_REVENUE": 7.0, "EXT_ID": "7"}
    assert state.count_hashes(CIO_TO_BREVO) == 250 and state.get_identity("c00007").ext_id == "7"
    assert s.to_xcom()["people_count"] == 250 and s.to_xcom()["lastSync"]
    assert clock.sleeps and clock.sleeps[0] == 2.0  # waited before the first poll


def test_second_full_sync_of_unchanged_data_writes_nothing(env):
    make, src, sink, state, clock = env
    run_blocking(make(), mode="full", window=None)
    n_imports, polls = len(sink.imports), sink.polls
    s = run_blocking(make(), mode="full", window=None)
    assert len(sink.imports) == n_imports and sink.polls == polls
    assert s.unchanged == 250 and s.created == s.updated == s.imports == 0 and sink.deleted == []


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


@pytest.mark.parametrize(
    "policy, gone, blacklisted", [("delete", True, False), ("blacklist", False, True), ("ignore", False, False)]
)
def test_delete_policy(env, policy, gone, blacklisted):
    make, src, sink, state, clock = env
    cfg = parse_config({"connectors": {"customerio": {**CFG_RAW, "people": {"delete_policy": policy}}}}).customerio
    run_blocking(make(cfg=cfg), mode="full", window=None)
    src.changes = [Change("c00004", "delete", int(WINDOW.start.timestamp()))]
    run_blocking(make(cfg=cfg), mode="incremental", window=WINDOW)
    assert ("p4@example.com" not in sink.contacts) is gone
    assert (not gone and sink.contacts["p4@example.com"]["blacklisted"]) is blacklisted


CFG_RAW = {
    "lists": {"all_contacts": 12},
    "field_mapping": {
        "id": "CIO_ID",
        "email": "email",
        "first_name": "FIRSTNAME",
        "created_at": "SIGNUP_DATE",
        "mrr": "MONTHLY_REVENUE",
    },
}


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


def test_reject_threshold_fails_the_run_after_writing_the_ledger(env):
    make, src, sink, state, clock = env
    src.people = {f"x{i}": Person(f"x{i}", attributes={}) for i in range(3)} | {p.cio_id: p for p in people(10)}
    with pytest.raises(RejectThresholdExceeded, match="3 of 13 records rejected"):
        run_blocking(make(), mode="full", window=None)
    assert len(sink.contacts) == 10


def test_failed_process_is_resubmitted_then_ledgered(env):
    make, src, sink, state, clock = env
    src.people = {p.cio_id: p for p in people(5)}
    sink.fail_next_processes = 1
    s = run_blocking(make(), mode="full", window=None)
    assert s.imports == 2 and len(sink.contacts) == 5
    sink.fail_next_processes = 99
    old_hash = state.get_hash(CIO_TO_BREVO, "c00001")
    src.people["c00001"] = Person("c00001", "1", "p1@example.com", {"first_name": "new"})
    cfg = parse_config({"connectors": {"customerio": {**CFG_RAW, "people": {"reject_threshold": 1}}}}).customerio
    s = run_blocking(make(cfg=cfg), mode="full", window=None)
    assert s.imports == 3 and s.rejects_by_reason == {"import_failed": 1}
    assert state.get_hash(CIO_TO_BREVO, "c00001") == old_hash  # not committed: the next run retries it
    sink.fail_next_processes = 0
    s = run_blocking(make(cfg=cfg), mode="full", window=None)  # retried by the next run
    assert s.updated == 1 and sink.contacts["p1@example.com"]["attributes"]["FIRSTNAME"] == "new"


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


def test_killed_load_resumes_from_last_committed_batch(env):
    make, src, sink, state, clock = env
    real_start = sink.start_import

    def dying_start(rows, **kw):
        if len(sink.imports) == 2:
            raise ConnectionError("killed")
        return real_start(rows, **kw)

    sink.start_import = dying_start
    with pytest.raises(ConnectionError):
        make("crash2").run(mode="full", window=None)
    assert len(sink.imports) == 2
    sink.start_import = real_start
    sync = make("crash2")
    sync.load()  # the load task retried: extraction is not repeated
    sync.wait(timeout=600)
    s = sync.finish()
    rows = [r["email"] for i in sink.imports for r in i["rows"]]
    assert len(rows) == len(set(rows)) == 250 and s.created == 250 and src.full_calls == 1


def test_extract_and_load_as_two_tasks(env):
    make, src, sink, state, clock = env
    first = make("split")
    first.source = src
    summary = first.extract(mode="full", window=None)
    assert summary.read == 250 and sink.imports == []
    second = make("split")
    second.source = None  # the Brevo task needs no Customer.io port
    pending = second.load()
    assert pending and len(sink.imports) == len(pending)
    second.wait(timeout=600)
    assert second.finish().created == 250


def test_timeout_keeps_rows_pending_and_rerun_resumes_waiting(env):
    make, src, sink, state, clock = env
    src.people = {p.cio_id: p for p in people(5)}
    sink.never_finish = True
    with pytest.raises(BrevoProcessTimeout, match="re-run the task"):
        run_blocking(make("slow"), mode="full", window=None, timeout=10)
    sink.never_finish = False
    s = run_blocking(make("slow"), mode="full", window=None)
    assert len(sink.imports) == 1 and s.created == 5


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


def test_dry_run_writes_nothing_and_stores_nothing(env):
    make, src, sink, state, clock = env
    s = run_blocking(make(), mode="full", window=None, dry_run=True)
    assert sink.imports == [] and state.count_hashes(CIO_TO_BREVO) == 0 and s.updated == 250 and s.dry_run
    plan = s.to_xcom()["plan"]  # the plan: every person is new to Brevo, nothing to delete or move between lists
    assert plan["creates"] == 250 and (plan["updates"], plan["deletes"], plan["list_adds"]) == (0, 0, 0)
    assert len(plan["creates_items"]) == 50  # examples (cio ids), capped


def test_window_resolution():
    now = T0 + timedelta(days=3)
    assert (
        resolve_window(
            mode="full", data_interval_start=None, data_interval_end=None, since=None, now=now, watermark=None
        )
        is None
    )
    w = resolve_window(
        mode="incremental",
        data_interval_start=T0,
        data_interval_end=T0 + timedelta(hours=1),
        since=None,
        now=now,
        watermark=None,
    )
    assert (w.start, w.end) == (T0, T0 + timedelta(hours=1))
    w = resolve_window(
        mode="incremental",
        data_interval_start=None,
        data_interval_end=None,
        since="2024-01-02",
        now=now,
        watermark=None,
    )
    assert w.start == T0 + timedelta(days=1) and w.end == now
    w = resolve_window(
        mode="incremental",
        data_interval_start=None,
        data_interval_end=None,
        since=None,
        now=now,
        watermark=T0.isoformat(),
    )
    assert w.start == T0
    with pytest.raises(PeopleSyncError, match="no data interval.*`since`"):
        resolve_window(
            mode="incremental", data_interval_start=None, data_interval_end=None, since=None, now=now, watermark=None
        )
    with pytest.raises(PeopleSyncError, match="CronDataIntervalTimetable"):
        resolve_window(
            mode="incremental", data_interval_start=T0, data_interval_end=T0, since=None, now=now, watermark=None
        )
    with pytest.raises(PeopleSyncError, match="YYYY-MM-DD"):
        resolve_window(
            mode="incremental", data_interval_start=None, data_interval_end=None, since="soon", now=now, watermark=None
        )
