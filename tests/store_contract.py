"""One behavioural contract of the sync store, run on SQLite (unit tier) and on PostgreSQL (postgres tier)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_customerio.store.fencing import LeaseLost, LeaseOwner
from airflow_provider_customerio.store.ledger import read_ledger
from airflow_provider_customerio.store.schema import LATEST, current_version
from airflow_provider_customerio.store.state import CIO_TO_BREVO, TO_BREVO, TO_CIO, OwnWrite
from airflow_provider_customerio.store.sync_store import LeaseHeld, SyncStore


def check_state_roundtrip(store: SyncStore) -> None:
    st = store.state()
    st.set_hashes(CIO_TO_BREVO, [(f"p{i}", f"h{i}") for i in range(2500)] + [("p0", "h0b")])  # last wins
    assert st.get_hashes(CIO_TO_BREVO, ["p0", "p1", "nope"]) == {"p0": "h0b", "p1": "h1"}
    assert st.count_hashes(CIO_TO_BREVO) == 2500
    st.set_hashes("brevo_to_cio", [("c1", "{" + "x" * 5000 + "}")])  # the reverse direction keeps field snapshots
    assert len(st.get_hash("brevo_to_cio", "c1") or "") == 5002
    st.upsert_identity("c1", email="a@example.com")
    st.upsert_identity("c1", brevo_id=7)  # NULL keeps the stored email
    assert st.get_identity("c1") is not None and st.get_identity("c1").email == "a@example.com"
    assert st.find_identity(brevo_id=7).cio_id == "c1"
    st.upsert_identities([("c1", None, "42"), ("c2", "b@example.com", None), ("c2", None, "43")])
    c1, c2 = st.get_identity("c1"), st.get_identity("c2")
    assert (c1.brevo_id, c1.email, c1.ext_id) == (7, "a@example.com", "42")  # NULLs keep stored values
    assert (c2.email, c2.ext_id) == ("b@example.com", "43")  # a key twice in one batch: merged
    added = st.stage_items("run", [(f"k{i % 1500}", "upsert", {"i": i}) for i in range(3000)])
    assert added == 1500 and st.count_staged("run") == 1500
    assert st.stage_items("run", [("k1", "delete", None), ("new", "delete", None)]) == 1  # first entry wins
    staged = list(st.iter_staged("run"))
    seqs = [s[0] for s in staged]
    assert seqs == sorted(set(seqs)) and len(seqs) == 1501  # in order; PostgreSQL may leave gaps
    assert [s[1] for s in staged] == [f"k{i}" for i in range(1500)] + ["new"] and staged[1][3] == {"i": 1}
    assert [s[1] for s in st.iter_staged("run", from_seq=seqs[1000])][:2] == ["k1000", "k1001"]
    st.add_pending("run", "42", [(f"p{i}", "h", {"email": f"{i}@x"}) for i in range(2100)], options={"a": 1})
    assert [p.process_id for p in st.pending_processes("run")] == ["42"]
    assert len(list(st.iter_pending_rows("run", "42"))) == 2100
    st.mark_seen("run", [f"p{i}" for i in range(2400)] + ["p1"])
    assert sorted(st.iter_unseen("run", CIO_TO_BREVO)) == sorted(f"p{i}" for i in range(2400, 2500))
    st.save_checkpoint("run", {"offset": 3})
    st.set_watermark("w", "2026-01-01")
    assert st.get_checkpoint("run") == {"offset": 3} and st.get_watermark("w") == "2026-01-01"
    with pytest.raises(RuntimeError), st.transaction():
        st.set_watermark("w", "rolled back")
        raise RuntimeError("boom")
    assert st.get_watermark("w") == "2026-01-01"
    # per-field last-synced digests: 1,200 people x 2 fields in batches, a field set twice keeps the last value
    st.set_field_digests([(f"c{i}", {"PLAN_NAME": f"d{i}", "email": "e"}) for i in range(1200)])
    st.set_field_digests([("c1", {"PLAN_NAME": "new"}), ("c1", {"PLAN_NAME": "newer"})])
    digests = st.get_field_digests(["c1", "c1199", "nobody"])
    assert digests == {"c1": {"PLAN_NAME": "newer", "email": "e"}, "c1199": {"PLAN_NAME": "d1199", "email": "e"}}
    st.forget_field_digests(["c1"])
    assert st.get_field_digests(["c1"]) == {}
    # own writes not yet read back (two-way stale reads): 1,200 people in batches, the later write wins
    st.record_own_writes(TO_CIO, [(f"c{i}", "PLAN_NAME", {"v": i}) for i in range(1200)], 100.0)
    st.record_own_writes(TO_CIO, [("c1", "PLAN_NAME", "later")], 200.0)
    assert st.get_own_writes(TO_CIO, ["c1", "c2"]) == {
        "c1": {"PLAN_NAME": OwnWrite("later", 200.0)},
        "c2": {"PLAN_NAME": OwnWrite({"v": 2}, 100.0)},
    }
    assert len(list(st.iter_own_write_people(TO_CIO))) == 1200 and st.get_own_writes(TO_BREVO, ["c1"]) == {}
    st.forget_own_writes(TO_CIO, [("c2", "PLAN_NAME")])
    assert st.expire_own_writes(TO_CIO, before=150.0) == 1198 and list(st.iter_own_write_people(TO_CIO)) == ["c1"]
    st.clear_run("run")
    assert st.count_staged("run") == 0 and st.pending_processes("run") == [] and st.get_checkpoint("run") is None
    assert st.count_hashes(CIO_TO_BREVO) == 2500  # hashes stay


def check_ledger_and_objects(store: SyncStore) -> None:
    with store.ledger("dag", "r1", "t") as led:
        for i in range(700):
            led.reject(record_id=f"p{i}", reason="invalid_email", message="m", stage="map")
    assert len(read_ledger(store.engine, "dag/r1/t")) == 700
    resumed = store.ledger("dag", "r1", "t", truncate_to=500)
    assert resumed.total == 500
    resumed.close()
    objs = store.objects()
    objs.apply("companies", "o1", linked={"p1": {"email": "a@x"}}, unlinked=[], hash="h1")
    objs.apply("companies", "o1", linked={"p2": {"id": "2"}}, unlinked=["p1"], hash=None)
    got = objs.get("companies", "o1")
    assert got is not None and got.hash == "h1" and set(got.links) == {"p2"}
    objs.set_reverse_hashes("companies", [("o9", "r")])
    assert objs.owned_by_brevo("companies", "o9") and not objs.owned_by_brevo("companies", "o1")


def check_leases(store: SyncStore) -> None:
    a = store.acquire("people:sync", "run A of d", ttl=60)
    assert a.holder == "run A of d"
    store.acquire("people:sync", "run A of d", ttl=60)  # re-entrant: a retry of the same run takes it back
    with pytest.raises(LeaseHeld, match="run A of d"):
        store.acquire("people:sync", "run B of d", wait=0)
    store.release("people:sync", "run A of d")
    store.acquire("people:sync", "run B of d", ttl=0.0)  # expires at once
    store.acquire("people:sync", "run C of d", wait=0)  # an expired lease is taken over
    store.release("people:sync", "run C of d")


def check_concurrent_lease_has_one_winner(store: SyncStore) -> None:
    winners: list[str] = []
    losers: list[str] = []
    barrier = threading.Barrier(6)

    def take(i: int) -> None:
        barrier.wait()
        try:
            store.acquire("race", f"run {i}", ttl=60, wait=0)
            winners.append(f"run {i}")
        except LeaseHeld:
            losers.append(f"run {i}")

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 5


def check_migrated(engine: Any) -> None:
    with engine.connect() as conn:
        assert current_version(conn) == LATEST
        assert sa.inspect(conn).has_table("rejected_record")


def check_lease_of_a_dead_holder_lapses(store: SyncStore) -> None:
    import time

    held = store.acquire("objects:forward", "run killed of d", ttl=0.5)  # never renewed: its holder "died"
    with pytest.raises(LeaseHeld, match="run killed of d"):
        store.acquire("objects:forward", "run next of d", wait=0)
    time.sleep(max(0.0, held.expires_at - time.time()) + 0.05)
    store.acquire("objects:forward", "run next of d", wait=0)
    store.release("objects:forward", "run next of d")


def check_a_held_lease_is_renewed(store: SyncStore) -> None:
    import time

    with store.leased("segments:1->2", "run A of d", ttl=3.0):
        time.sleep(4.0)  # past the ttl: the heartbeat (every second) kept it
        with pytest.raises(LeaseHeld, match="run A of d"):
            store.acquire("segments:1->2", "run B of d", wait=0)
    store.acquire("segments:1->2", "run B of d", wait=0)  # released at the end of the block


def check_fencing(store: SyncStore) -> None:
    """A retry takes the lease over at once; every commit of the try it replaced then fails and commits nothing
    (hashes, checkpoints, watermarks, staging, pending imports, ledger rows, object state, run summaries)."""
    name = "people:fenced"
    first, retry = LeaseOwner("run R of d", "load", 1), LeaseOwner("run R of d", "load", 2)
    st, objs = store.state(), store.objects()
    with pytest.raises(LeaseLost, match=r"task load try 1, fencing counter 1\) is stale"):  # raised at the end
        with store.leased(name, first, ttl=60) as held:
            with store.leased(name, first, ttl=60) as nested:  # re-entrant in one context: the same token
                assert nested.token == held.token
            st.set_hashes(CIO_TO_BREVO, [("p1", "try1")])  # committed: try 1 holds the lease
            ledger = store.ledger("d", "R", "load")
            ledger.reject(record_id="p9", reason="not_found", message="m", stage="hydrate")
            taken = store.acquire(name, retry, ttl=60, wait=0)  # at once: try 1 is dead or stalled
            assert (taken.fence, taken.holder) == (held.fence + 1, "run R of d") and taken.token != held.token
            with pytest.raises(LeaseHeld, match="run R of d"):  # another run still waits
                store.acquire(name, LeaseOwner("run S of d", "load", 1), wait=0)
            with pytest.raises(LeaseHeld):  # so does another task of the same run
                store.acquire(name, LeaseOwner("run R of d", "extract", 3), wait=0)
            writes = {
                "hashes": lambda: st.set_hashes(CIO_TO_BREVO, [("p1", "late"), ("p2", "late")]),
                "checkpoint": lambda: st.save_checkpoint("d/R/load", {"by": "try 1"}),
                "watermark": lambda: st.set_watermark("people.until", "late"),
                "staged": lambda: st.stage_items("d/R/load", [("p3", "upsert", None)]),
                "pending": lambda: st.add_pending("d/R/load", "77", [("p4", "h", {"email": "x"})]),
                "ledger": ledger.flush,
                "objects": lambda: objs.apply("companies", "o1", linked={}, unlinked=(), hash="late"),
                "summary": lambda: store.record_summary("people", "d", "R", "load", {"by": "try 1"}),
            }
            for what, write in writes.items():
                with pytest.raises(LeaseLost, match=f"lease of the sync '{name}' was taken over"):
                    write()
                    raise AssertionError(f"the stale try committed its {what}")
            with pytest.raises(LeaseLost, match=r"task load try 2"):  # try 1 cannot take it back either
                store.acquire(name, first, wait=0)
            ledger._buffer = []  # the stale rows are dropped with the try
    # nothing of the stale try's later writes landed; the retry's do
    assert st.get_hashes(CIO_TO_BREVO, ["p1", "p2"]) == {"p1": "try1"}
    assert st.get_checkpoint("d/R/load") is None and st.get_watermark("people.until") is None
    assert st.count_staged("d/R/load") == 0 and st.pending_processes("d/R/load") == []
    assert read_ledger(store.engine, "d/R/load") == [] and objs.get("companies", "o1") is None
    assert store.summaries("people") == []
    with store.leased(name, retry, ttl=60):  # the same try again (a deferred task resuming): takes it over
        st.set_hashes(CIO_TO_BREVO, [("p1", "try2"), ("p2", "try2")])
        store.record_summary("people", "d", "R", "load", {"by": "try 2"})
    assert st.get_hashes(CIO_TO_BREVO, ["p1", "p2"]) == {"p1": "try2", "p2": "try2"}
    assert [s["summary"]["by"] for s in store.summaries("people")] == ["try 2"]
    with store.leased(name, LeaseOwner("run S of d", "load", 1), wait=0):  # released: the next run takes it
        pass


def check_fencing_is_per_store(store: SyncStore, other: SyncStore) -> None:
    """A lease held in one store fences the writes to that store only (another database has no such lease)."""
    first, retry = LeaseOwner("run R of d", "load", 1), LeaseOwner("run R of d", "load", 2)
    with pytest.raises(LeaseLost):
        with store.leased("people:per-store", first, ttl=60):
            other.state().set_hashes(CIO_TO_BREVO, [("p1", "elsewhere")])  # not fenced by this store's lease
            store.acquire("people:per-store", retry, ttl=60, wait=0)
            other.state().set_hashes(CIO_TO_BREVO, [("p2", "elsewhere")])
            with pytest.raises(LeaseLost):
                store.state().set_hashes(CIO_TO_BREVO, [("p3", "stale")])
    assert other.state().get_hashes(CIO_TO_BREVO, ["p1", "p2"]) == {"p1": "elsewhere", "p2": "elsewhere"}


def check_import_slots(store: SyncStore) -> None:
    """At most ``limit`` Brevo imports in flight per account; a holder takes back the slot it never bound; a
    finished process frees its slot; a slot not renewed lapses; accounts are independent."""
    slots = store.import_slots()
    acct, other = "brevo:acct", "brevo:other"
    assert slots.take(acct, "run A", limit=1, ttl=60, now=1000.0) == 0
    assert slots.take(acct, "run B", limit=1, ttl=60, now=1001.0) is None  # one import at a time
    assert slots.take(acct, "run A", limit=1, ttl=60, now=1002.0) == 0  # its own unbound slot: a retry takes it back
    assert slots.take(other, "run B", limit=1, ttl=60, now=1002.0) == 0  # another account has its own slots
    assert slots.bind(acct, 0, "run A", "77", ttl=60, now=1003.0)
    assert slots.take(acct, "run A", limit=1, ttl=60, now=1004.0) is None  # bound to an import in flight: held
    assert slots.take(acct, "run B", limit=2, ttl=60, now=1004.0) == 1  # two allowed: the second slot
    assert [(h.slot, h.holder, h.process_id) for h in slots.in_flight(acct, now=1005.0)] == [
        (0, "run A", "77"),
        (1, "run B", None),
    ]
    slots.release_slot(acct, 1, "run B")  # its import was refused
    assert slots.release(acct, ["77", "nope"]) == 1  # process 77 finished
    assert slots.in_flight(acct, now=1006.0) == []
    assert slots.take(acct, "run C", limit=1, ttl=10, now=2000.0) == 0
    assert slots.renew(acct, "run C", ttl=10, now=2008.0) == 1  # alive: until 2018
    assert slots.take(acct, "run D", limit=1, ttl=10, now=2015.0) is None
    assert slots.take(acct, "run D", limit=1, ttl=10, now=2019.0) == 0  # run C died: its slot lapsed
    assert not slots.bind(acct, 0, "run C", "78", ttl=10, now=2020.0)  # and it cannot bind what it lost
    slots.release_slot(acct, 0, "run D")
    slots.release_slot(other, 0, "run B")


def check_concurrent_import_slot_has_one_winner(store: SyncStore) -> None:
    slots = store.import_slots()
    winners: list[int] = []
    barrier = threading.Barrier(6)

    def take(i: int) -> None:
        barrier.wait()
        import time

        if slots.take("brevo:race", f"run {i}", limit=2, ttl=60, now=time.time()) is not None:
            winners.append(i)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 2  # two slots, six takers
    for i in winners:
        for slot in (0, 1):
            slots.release_slot("brevo:race", slot, f"run {i}")


# ------------------------------------------------------------------------- Brevo's hourly budget per account
def check_request_budget(store: SyncStore) -> None:
    """One account's sliding window: the whole budget at once, then each call when the oldest leaves the window."""
    budget = store.request_budget()
    reserve = lambda account, now: budget.reserve(account, limit=3, window_s=60, now=now)
    assert [reserve("brevo:a", 0) for _ in range(3)] == [0, 0, 0]  # the whole budget at once
    assert reserve("brevo:a", 10) == 60 and reserve("brevo:a", 10) == 60  # then when the first calls leave
    assert reserve("brevo:a", 10) == 60 and reserve("brevo:a", 10) == 120  # a fourth in [60, 120) is not allowed
    assert reserve("brevo:b", 10) == 10  # per account
    assert reserve("brevo:a", 500) == 500  # an idle account has its budget back
    assert budget.spent("brevo:a", window_s=60, now=500) == [500]
    assert budget.spent("brevo:b", window_s=60, now=11) == [10]
    with pytest.raises(ValueError, match="limit >= 1"):
        budget.reserve("brevo:a", limit=0, window_s=60, now=0)


def check_concurrent_request_budget(open_store: Callable[[], SyncStore]) -> None:
    """Four reservers on four engines at once, 15 calls each against 20 an hour: whatever the interleaving, 20 go
    now, 20 an hour later and 20 two hours later; no window of an hour holds more than 20."""
    stores = [open_store() for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    times: list[float] = []
    errors: list[BaseException] = []

    def spend(s: SyncStore) -> None:
        budget = s.request_budget()
        barrier.wait()
        try:
            for _ in range(15):
                times.append(budget.reserve("brevo:race-budget", limit=20, window_s=3600, now=1000.0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=spend, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(times) == [1000.0] * 20 + [4600.0] * 20 + [8200.0] * 20
    assert max_in_any_window(times, 3600) == 20
    for s in stores:
        s.engine.dispose()


def max_in_any_window(times: list[float], window_s: float) -> int:
    """The most calls any half-open window ``[t, t + window_s)`` holds (the worst windows start at a call)."""
    return max(sum(1 for s in times if t <= s < t + window_s) for t in times)


def check_per_person_field_state(store: SyncStore) -> None:
    """Field digests and own writes live in one row per person: writes merge field by field (the other fields of
    the person are kept), expiry and forgetting drop single fields, and a person with none left is gone."""
    st = store.state()
    st.set_field_digests([("p1", {"A": "a1", "B": "b1"}), ("p2", {"A": "x"})])
    st.set_field_digests([("p1", {"B": "b2", "C": "c1"}), ("p1", {"C": "c2"}), ("p3", {})])
    assert st.get_field_digests(["p1", "p2", "p3"]) == {"p1": {"A": "a1", "B": "b2", "C": "c2"}, "p2": {"A": "x"}}
    st.record_own_writes(TO_BREVO, [("p1", "F1", 1), ("p1", "F2", None), ("p2", "F1", [1, "é"])], 100.0)
    st.record_own_writes(TO_BREVO, [("p1", "F2", {"k": None})], 200.0)
    st.record_own_writes(TO_CIO, [("p1", "F1", "other direction")], 50.0)
    assert st.get_own_writes(TO_BREVO, ["p1", "p2"]) == {
        "p1": {"F1": OwnWrite(1, 100.0), "F2": OwnWrite({"k": None}, 200.0)},
        "p2": {"F1": OwnWrite([1, "é"], 100.0)},
    }
    assert st.expire_own_writes(TO_BREVO, before=150.0) == 2  # p1.F1 and p2.F1; p1.F2 is younger
    assert st.get_own_writes(TO_BREVO, ["p1", "p2"]) == {"p1": {"F2": OwnWrite({"k": None}, 200.0)}}
    assert list(st.iter_own_write_people(TO_BREVO)) == ["p1"]
    st.record_own_writes(TO_BREVO, [("p1", "F3", "v")], 300.0)
    st.forget_own_writes(TO_BREVO, [("p1", "F2"), ("p1", "nope"), ("p9", "F1")])
    assert st.get_own_writes(TO_BREVO, ["p1"]) == {"p1": {"F3": OwnWrite("v", 300.0)}}
    assert st.expire_own_writes(TO_BREVO, before=250.0) == 0  # the row's earliest write went with F2
    st.forget_own_writes(TO_BREVO, [("p1", "F3")])
    assert list(st.iter_own_write_people(TO_BREVO)) == [] and st.get_own_writes(TO_CIO, ["p1"]) != {}
    # a person's writes apart in one call: merged, the last write of a field winning
    st.record_own_writes(TO_CIO, [("q1", "F1", "a"), ("q2", "F1", "b"), ("q1", "F1", "c"), ("q1", "F2", "d")], 1.0)
    assert st.get_own_writes(TO_CIO, ["q1"]) == {"q1": {"F1": OwnWrite("c", 1.0), "F2": OwnWrite("d", 1.0)}}
