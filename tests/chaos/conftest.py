"""Chaos tier: each sync runs against the sandbox while it injects faults, and its outcome is compared with a
fault-free run of the same seeded world.

The fault profile (fixed seeds, so a failure replays): about 10 % 5xx (500/502/503), 5 % 429, 2 % dropped
connections and 2 % slow responses on every vendor API, partial 207s on Track v2 batches, and Brevo-specific
faults (failed and half-done import processes, partial 207s on event batches, object records refused after the
202). On top, **post-apply faults** on about 6 % of the writes: the vendor applies the write, then the answer is
lost (connection reset, a proxy's 502, or a timeout then a reset), which is the case where a retry could double a
write. The world is as slow as the real vendors: Brevo import and object processes run in the background on the
sandbox clock at a processing rate (queued 1 s, then 500 rows/s), and reads lag: Brevo ``GET /events`` 30 s, Brevo
contact reads 10 s, the Customer.io activity feed 10 s, Customer.io person reads and exports after Track writes
10 s, dynamic segment rebuilds 30 s (sandbox-clock seconds; the
sandbox clock runs with wall time, plus 0.5 s per vendor request served, plus :data:`SCHEDULE_GAP` between two
scheduled runs; the outcome never depends on how fast the wall clock goes). Where the product waits
(the events' reconcile grace, the segment mirror's read-back settling) the tests hand it the sandbox clock.

A task that fails under faults is re-run like Airflow's ``retries`` would (same run id, up to ``MAX_TRIES``); then
the next scheduled run happens with the faults over. The tests assert, for every capability:

* right after the faulted run(s), record by record (:func:`assert_landed_or_ledgered`): every record read is in its
  destination with the content the fault-free run gave it, or in the ledger with a reason; every ledger row of the
  fault-free run is there as the same (record, reason); nothing else is in the destination (nothing lost, nothing
  half-written, nothing doubled);
* after the next run: both sides equal the fault-free run's (compared through the control plane), nothing is
  duplicated (Brevo events counted per source id), and every data reject of the fault-free run is in the ledger.

Backoff waits are shortened in-process (the retry decision and attempt counts are the product's own); nothing in
these tests waits on a timer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from airflow_provider_customerio.hooks import retry
from airflow_provider_customerio.store.ledger import VALUE_REASONS
from tests.integration.conftest import SandboxClient, sandbox, sandbox_server  # noqa: F401 (fixtures)

MAX_TRIES = 5

#: Generic faults, evaluated in order (the first rule that fires wins): ~10 % 5xx, 5 % 429, 2 % drops, 2 % slow.
FAULT_PROFILE: list[dict[str, Any]] = [
    {"vendor": "all", "kind": "500", "rate": 0.04, "seed": 101},
    {"vendor": "all", "kind": "502", "rate": 0.03, "seed": 102},
    {"vendor": "all", "kind": "503", "rate": 0.03, "seed": 103},
    {"vendor": "all", "kind": "429", "rate": 0.05, "seed": 104},
    {"vendor": "all", "kind": "drop", "rate": 0.02, "seed": 105},
    {"vendor": "all", "kind": "slow", "rate": 0.02, "delay_s": 0.05, "seed": 106},
    {"vendor": "track", "kind": "partial_207", "rate": 0.3, "seed": 107},
]
BREVO_FAULTS: list[dict[str, Any]] = [
    {"kind": "import_failure", "count": 2},
    {"kind": "import_partial", "count": 1},
    {"kind": "events_partial_207", "count": 2},
    {"kind": "object_reject", "count": 2},
]
#: Post-apply faults (writes only): applied, then the answer is lost.
POST_APPLY_PROFILE: list[dict[str, Any]] = [
    {"vendor": "all", "kind": "applied_5xx", "rate": 0.03, "seed": 111},
    {"vendor": "all", "kind": "applied_drop", "rate": 0.02, "seed": 112},
    {"vendor": "all", "kind": "applied_timeout", "rate": 0.01, "delay_s": 0.05, "seed": 113},
]
#: Read lag per surface, in sandbox-clock seconds.
READ_LAG = {"brevo_events": 30, "brevo_contacts": 10, "cio_activities": 10, "cio_segments": 30, "cio_people": 10}
#: Brevo processes: queued 1 s, then 500 rows per second, on the sandbox clock.
PROCESS_LAG = {"rate_per_s": 500, "queue_s": 1}
#: Sandbox-clock seconds between two scheduled runs (more than every lag and the events' reconcile grace).
SCHEDULE_GAP = 300.0


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the product's retry decisions and attempt counts, but wait at most 20 ms between attempts."""
    original = retry.RetryPolicy.wait_seconds

    def wait_seconds(self: retry.RetryPolicy, attempt: int, exc: BaseException | None) -> float:
        return min(0.02, original(self, attempt, exc))

    monkeypatch.setattr(retry.RetryPolicy, "wait_seconds", wait_seconds)


class Chaos:
    """Turns the fault profile on and off and keeps the tally of what fired."""

    def __init__(self, sb: SandboxClient, seed_offset: int = 0) -> None:
        self.sb = sb
        self.seed_offset = seed_offset

    def on(
        self, vendors: tuple[str, ...] = (), brevo_specific: bool = True, scale: float = 1.0, slow_world: bool = True
    ) -> None:
        """Arm the profile (pre- and post-apply faults), and make the world slow (process lag, read lag).

        :param vendors: APIs whose first calls certainly fault: one 503, one 429 and one dropped connection each,
            then two writes are applied and answered 502 / reset (and a partial 207 on the first Track
            batch). The syncs are frugal (a full people sync is ~12 calls, a
            reverse sync of 120 contacts 3), so rates alone would often miss them.
        :param scale: multiplies the generic rates.
        :param slow_world: Brevo processes in the background at a rate, and read lag on every surface.
        """
        rules: list[dict[str, Any]] = []
        for vendor in vendors:
            rules += [{"vendor": vendor, "kind": kind, "count": 1} for kind in ("503", "429", "drop")]
            rules += [{"vendor": vendor, "kind": kind, "count": 1} for kind in ("applied_5xx", "applied_drop")]
        if "track" in vendors:
            rules.append({"vendor": "track", "kind": "partial_207", "count": 1})
        for r in FAULT_PROFILE + POST_APPLY_PROFILE:
            rule = dict(r, seed=r["seed"] + 1000 * self.seed_offset)
            if r["kind"] != "partial_207":
                rule["rate"] = min(1.0, r["rate"] * scale)
            rules.append(rule)
        self.sb._call("POST", "/faults", json=rules)
        if brevo_specific:
            for spec in BREVO_FAULTS:
                self.sb._call("POST", "/brevo/faults", json=spec)
        if slow_world:
            slow_world_on(self.sb)

    def off(self) -> list[dict[str, Any]]:
        """Disarm every fault and let the schedule gap pass on the sandbox clock (the world stays slow: processes
        and reads still lag in the next run); return the rules with their ``fired`` counts."""
        fired = self.sb._call("GET", "/faults")["faults"]
        self.sb.clear_faults()
        self.sb._call("DELETE", "/brevo/faults")
        next_run(self.sb)
        return fired

    def injected(self) -> Counter[str]:
        """Faults seen in the request log (status 0 = dropped connection)."""
        return Counter(r["fault"] for r in self.sb.requests() if r.get("fault"))

    def post_applied(self, vendor: str | None = None) -> Counter[str]:
        """Post-apply faults that fired (the write was applied, its answer lost), by kind."""
        return Counter(
            r["fault"]
            for r in self.sb.requests(vendor=vendor)
            if r.get("fault", "") and str(r["fault"]).startswith("applied_") and r.get("applied_status")
        )


def slow_world_on(sb: SandboxClient) -> None:
    """Background Brevo processes at a rate, read lag on every surface, 0.5 s of sandbox clock per request."""
    sb._call("POST", "/brevo/processes/settings", json=PROCESS_LAG)
    sb._call("PUT", "/lag", json=READ_LAG)
    sb._call("PUT", "/clock", json={"tick_s": 0.5})


def next_run(sb: SandboxClient) -> None:
    """The time until the next scheduled run passes (sandbox clock)."""
    sb._call("POST", "/clock/advance", json={"seconds": SCHEDULE_GAP})


def sandbox_time(sb: SandboxClient) -> Callable[[], float]:
    """The sandbox clock as a time source (for the events forwarder's reconcile grace)."""
    return lambda: float(sb._call("GET", "/clock")["now"])


def sandbox_sleep(sb: SandboxClient) -> Callable[[float], None]:
    """A sleep that lets time pass on the sandbox clock instead of waiting."""
    return lambda seconds: sb._call("POST", "/clock/advance", json={"seconds": seconds}) and None


#: Each chaos test runs once per fixed fault seed (different requests hit, same rates).
FAULT_SEEDS = [0, 1, 2]


@pytest.fixture(params=FAULT_SEEDS, ids=[f"faultseed{s}" for s in FAULT_SEEDS])
def chaos(sandbox: SandboxClient, request: pytest.FixtureRequest) -> Chaos:
    return Chaos(sandbox, request.param)


def run_with_retries(make_and_run: Callable[[int], Any], max_tries: int = MAX_TRIES) -> tuple[Any, list[str]]:
    """Run a task the way Airflow retries it: on an exception, run it again (try_number + 1)."""
    errors: list[str] = []
    for try_number in range(1, max_tries + 1):
        try:
            return make_and_run(try_number), errors
        except Exception as exc:
            errors.append(f"try {try_number}: {type(exc).__name__}: {str(exc)[:300]}")
    raise AssertionError("the task failed on every try:\n" + "\n".join(errors))


# ---------------------------------------------------------------------------------------- snapshots


def brevo_contacts(sb: SandboxClient) -> dict[str, dict[str, Any]]:
    """Brevo contacts keyed by EXT_ID (else email, else SMS), without ids and timestamps."""
    out: dict[str, dict[str, Any]] = {}
    for c in sb._call("GET", "/brevo/contacts")["contacts"]:
        attrs = dict(c.get("attributes") or {})
        key = attrs.get("EXT_ID") or c.get("email") or attrs.get("SMS")
        assert key not in out, f"two Brevo contacts share the identifier {key!r}"
        out[str(key)] = {
            "email": c.get("email"),
            "attributes": attrs,
            "listIds": sorted(c.get("listIds") or []),
            "emailBlacklisted": c.get("emailBlacklisted"),
            "smsBlacklisted": c.get("smsBlacklisted"),
        }
    return out


def brevo_events(sb: SandboxClient) -> list[dict[str, Any]]:
    return sb._call("GET", "/brevo/events")["events"]


#: Event properties that the test world stamps with the wall clock when it creates the source events.
_CLOCK_PROPS = {"trigger_event_id", "timestamp"}


def event_key(e: dict[str, Any]) -> str:
    """An event's content without the wall-clock values of its source (its date, ULIDs minted at creation)."""
    props = {k: v for k, v in (e.get("event_properties") or {}).items() if k not in _CLOCK_PROPS}
    return json.dumps(
        {
            "name": e.get("event_name"),
            "ids": e.get("identifiers"),
            "props": props,
            "contact": e.get("contact_properties"),
        },
        sort_keys=True,
    )


_VOLATILE_PERSON_KEYS = {"updated_at", "_last_updated", "last_updated", "cio_updated_at"}


def cio_people(sb: SandboxClient) -> dict[str, dict[str, Any]]:
    """Live Customer.io people (control plane, <= 1000 people) keyed by id, else email, else phone, without
    server timestamps and without the server-assigned cio_id (creation order may differ between runs)."""
    body = sb._call("GET", "/state/customerio/people", params={"limit": 1000})
    assert body["count"] <= 1000, "the chaos tier keeps the world under 1000 people"
    out = {}
    for p in body["people"]:
        attrs = {k: v for k, v in p["attributes"].items() if k not in _VOLATILE_PERSON_KEYS}
        ids = {k: v for k, v in p["identifiers"].items() if k != "cio_id"}
        key = ids.get("id") or ids.get("email") or attrs.get("phone") or p["identifiers"]["cio_id"]
        assert key not in out, f"two Customer.io people share the identifier {key!r}"
        out[str(key)] = {"identifiers": ids, "attributes": attrs}
    return out


def cio_ids(sb: SandboxClient) -> set[str]:
    body = sb._call("GET", "/state/customerio/people", params={"limit": 1000})
    return {p["identifiers"]["cio_id"] for p in body["people"]}


def diff(a: dict[str, Any], b: dict[str, Any], limit: int = 5) -> str:
    """A short human description of how two keyed snapshots differ (for assertion messages)."""
    only_a, only_b = sorted(set(a) - set(b))[:limit], sorted(set(b) - set(a))[:limit]
    changed = [k for k in sorted(set(a) & set(b)) if a[k] != b[k]][:limit]
    lines = [f"only in fault-free: {only_a}", f"only in chaos: {only_b}"]
    lines += [f"{k}: fault-free {a[k]} != chaos {b[k]}" for k in changed]
    return "\n".join(lines)


def assert_landed_or_ledgered(
    read: Mapping[str, str],
    landed: Mapping[str, Any],
    expected: Mapping[str, Any],
    ledger: set[tuple[str, str]],
    ref_ledger: set[tuple[str, str]],
    *,
    soft_reasons: frozenset[str] = VALUE_REASONS,
) -> None:
    """Right after a faulted run, record by record: nothing lost, nothing half-written, nothing extra.

    :param read: the records the run read: record id (as the ledger names it) -> its key in the destination.
    :param landed: the destination now, by key (contacts with their attributes, list members, records...).
    :param expected: the destination after the fault-free run, by key.
    :param ledger: ``(record id, reason)`` rows of the faulted run's ledger.
    :param ref_ledger: the same of the fault-free run: each must be in ``ledger`` too.
    :param soft_reasons: reasons of records that still land (a value left out), so they count as not ledgered.
    """
    rejected = {rid for rid, reason in ledger if reason not in soft_reasons}
    lost, wrong = [], {}
    for rid, key in sorted(read.items()):
        if rid in rejected:
            continue
        if key not in landed:
            lost.append(rid)
        elif landed[key] != expected.get(key):
            wrong[key] = (expected.get(key), landed[key])
    stray = sorted(set(landed) - set(read.values()))
    missing_rejects = sorted(ref_ledger - ledger)
    assert not (lost or wrong or stray or missing_rejects), "\n".join(
        [
            f"read {len(read)}, landed {len(landed)}, ledgered {len(rejected)}",
            f"neither landed nor ledgered: {lost[:5]} ({len(lost)})",
            f"landed with other content than the fault-free run's: {list(wrong.items())[:3]} ({len(wrong)})",
            f"in the destination but not read: {stray[:5]} ({len(stray)})",
            f"fault-free ledger rows missing: {missing_rejects[:5]} ({len(missing_rejects)})",
        ]
    )


def lower_keys(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """A keyed snapshot with its keys lower-cased (e-mail keys compare case-insensitively)."""
    return {k.lower(): v for k, v in snapshot.items()}


@pytest.fixture
def world_reset(sandbox: SandboxClient) -> Iterator[Callable[[], None]]:
    """Reset the sandbox between the fault-free and the chaos run of one test."""
    yield lambda: sandbox.reset()
