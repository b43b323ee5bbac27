"""Vendor-imposed lower bounds on wall time, computed from the sandbox's rate limits and its request log.

Shared by the benchmark scripts and ``run_all.py``. A bound is the least time the vendors let a sync take for the
calls it needs, given

* the per-second limits (Customer.io App API 10/s, Track 1000/s, Brevo ``/contacts`` 10/s, ``/events`` 10/s),
  read from the sandbox's control plane (``GET /_sandbox/ratelimits``), so the figures follow the sandbox; N calls
  need ``(N - burst) / rate`` seconds, the burst being the one second of calls a full token bucket lets through;
* Brevo's fixed-window hourly budgets: ``/contacts`` 36,000/h and "all other endpoints" 100/h. The latter covers
  ``GET /processes/{id}``: N calls of that family take at least ``(ceil(N / 100) - 1)`` hours (a fresh window at the
  start of the run; the benchmarks reset the sandbox's buckets before each measured run);
* the processing time the sandbox models for Brevo import processes (``rate_per_s``/``queue_s`` of
  ``POST /_sandbox/brevo/processes/settings``): an account's imports run one after the other (Brevo: "Wait for
  your current import to finish before starting a new one"; the sandbox's default ``serial`` mode), so import k
  starts at the later of (its submission + ``queue_s``) and the end of import k-1, and ends ``rows / rate_per_s``
  later; it cannot be submitted before the calls that precede it in the run. So the bound is the larger of (all
  the calls) and the end of the last import. (With ``serial=False`` the sandbox runs imports side by side: each
  ends ``queue_s + rows / rate_per_s`` after its own submission, and the bound takes the latest.)
* the duration the sandbox models for a Customer.io people export (``export_queue_s``/``export_rate_per_s`` of
  ``PUT /_sandbox/customerio/settings``): an export created after the calls before it is done ``export_queue_s +
  people / export_rate_per_s`` later (the sandbox sizes it by every person of the workspace, whatever its filter),
  and its file can only be read then; so nothing imported from it can be submitted earlier. The bound therefore
  holds the export's end as a term, and each import submitted after the export was created starts no earlier than
  that end (plus its queue).

The calls of one sync run are counted one after another (the convention of the existing scripts: one task makes
them in sequence). Nothing here is asserted; the bounds are printed next to the measured wall times.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

HOUR = 3600.0

#: The sandbox's defaults (airflow_provider_customerio/sandbox/core.py), used only when the control plane is silent.
DEFAULT_LIMITS: dict[str, float] = {
    "track": 1000,
    "app": 10,
    "brevo_contacts": 10,
    "brevo_contacts_per_hour": 36_000,
    "brevo_events": 10,
    "brevo_events_per_hour": 36_000,
    "brevo_other_per_hour": 100,
}


def sandbox_limits(control_url: str) -> dict[str, float]:
    """The sandbox's vendor limits (``GET /_sandbox/ratelimits``), defaults for any key it does not report."""
    import requests

    try:
        got = requests.get(f"{control_url}/ratelimits", timeout=30).json()
    except Exception:  # an older sandbox: its documented defaults
        got = {}
    return {k: float(got.get(k) or v) for k, v in DEFAULT_LIMITS.items()}


def reset_buckets(control_url: str, enabled: bool = True) -> None:
    """Rebuild the sandbox's rate-limit buckets (a fresh hourly window) by re-sending ``enabled``."""
    import requests

    requests.put(f"{control_url}/ratelimits", json={"enabled": enabled}, timeout=30).raise_for_status()


def brevo_family(path: str) -> str:
    rest = path.split("/brevo/v3", 1)[-1]
    if rest.startswith("/contacts"):
        return "contacts"
    if rest.startswith("/events"):
        return "events"
    return "other"


def count_calls(log: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """Calls per rate-limit family; ``process_polls`` (``GET /processes/{id}``) is also inside ``brevo_other``."""
    counts: Counter[str] = Counter()
    for r in log:
        vendor, path, method = r.get("vendor", ""), r.get("path", ""), r.get("method", "")
        if vendor in ("app", "track"):
            counts[vendor] += 1
        elif vendor == "brevo":
            fam = brevo_family(path)
            counts[f"brevo_{fam}"] += 1
            if fam == "other" and method == "GET" and "/processes/" in path:
                counts["process_polls"] += 1
            if fam == "contacts" and method == "POST" and path.endswith("/contacts/import"):
                counts["imports"] += 1
        elif vendor == "files" or "/files/" in path:
            counts["files"] += 1
        else:
            counts["other_vendor"] += 1
    return counts


def per_second(calls: float, rate: float) -> float:
    """Least seconds for ``calls`` calls under a ``rate``/s token bucket that starts full: the sandbox's buckets
    hold one second of calls (``max(1, rate)``), which go through at once; the rest at ``rate``/s."""
    if calls <= 0 or rate <= 0:
        return 0.0
    return max(0.0, calls - max(1.0, rate)) / rate


def window_wait(calls: float, per_hour: float) -> float:
    """Least seconds for ``calls`` calls under a fixed ``per_hour`` window starting fresh."""
    if calls <= 0 or per_hour <= 0 or calls <= per_hour:
        return 0.0
    return (math.ceil(calls / per_hour) - 1) * HOUR


def lower_bound(
    counts: Mapping[str, float],
    limits: Mapping[str, float],
    *,
    other_needed: float | None = None,
    processing: Mapping[str, float] | None = None,
    export: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The bound and its terms. ``other_needed``: the Brevo "other" calls the work needs (default: those made);
    ``processing``: the critical import (see :func:`critical_import`), or empty when the run imported nothing;
    ``export``: the run's Customer.io export (see :func:`export_term`), or empty when it made none."""
    other = float(counts.get("brevo_other", 0) if other_needed is None else other_needed)
    contacts = float(counts.get("brevo_contacts", 0))
    events = float(counts.get("brevo_events", 0))
    terms = {
        "app_s": per_second(counts.get("app", 0), limits["app"]),
        "track_s": per_second(counts.get("track", 0), limits["track"]),
        "brevo_contacts_s": max(
            per_second(contacts, limits["brevo_contacts"]), window_wait(contacts, limits["brevo_contacts_per_hour"])
        ),
        "brevo_events_s": max(
            per_second(events, limits["brevo_events"]), window_wait(events, limits["brevo_events_per_hour"])
        ),
        "brevo_other_s": window_wait(other, limits["brevo_other_per_hour"]),
        "processing_s": 0.0,
    }
    calls_s = sum(terms.values())
    bound_s = calls_s
    if processing and processing.get("rate_per_s"):
        if "total_s" in processing:  # from critical_import: the import's end, queueing behind earlier ones included
            terms["processing_s"] = float(processing["total_s"]) - float(processing.get("before_s", 0.0))
        else:
            terms["processing_s"] = float(processing.get("queue_s", 0.0)) + float(processing.get("rows", 0)) / float(
                processing["rate_per_s"]
            )
        bound_s = max(calls_s, float(processing.get("before_s", 0.0)) + terms["processing_s"])
    export_end = 0.0
    if export and export.get("duration_s"):
        export_end = float(export.get("before_s", 0.0)) + float(export["duration_s"])
        bound_s = max(bound_s, export_end)
    return {
        "bound_s": bound_s,
        "calls_s": calls_s,
        **terms,
        "export_s": float((export or {}).get("duration_s", 0.0)),
        "export_end_s": export_end,
        "other_needed": other,
        "processing": dict(processing or {}),
        "export": dict(export or {}),
    }


def describe(b: Mapping[str, Any], counts: Mapping[str, float], limits: Mapping[str, float]) -> str:
    """One line: the bound and how it was computed."""
    parts = []
    if counts.get("app"):
        parts.append(f"App ({counts['app']:,.0f} calls - burst) / {limits['app']:g}/s = {b['app_s']:.1f} s")
    if counts.get("track"):
        parts.append(f"Track ({counts['track']:,.0f} - burst) / {limits['track']:g}/s = {b['track_s']:.1f} s")
    if counts.get("brevo_contacts"):
        parts.append(
            f"Brevo /contacts ({counts['brevo_contacts']:,.0f} - burst) / {limits['brevo_contacts']:g}/s "
            f"(and {limits['brevo_contacts_per_hour']:,.0f}/h) = {b['brevo_contacts_s']:.1f} s"
        )
    if counts.get("brevo_events"):
        parts.append(
            f"Brevo /events ({counts['brevo_events']:,.0f} - burst) / {limits['brevo_events']:g}/s = "
            f"{b['brevo_events_s']:.1f} s"
        )
    parts.append(
        f"Brevo other endpoints {b['other_needed']:,.0f} needed / {limits['brevo_other_per_hour']:g} per hour = "
        f"{b['brevo_other_s']:.0f} s"
    )
    text = f"vendor lower bound {b['bound_s']:.1f} s = max(calls {b['calls_s']:.1f} s = " + " + ".join(parts)
    e = b.get("export") or {}
    if e.get("duration_s"):
        text += (
            f"; Customer.io export of {float(e.get('rows', 0)):,.0f} people: the calls before it "
            f"{float(e.get('before_s', 0)):.1f} s + queue {float(e.get('queue_s', 0)):g} s + "
            f"{float(e.get('rows', 0)):,.0f} / {float(e.get('rate_per_s', 0)):,.0f} people/s = done at "
            f"{b.get('export_end_s', 0.0):.1f} s (sandbox export time; imports from it start no earlier)"
        )
    p = b.get("processing") or {}
    if p.get("rate_per_s") and p.get("serial"):
        text += (
            f"; {p.get('imports', 0):.0f} imports processed one after the other (Brevo: one import at a time per "
            f"account), each queued {float(p.get('queue_s', 0)):g} s: import #{p.get('index', 0):.0f} ends at "
            f"{float(p.get('total_s', 0)):.1f} s (the calls up to it {float(p.get('before_s', 0)):.1f} s; "
            f"{float(p.get('rows_total', 0)):,.0f} rows in all / {float(p['rate_per_s']):,.0f} rows/s, "
            "sandbox processing)"
        )
    elif p.get("rate_per_s"):
        text += (
            f"; import #{p.get('index', 0):.0f} of {p.get('imports', 0):.0f}: the calls up to it "
            f"{float(p.get('before_s', 0)):.1f} s + queue {float(p.get('queue_s', 0)):g} s + "
            f"{float(p.get('rows', 0)):,.0f} rows / {float(p['rate_per_s']):,.0f} rows/s (sandbox processing)"
        )
    return text + ")"


def critical_import(
    log: list[Mapping[str, Any]],
    rows: list[float],
    limits: Mapping[str, float],
    *,
    queue_s: float,
    rate_per_s: float,
    serial: bool = True,
    export: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """The import that ends last: ``rows`` are the rows of the run's accepted imports in submission order (the
    sandbox's process ids). ``serial`` (the sandbox's default, Brevo's one import at a time): an import starts at
    the later of its submission + ``queue_s`` and the end of the one before; else each runs from its own
    submission + ``queue_s``. ``export`` (:func:`export_term`): an import sent after the export was created is
    submitted no earlier than the export's end."""
    best: dict[str, float] = {}
    if not rate_per_s:
        return best
    k, end = 0, 0.0
    export_at = int((export or {}).get("log_index", -1))
    export_end = float((export or {}).get("before_s", 0.0)) + float((export or {}).get("duration_s", 0.0))
    for i, r in enumerate(log):
        is_import = r.get("vendor") == "brevo" and r.get("method") == "POST" and r.get("path", "").endswith("/import")
        if not is_import or not (200 <= int(r.get("status") or 0) < 300) or k >= len(rows):
            continue
        before = lower_bound(count_calls(log[: i + 1]), limits, other_needed=0)["calls_s"]
        if 0 <= export_at < i:
            before = max(before, export_end)
        start = max(before + queue_s, end) if serial else before + queue_s
        total = end = start + rows[k] / rate_per_s
        k += 1
        if not best or total > best["total_s"]:
            best = {"index": k, "before_s": before, "rows": rows[k - 1], "total_s": total}
    if best:
        best.update(
            imports=len(rows), queue_s=queue_s, rate_per_s=rate_per_s, serial=float(serial), rows_total=sum(rows)
        )
    return best


def is_export(r: Mapping[str, Any]) -> bool:
    """A Customer.io people export's creation (``POST /v1/exports/customers``)."""
    return r.get("method") == "POST" and str(r.get("path", "")).endswith("/v1/exports/customers")


def export_term(
    log: list[Mapping[str, Any]], limits: Mapping[str, float], *, people: float, rate_per_s: float, queue_s: float
) -> dict[str, float]:
    """The run's first Customer.io people export as a bound term: created after the calls before it
    (``before_s``), done ``queue_s + people / rate_per_s`` later (the sandbox's export time, sized by the
    workspace's ``people``); ``{}`` when the run made no export or exports take no time."""
    if not rate_per_s:
        return {}
    for i, r in enumerate(log):
        if is_export(r) and 200 <= int(r.get("status") or 0) < 300:
            before = lower_bound(count_calls(log[: i + 1]), limits, other_needed=0)["calls_s"]
            return {
                "log_index": float(i),
                "before_s": before,
                "rows": float(people),
                "rate_per_s": float(rate_per_s),
                "queue_s": float(queue_s),
                "duration_s": float(queue_s) + float(people) / float(rate_per_s),
            }
    return {}


def sdk_bound(mode: str, n: int, limits: Mapping[str, float]) -> dict[str, Any]:
    """Lower bound of the per-record SDK baseline for ``n`` people: its reads plus one write per person.

    ``brevo``: App API search (1,000 per page) and attributes (100 per call), then one ``POST /contacts`` per
    person. ``customerio``: Brevo ``GET /contacts`` (1,000 per page), then one Track identify per person."""
    if mode == "brevo":
        counts = {"app": math.ceil(n / 1000) + math.ceil(n / 100), "brevo_contacts": n}
    else:
        counts = {"brevo_contacts": math.ceil(n / 1000), "track": n}
    b = lower_bound(counts, limits, other_needed=0)
    return {**b, "counts": counts, "line": describe(b, counts, limits)}


def import_rows(control_url: str, known: int, rate_per_s: float) -> tuple[list[float], int]:
    """Rows of the import processes created after process id ``known`` (control plane ``GET
    /_sandbox/brevo/processes/{id}``: ``due_at - starts_at = rows / rate_per_s``), and the new max id."""
    import requests

    pid, rows = known, []
    while True:  # process ids are sequential: probe forward from the last one seen
        r = requests.get(f"{control_url}/brevo/processes/{pid + 1}", timeout=30)
        if r.status_code != 200:
            break
        pid += 1
        sb = r.json().get("sandbox") or {}
        if sb.get("kind") == "import" and sb.get("due_at") is not None and rate_per_s:
            rows.append(max(0.0, (sb["due_at"] - (sb.get("starts_at") or sb["due_at"])) * rate_per_s))
    return rows, pid
