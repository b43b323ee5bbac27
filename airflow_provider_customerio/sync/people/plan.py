"""How an incremental people run reads the people the activity feed names: hydrated 100 per call (the ``feed``
plan), or in a filtered people export (the ``export`` plan), whichever is cheaper.

Customer.io's audience filters have only ``eq`` and ``exists`` conditions (no time or range operator, and the
``_``-prefixed internal attributes cannot be searched: https://docs.customer.io/api/app/#operation/exportPeopleData),
so no export can select "changed since"; the feed is read in full either way (it is also where the deletes and
merges come from), and the export names the changed people one by one (``or`` of ``cio_id`` ``eq``).

The choice is made on what is still to do once the feed is read, counted in App API calls: ``ceil(n / 100)``
hydrations against the export's calls (creation, polls, link, file) and its wait, which Customer.io does not bound
(in the sandbox it grows with the workspace, not with ``n``). The export is taken when it costs fewer calls AND no
more time than the hydrations take at the App API's 10 calls per second (https://docs.customer.io/api/app/, "Rate
limits"). Both are measured on this workspace's last filtered export (a store watermark); before the first, on its
last full export (a filter is evaluated over every profile, so the unkind reading is that a filtered export waits as
long); with neither, the export is assumed to cost :data:`DEFAULT_EXPORT_CALLS` calls and no wait, so the first run
with enough changes measures one. The plan and its token are in the run's checkpoint: a resumed run reads the same
export again and skips what it staged.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from airflow_provider_customerio.sync.mapping import Person
from airflow_provider_customerio.sync.people.ports import HYDRATE_CHUNK
from airflow_provider_customerio.sync.ports import SyncState

log = logging.getLogger(__name__)

FEED = "feed"
EXPORT = "export"
#: App calls of one filtered export before any was measured: create, two polls, the link, the file.
DEFAULT_EXPORT_CALLS = 5
#: Store watermark holding the calls and seconds of the last filtered export (JSON).
EXPORT_COST_WATERMARK = "people.cio_to_brevo.export_cost"
#: Ids per filtered export (the adapter's bound; the estimate counts one export per this many people).
EXPORT_IDS_PER_EXPORT = 10_000
#: The App API's published rate (10 requests per second for the whole workspace): what a call costs in time.
APP_CALLS_PER_S = 10.0


@runtime_checkable
class ExportingPeopleSource(Protocol):
    """A people source that can also export a named set of people (the ``export`` plan)."""

    def start_changed_export(self, cio_ids: Sequence[str]) -> dict[str, Any] | None:
        """Export these people and wait; a JSON-safe token with ``calls`` and ``seconds``, or ``None`` if failed."""
        ...

    def iter_export(self, token: Mapping[str, Any]) -> Iterator[Person]:
        """The exported people, in a stable order."""
        ...


@dataclass(frozen=True)
class ExportCost:
    """What a filtered export of some people is expected to cost: App calls and seconds waited."""

    calls: int
    seconds: float
    #: where the figures come from: ``filtered`` or ``full`` (the last such export), or ``""`` (assumed)
    measured: str


@dataclass(frozen=True)
class PlanChoice:
    """The plan of one incremental run and the counted costs it was chosen by."""

    plan: str
    changed: int
    feed_calls: int
    export: ExportCost

    @property
    def feed_seconds(self) -> float:
        return self.feed_calls / APP_CALLS_PER_S

    @property
    def reason(self) -> str:
        e = self.export
        basis = f"measured on the last {e.measured} export" if e.measured else "assumed, none measured yet"
        if self.plan == EXPORT:
            why = "the export costs fewer calls and no more time"
        elif not self.changed or e.calls >= self.feed_calls:
            why = "hydration costs fewer calls"
        else:
            why = "the export's wait is longer than the hydrations"
        return (
            f"incremental plan: {self.plan} ({self.changed:,} changed people: hydrating them costs "
            f"{self.feed_calls:,} App calls ({self.feed_seconds:.1f} s at {APP_CALLS_PER_S:g}/s), a filtered export "
            f"about {e.calls:,} calls and {e.seconds:.1f} s ({basis}); {why})"
        )


def export_cost_estimate(state: SyncState, changed: int) -> ExportCost:
    """The expected cost of a filtered export of ``changed`` people: the last export's calls per export (one export
    per :data:`EXPORT_IDS_PER_EXPORT` people) times the exports needed, and its seconds (exports run side by side)."""
    raw = state.get_watermark(EXPORT_COST_WATERMARK)
    per_export, seconds, measured = DEFAULT_EXPORT_CALLS, 0.0, ""
    if raw:
        try:
            last = _json_obj(raw)
            per_export = max(1, math.ceil(int(last["calls"]) / max(1, int(last.get("exports", 1)))))
            seconds, measured = max(0.0, float(last.get("seconds") or 0.0)), str(last.get("source") or "filtered")
        except (KeyError, TypeError, ValueError):
            log.warning("Ignoring the unreadable watermark %s=%r", EXPORT_COST_WATERMARK, raw)
    return ExportCost(per_export * max(1, math.ceil(changed / EXPORT_IDS_PER_EXPORT)), seconds, measured)


def seed_export_cost(state: SyncState, full_token: Mapping[str, Any]) -> None:
    """A full run's export cost (``calls``, ``seconds`` in its token) as the estimate, unless a filtered export was
    measured already (that one is closer to what an incremental run's export costs)."""
    if full_token.get("export_id") is None or full_token.get("calls") is None:
        return
    try:
        last = _json_obj(state.get_watermark(EXPORT_COST_WATERMARK) or "{}")
    except ValueError:
        last = {}
    if last and last.get("source", "filtered") != "full":
        return
    cost = {"calls": full_token["calls"], "seconds": full_token.get("seconds"), "exports": 1, "source": "full"}
    state.set_watermark(EXPORT_COST_WATERMARK, _json_dump(cost))


def choose_plan(changed: int, export: ExportCost) -> PlanChoice:
    """The export plan when it costs fewer App calls than hydrating ``changed`` people and its calls and wait take
    no longer than the hydrations at :data:`APP_CALLS_PER_S`; else the feed plan."""
    feed_calls = math.ceil(changed / HYDRATE_CHUNK)
    export_s = max(export.calls / APP_CALLS_PER_S, export.seconds)
    cheaper = export.calls < feed_calls and export_s <= feed_calls / APP_CALLS_PER_S
    return PlanChoice(EXPORT if changed and cheaper else FEED, changed, feed_calls, export)


def plan_incremental(source: object, state: SyncState, cio_ids: Sequence[str], *, record: bool) -> dict[str, Any]:
    """Choose the plan for these changed people, start the export if it is the export plan, and return what the
    checkpoint keeps: ``{"plan", "note", "token"?}``. ``record``: store the export's measured cost (not in dry
    runs). A source that cannot export, or an export that fails, gives the feed plan."""
    if not isinstance(source, ExportingPeopleSource):
        return {"plan": FEED, "note": f"incremental plan: feed ({len(cio_ids):,} changed people; no export)"}
    choice = choose_plan(len(cio_ids), export_cost_estimate(state, len(cio_ids)))
    if choice.plan == FEED:
        return {"plan": FEED, "note": choice.reason}
    token = source.start_changed_export(cio_ids)
    if token is None:
        return {"plan": FEED, "note": choice.reason + "; the export failed, so hydrated instead"}
    if record:
        cost = {
            "calls": token.get("calls"),
            "seconds": token.get("seconds"),
            "exports": len(token["export_ids"]),
            "source": "filtered",
        }
        state.set_watermark(EXPORT_COST_WATERMARK, _json_dump(cost))
    note = f"{choice.reason}; the export took {token.get('calls')} calls and {token.get('seconds')} s"
    return {"plan": EXPORT, "note": note, "token": dict(token)}


def stream_export(
    source: ExportingPeopleSource, token: Mapping[str, Any], staged: Sequence[str], offset: int
) -> Iterator[tuple[int, Person | None, str]]:
    """``(position, person or None if gone, cio_id)`` of the staged people, from ``offset`` on: first those in
    the export (file order, once each, only staged ones), then the staged ones it lacks (deleted since the change,
    like an id hydration leaves out). The same export read again gives the same positions."""
    wanted = set(staged)
    seen: set[str] = set()
    pos = 0
    for person in source.iter_export(token):
        cid = person.cio_id
        if cid not in wanted or cid in seen:
            continue
        seen.add(cid)
        if pos >= offset:
            yield pos, person, cid
        pos += 1
    for cid in _missing(staged, seen):
        if pos >= offset:
            yield pos, None, cid
        pos += 1


def _missing(staged: Iterable[str], seen: set[str]) -> Iterator[str]:
    done: set[str] = set()
    for cid in staged:
        if cid not in seen and cid not in done:
            done.add(cid)
            yield cid


def _json_obj(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def _json_dump(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True)
