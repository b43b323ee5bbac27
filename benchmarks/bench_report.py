"""Rendering the benchmark report (``run_all.py``) from its saved figures (``results.json``): no benchmark runs here.

``build_report(saved)`` is a pure function of the saved figures, so ``run_all.py --render results.json`` rebuilds
the committed ``RESULTS.md`` exactly (its charts as files beside it), and a test checks that the committed report
and the committed ``results.json`` agree. The layout of ``saved`` (version 2)::

    {"version": 2, "scale": "full" | "quick", "results": {part key: figures}, "errors": {part: message},
     "parts": {part: {"started", "finished", "duration_s", "commit", "command", "assumptions"}}, "meta": {...}}
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

SERIAL, SIDE = "serial", "side-by-side"

#: The goals of issue 26 (at 1,000,000 people, one import at a time, unless the row says otherwise).
TARGETS = {
    "wall_over_bound": 1.15,
    "cpu_us_per_person": 50.0,
    "rss_mb": 300.0,
    "http_429": 0,
    "calls_per_1000": 0.1,
    "reverse_over_bound": 2.0,
    "segments_over_bound": 2.0,
    "postgres_over_sqlite": 1.2,
    "postgres_at": 100_000,
    "incremental_over_changed_only": 1.3,
    "sdk_speedup": 50.0,
}

#: The people sync's target scale.
TARGET_PEOPLE = 1_000_000


def svg_bars(title: str, groups: list[tuple[str, list[tuple[str, float]]]], unit: str, log_scale: bool = False) -> str:
    """Horizontal grouped bar chart as inline SVG (no dependency). ``groups``: (label, [(series, value)])."""

    colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"]
    series = []
    for _, vals in groups:
        for name, _v in vals:
            if name not in series:
                series.append(name)
    values = [v for _, vals in groups for _, v in vals if v is not None]
    vmax = max(values or [1.0])

    def scale(v: float) -> float:
        if log_scale:
            return 0.0 if v <= 0 else math.log10(1 + v) / math.log10(1 + vmax)
        return v / vmax if vmax else 0.0

    bar_h, gap, left, width = 14, 10, 230, 420
    rows = sum(len(vals) for _, vals in groups)
    height = 40 + rows * bar_h + len(groups) * gap + 20 * len(series)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    y = 30
    for label, vals in groups:
        parts.append(f'<text x="4" y="{y + bar_h - 3}">{html.escape(label)}</text>')
        for name, v in vals:
            c = colors[series.index(name) % len(colors)]
            w = max(1.0, scale(v or 0) * width)
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{c}"/>')
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}">{v:,.2f} {html.escape(unit)}</text>')
            y += bar_h
        y += gap
    for i, name in enumerate(series):
        c = colors[i % len(colors)]
        parts.append(
            f'<rect x="4" y="{y + i * 18}" width="10" height="10" fill="{c}"/>'
            f'<text x="18" y="{y + i * 18 + 9}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


class Charts:
    """Charts inline (``report.md``) or as separate SVG files referenced by relative links (``RESULTS.md``)."""

    def __init__(self, folder: Path | None = None, rel: str = "") -> None:
        self.folder, self.rel = folder, rel

    def __call__(self, name: str, svg: str, alt: str) -> str:
        if self.folder is None:
            return svg
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.svg").write_text(svg + "\n")
        return f"![{alt}]({self.rel}/{name}.svg)"


# ------------------------------------------------------------------------------------------------ figures


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when b is about 0 (a bound within the vendors' burst) or a figure is missing."""
    if a is None or b is None or b < 0.05:
        return None
    return a / b


def ratio_txt(wall: float | None, bound: float | None) -> str:
    r = ratio(wall, bound)
    return "– (bound ≈ 0)" if r is None else f"{r:.2f}"


def people_rows(results: dict[str, Any], mode: str = SERIAL, store: str = "sqlite") -> list[dict[str, Any]]:
    """The full-sync scales (not the changed-only baseline) of one import mode and store, smallest first."""
    rows = [*results.get("people", []), *results.get("people_pg", [])]
    return sorted(
        (
            r
            for r in rows
            if not r.get("baseline") and r.get("imports_mode", SERIAL) == mode and r.get("store", "sqlite") == store
        ),
        key=lambda r: r["records"],
    )


def changed_only_base(results: dict[str, Any], big: dict[str, Any]) -> dict[str, Any] | None:
    """The full sync of a sandbox seeded with only the changed count (a scale, or the extra baseline run)."""
    inc = big.get("incremental")
    if not inc:
        return None
    want = round(big["records"] * inc["fraction"])
    return next(
        (
            r
            for r in results.get("people", [])
            if r["records"] == want
            and r.get("imports_mode", SERIAL) == big.get("imports_mode", SERIAL)
            and r.get("store", "sqlite") == big.get("store", "sqlite")
        ),
        None,
    )


def cpu_us(r: dict[str, Any]) -> float | None:
    """Provider CPU per person, µs: ``getrusage`` around the operator's ``execute()`` over the people read."""
    cpu = r.get("sync_cpu_s")
    return None if cpu is None else 1e6 * cpu / max(1, r.get("read") or 0)


def calls_text(c: dict[str, Any]) -> str:
    """A run's calls by rate-limit family, in words."""
    return (
        f"App {c.get('app', 0)}, Brevo /contacts {c.get('brevo_contacts', 0)} ({c.get('imports', 0)} imports), "
        f"Brevo other {c.get('brevo_other', 0)} (GET /processes {c.get('process_polls', 0)}), Track "
        f"{c.get('track', 0)}, export files {c.get('files', 0)}"
    )


def sdk_speedups(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per SDK baseline: measured, or capped with a speed-up computed against its vendor bound."""
    people, reverse = people_rows(results), results.get("reverse", [])
    rows = []
    for key, label, provider in (
        ("sdk_brevo", "CIO→Brevo, brevo-python per record (create_contact)", people),
        ("sdk_brevo_import", "CIO→Brevo, brevo-python import call (import_contacts)", people),
        ("sdk_customerio", "Brevo→CIO, customerio per record (identify)", reverse),
    ):
        for base in results.get(key, []):
            match = next((r for r in provider if r["records"] == base.get("size")), None)
            row: dict[str, Any] = {"key": key, "label": label, "size": base.get("size"), "base": base}
            row["provider"] = match
            if match and base.get("skipped"):
                sdk_bound = base["bound"]["bound_s"]
                row["speedup"] = sdk_bound / match["wall_s"] if match["wall_s"] and sdk_bound >= 0.05 else None
                row["kind"] = "bound"
            elif match and base.get("wall_s"):
                row["speedup"] = base["wall_s"] / match["wall_s"] if match["wall_s"] else None
                row["kind"] = "measured"
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ targets


def _verdict(ok: bool | None) -> str:
    return "not evaluated" if ok is None else ("met" if ok else "not met")


def _people_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    T, out = TARGETS, []
    scales = people_rows(results)
    if not scales:
        return [("people sync goals", "no people figures", "not evaluated", "people_sync.py gave no figures")]
    big = scales[-1]
    at = f"at {big['records']:,}" + ("" if big["records"] >= TARGET_PEOPLE else f" (goal set at {TARGET_PEOPLE:,})")
    r = ratio(big["wall_s"], big["bound_s"])
    out.append(
        (
            f"wall ≤ {T['wall_over_bound']}× the vendor bound, one import at a time, {at}",
            f"{r:.2f}× ({big['wall_s']:.1f} s / {big['bound_s']:.1f} s)" if r else "bound ≈ 0",
            _verdict(None if r is None else r <= T["wall_over_bound"]),
            f"{big['wall_s'] - big['bound_s']:.1f} s above the bound; {big['process_polls']} GET /processes "
            f"(notify {'on' if big.get('notify') else 'off: polling'})",
        )
    )
    us = cpu_us(big)
    out.append(
        (
            f"≤ {T['cpu_us_per_person']:.0f} µs of provider CPU per person {at}",
            "not measured" if us is None else f"{us:.1f} µs ({big['sync_cpu_s']:.1f} s CPU / {big['read']:,} read)",
            _verdict(None if us is None else us <= T["cpu_us_per_person"]),
            "getrusage (user + system, the sync process and its reaped children) around the operator's execute(); "
            f"the whole child process, start-up included: {big.get('cpu_s') or 0:.1f} s",
        )
    )
    out.append(
        (
            f"peak RSS < {T['rss_mb']:.0f} MB {at}",
            f"{big['rss_mb']:.0f} MB",
            _verdict(big["rss_mb"] < T["rss_mb"]),
            "ru_maxrss of the sync's own process (a fresh child per run)",
        )
    )
    n429 = sum(int(r.get("http_429") or 0) for r in [*results.get("people", []), *results.get("people_pg", [])])
    out.append(
        (
            f"{T['http_429']} HTTP 429 {at}",
            f"{big['http_429']} (all people runs: {n429})",
            _verdict(int(big["http_429"]) <= T["http_429"]),
            "counted by the sandbox (GET /_sandbox/requests/counts: every answer since the run began, not capped like "
            "its request log)"
            if big.get("http_429_from") == "counts"
            else "counted in the sandbox's request log (its last 50,000 requests)",
        )
    )
    out.append(
        (
            f"calls ≤ {T['calls_per_1000']} per 1,000 people {at}",
            f"{big['calls_per_1000']:.3f} ({big['calls']:,} calls)",
            _verdict(big["calls_per_1000"] <= T["calls_per_1000"]),
            "calls: " + calls_text(big["calls_by_api"]),
        )
    )
    return out


def _other_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    T, out = TARGETS, []
    reverse = sorted(results.get("reverse", []), key=lambda r: r["records"])
    if reverse:
        big = reverse[-1]
        r = ratio(big["wall_s"], big["bound_s"])
        out.append(
            (
                f"reverse sync {big['records']:,} within {T['reverse_over_bound']:g}× its bound",
                f"{r:.2f}× ({big['wall_s']:.1f} s / {big['bound_s']:.1f} s)" if r else "bound ≈ 0",
                _verdict(None if r is None else r <= T["reverse_over_bound"]),
                f"calls per 1,000: {big['calls_per_1000']:.2f}",
            )
        )
    else:
        out.append(("reverse sync within 2× its bound", "not run", "not evaluated", "no reverse figures"))
    first = next(
        (s for s in results.get("segments", []) if s.get("imports_mode", SERIAL) == SERIAL and "first" in s["label"]),
        None,
    )
    if first and first.get("bound_s") is not None:
        r = ratio(first["wall_s"], first["bound_s"])
        out.append(
            (
                f"segment mirror's first run within {T['segments_over_bound']:g}× its bound, one import at a time",
                f"{r:.2f}× ({first['wall_s']:.1f} s / {first['bound_s']:.1f} s)" if r else "bound ≈ 0",
                _verdict(None if r is None else r <= T["segments_over_bound"]),
                f"{first['added']:,} members added; {first.get('process_polls', 0)} GET /processes",
            )
        )
    else:
        out.append(("segment mirror first run within 2× its bound", "not run", "not evaluated", "no figures"))
    out.append(_postgres_target(results))
    out += _incremental_targets(results)
    out.append(_sdk_target(results))
    return out


def _postgres_target(results: dict[str, Any]) -> tuple[str, str, str, str]:
    T = TARGETS
    pg = {r["records"]: r for r in people_rows(results, store="postgres")}
    lite = {r["records"]: r for r in people_rows(results)}
    common = sorted(set(pg) & set(lite))
    want = f"PostgreSQL store ≤ {T['postgres_over_sqlite']}× the SQLite wall at {T['postgres_at']:,} people"
    if not common:
        return (want, "not run", "not evaluated", "no PostgreSQL run at a size the SQLite runs have")
    n = T["postgres_at"] if T["postgres_at"] in common else common[-1]
    p, s = pg[n], lite[n]
    r = p["wall_s"] / s["wall_s"] if s["wall_s"] else float("inf")
    cpu = f"; sync CPU {p.get('sync_cpu_s') or 0:.1f} s vs {s.get('sync_cpu_s') or 0:.1f} s"
    return (
        want + ("" if n == T["postgres_at"] else f" (measured at {n:,})"),
        f"{r:.2f}× ({p['wall_s']:.1f} s vs {s['wall_s']:.1f} s)",
        _verdict(r <= T["postgres_over_sqlite"]),
        "one import at a time, each store fresh" + cpu,
    )


def _incremental_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    T = TARGETS
    scales = people_rows(results)
    big = scales[-1] if scales else {}
    inc, base = big.get("incremental"), changed_only_base(results, big) if big else None
    if not (inc and base):
        return [("incremental ≤ 1.3× a full sync of the changed people", "not run", "not evaluated", "no figures")]
    out = []
    for what, a, b in (("calls", inc["calls"], base["calls"]), ("wall", inc["wall_s"], base["wall_s"])):
        r = a / b if b else float("inf")
        out.append(
            (
                f"incremental ({inc['changed']:,} changed of {big['records']:,}) ≤ "
                f"{T['incremental_over_changed_only']}× a full sync of {base['records']:,} people, by {what}",
                f"{r:.2f}× ({a:,.1f} s vs {b:,.1f} s)" if what == "wall" else f"{r:.2f}× ({a:,} vs {b:,} calls)",
                _verdict(r <= T["incremental_over_changed_only"]),
                f"incremental: {calls_text(inc['calls_by_api'])}; changed-only full sync: "
                f"{calls_text(base['calls_by_api'])}",
            )
        )
    return out


def _sdk_target(results: dict[str, Any]) -> tuple[str, str, str, str]:
    T = TARGETS
    speed = [r for r in sdk_speedups(results) if r["key"] == "sdk_brevo" and r.get("speedup")]
    if not speed:
        return ("≥ 50× faster than the per-record SDK (earlier goal)", "not measured", "not evaluated", "no figures")
    r = max(speed, key=lambda x: x["size"])
    bound = r["kind"] == "bound"
    verdict = _verdict(r["speedup"] >= T["sdk_speedup"]) + (
        " (against the SDK's computed bound, not a measurement)" if bound else ""
    )
    sdk = r["base"]["bound"]["bound_s"] if bound else r["base"]["wall_s"]
    return (
        f"≥ {T['sdk_speedup']:.0f}× faster than the per-record SDK baseline at {r['size']:,} (earlier goal)",
        f"{'≥ ' if bound else ''}{r['speedup']:.1f}×",
        verdict,
        f"SDK {'bound' if bound else 'wall'} {sdk:,.0f} s vs provider wall {r['provider']['wall_s']:,.1f} s",
    )


def evaluate_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict, why) rows: the people goals at the largest scale, then the others."""
    return _people_targets(results) + _other_targets(results)


# ------------------------------------------------------------------------------------------------ sections


def _fmt(v: Any, spec: str = ",.1f") -> str:
    return "" if v is None else format(v, spec)


def section_provenance(saved: dict[str, Any]) -> list[str]:
    """Which part ran when, at which commit, with which command; the machine."""
    meta, parts = saved.get("meta") or {}, saved.get("parts") or {}
    L = []
    if meta.get("rendered"):
        L.append(f"- **Rendered**: {meta['rendered']} from the parts' `results.json` (`run_all.py --render`)")
    if m := meta.get("machine"):
        L.append(
            f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; {m['os']}; Python {m['python']}; "
            f"Airflow {m['airflow']}"
        )
    commits = sorted({p.get("commit", "?") for p in parts.values()}) or [meta.get("machine", {}).get("commit", "?")]
    L.append(f"- **Git commit**: {', '.join(f'`{c}`' for c in commits)}")
    if meta.get("command"):
        last = (
            " (the last invocation; each part's below)" if len({p.get("command") for p in parts.values()}) > 1 else ""
        )
        L.append(f"- **Command**{last}: `{meta['command']}`")
    L.append("")
    if parts:
        L += [
            "Each part of the report, when it ran and at which commit (parts run in separate invocations are merged "
            "into one `results.json` with `--merge-into`):",
            "",
            "| part | started (UTC) | took | commit | command |",
            "|---|---|---:|---|---|",
        ]
        for name, p in sorted(parts.items(), key=lambda kv: kv[1].get("started", "")):
            sha = str(p.get("commit", "?"))
            dirty = " (uncommitted changes)" if "uncommitted" in sha else ""
            L.append(
                f"| {name} | {p.get('started', '?')} | {float(p.get('duration_s') or 0) / 60:.1f} min | "
                f"`{sha[:12]}`{dirty} | `{p.get('command', '?')}` |"
            )
        L.append("")
    return L


ASSUMPTION_ROWS = (
    ("import_rate_per_s", "Brevo import processing", "rows/s", "POST /_sandbox/brevo/processes/settings rate_per_s"),
    ("import_queue_s", "Brevo import queue before processing", "s", "… queue_s"),
    (
        "export_rate_per_s",
        "Customer.io people export",
        "people/s (the whole workspace)",
        "PUT /_sandbox/customerio/settings export_rate_per_s",
    ),
    ("export_queue_s", "Customer.io export queue", "s", "… export_queue_s"),
    (
        "max_imports_in_flight_side_by_side",
        "provider's imports in flight, side-by-side column",
        "",
        "Brevo connection extra max_imports_in_flight (one import at a time: the default, 1)",
    ),
    ("poll_interval", "operator poll_interval (import polls)", "s", "people_sync.py --poll-interval"),
    ("export_check_interval", "operator export_check_interval", "s", "people_sync.py --export-check-interval"),
    (
        "import_check_interval",
        "segment mirror import_check_interval",
        "s",
        "segments_mirror.py --import-check-interval",
    ),
    ("sdk_poll_s", "SDK import baseline: get_process every", "s", "sdk_baseline.POLL_S"),
    ("notify", "Brevo notifyUrl (people sync)", "", "people_sync.py --notify"),
)

LIMIT_ROWS = (
    (("app",), "Customer.io App API"),
    (("track",), "Customer.io Track API"),
    (("brevo_contacts", "brevo_contacts_per_hour"), "Brevo /contacts"),
    (("brevo_events", "brevo_events_per_hour"), "Brevo /events"),
    (("brevo_other_per_hour",), "Brevo all other endpoints (GET /processes, …)"),
)


def _value(text: str) -> str:
    """A stated value as the report prints it: ``1000.0`` -> ``1,000``, ``0.5`` -> ``0.5``, words unchanged."""
    try:
        v = float(text)
    except ValueError:
        return text
    return f"{v:,.0f}" if v == int(v) else f"{v:,g}"


def section_assumptions(saved: dict[str, Any]) -> list[str]:
    """Every assumed rate, as each part ran it (a value that differs between parts is listed per part)."""
    parts = saved.get("parts") or {}
    values: dict[str, dict[str, list[str]]] = {}
    for name, p in parts.items():
        for key, v in (p.get("assumptions") or {}).items():
            values.setdefault(key, {}).setdefault(str(v), []).append(name)
    L = [
        "## Assumptions (every rate the figures depend on)",
        "",
        "Neither vendor publishes how fast an import (Brevo) or a people export (Customer.io) is processed; these are "
        "order-of-magnitude assumptions fixed before any measurement, the same at every scale, never fitted to a "
        "target. The bounds print each term, so a reader can rescale them.",
        "",
        "| assumption | value | set by |",
        "|---|---|---|",
    ]
    for key, label, unit, where in ASSUMPTION_ROWS:
        got = values.get(key)
        if not got:
            continue
        text = "; ".join(
            _value(v) if len(got) == 1 else f"{_value(v)} ({', '.join(sorted(ps))})" for v, ps in got.items()
        )
        L.append(f"| {label} | {text} {unit} | {where} |")
    limits = next((r.get("limits") for r in saved.get("results", {}).get("people", []) if r.get("limits")), None)
    for keys, label in LIMIT_ROWS:
        if limits and all(k in limits for k in keys):
            text = " and ".join(f"{limits[k]:,.0f}/{'h' if k.endswith('_per_hour') else 's'}" for k in keys)
            L.append(f"| rate limit: {label} | {text} | the sandbox's, read from `GET /_sandbox/ratelimits` |")
    L.append("")
    return L


def section_targets(results: dict[str, Any]) -> list[str]:
    L = ["## Targets", "", "| target | measured | verdict | why |", "|---|---|---|---|"]
    L += [f"| {a} | {b} | **{c}** | {d} |" for a, b, c, d in evaluate_targets(results)]
    return L + [""]


def section_people(results: dict[str, Any]) -> list[str]:
    """The people sync at every scale, one import at a time and side by side, as two columns."""
    serial = {r["records"]: r for r in people_rows(results)}
    side = {r["records"]: r for r in people_rows(results, SIDE)}
    if not serial and not side:
        return []
    L = [
        "## People sync, Customer.io → Brevo: one import at a time and side by side",
        "",
        "The sandbox processes an account's Brevo imports **one at a time** (its default; Brevo: \"Wait for your "
        'current import to finish before starting a new one"; the provider keeps its default of one import in '
        "flight), or **side by side** (`serial: false`, and the Brevo connection extra `max_imports_in_flight` "
        "raised, value in the assumptions). Each column has its own vendor bound (`vendor_bounds.py`).",
        "",
        "| people | one at a time: wall s | bound s | wall / bound | side by side: wall s | bound s | wall / bound | "
        "calls / 1,000 | CPU µs / person (one at a time; side by side) | peak RSS MB | HTTP 429 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(set(serial) | set(side)):
        a, b = serial.get(n) or {}, side.get(n) or {}
        any_row = a or b
        L.append(
            f"| {n:,} | {_fmt(a.get('wall_s'))} | {_fmt(a.get('bound_s'))} | "
            f"{ratio_txt(a.get('wall_s'), a.get('bound_s')) if a else ''} | {_fmt(b.get('wall_s'))} | "
            f"{_fmt(b.get('bound_s'))} | {ratio_txt(b.get('wall_s'), b.get('bound_s')) if b else ''} | "
            f"{any_row['calls_per_1000']:.3f} | {_fmt(cpu_us(a) if a else None, '.1f')}; "
            f"{_fmt(cpu_us(b) if b else None, '.1f')} | {max(a.get('rss_mb', 0), b.get('rss_mb', 0)):.0f} | "
            f"{int(a.get('http_429') or 0) + int(b.get('http_429') or 0)} |"
        )
    L += [
        "",
        "Calls per 1,000 and HTTP 429 over both columns; CPU is the operator's `execute()` (getrusage) over the "
        "people read. Where the time goes (CPU seconds during each run, the sandbox emulating both vendors on the "
        "same cores):",
        "",
    ]
    for r in [*serial.values(), *side.values()]:
        L.append(
            f"- {r['records']:,}, {r.get('imports_mode', SERIAL)}: wall {r['wall_s']:.1f} s; sync CPU "
            f"{_fmt(r.get('sync_cpu_s'))} s in execute() ({_fmt(r.get('cpu_s'))} s the whole process); sandbox CPU "
            f"{_fmt(r.get('sandbox_cpu_s'))} s; {r['imports']} imports, {r['process_polls']} GET /processes, notify "
            f"{'on' if r.get('notify') else 'off'}; re-run Brevo writes {r.get('rerun_writes', '-')}"
        )
    return L + [""]


def section_bounds(results: dict[str, Any]) -> list[str]:
    L = [
        "### How each bound was computed",
        "",
        "From the sandbox's rate limits, the calls of the run (the sandbox's request log), the Customer.io export's "
        "time and the Brevo import processing (`benchmarks/vendor_bounds.py`): per-second limits let a full bucket "
        "(one second of calls) through at once, so N calls need (N - burst) / rate; Brevo's other-endpoints budget "
        "counts the calls the work needs (one completion read per import when polling, none when Brevo notifies); "
        "the export is done `export_queue_s + people / export_rate_per_s` after the calls before it, and no import "
        "from it starts earlier; one at a time, import k starts at the later of its submission + queue and the end "
        "of import k-1; side by side, at its submission + queue. Reverse sync: from its printed calls.",
        "",
    ]
    for r in [*results.get("people", []), *results.get("people_pg", [])]:
        tag = " (changed-only baseline)" if r.get("baseline") else ""
        L.append(
            f"- people {r['records']:,}, {r.get('imports_mode', SERIAL)}, {r.get('store', 'sqlite')}{tag}: "
            f"{r['bound_line']}"
        )
        if r.get("incremental"):
            L.append(f"- people {r['records']:,}, incremental: {r['incremental']['bound_line']}")
    for r in results.get("segments", []):
        if r.get("bound_line"):
            L.append(
                f"- segment mirror, {r['label']}, {r.get('imports_mode', SERIAL)}: vendor lower bound "
                f"{r['bound_s']:.1f} s = {r['bound_line']}"
            )
    return L + [""]


def section_charts(results: dict[str, Any], charts: Charts) -> list[str]:
    """Calls per 1,000 records, wall against bound (both columns), peak RSS."""
    serial, side, reverse = people_rows(results), people_rows(results, SIDE), results.get("reverse", [])
    hooks = results.get("webhooks") or {}
    L: list[str] = []
    groups = [(f"people {r['records']:,}", [("provider", r["calls_per_1000"])]) for r in serial]
    groups += [(f"reverse {r['records']:,}", [("provider", r["calls_per_1000"])]) for r in reverse]
    if hooks.get("forward_calls_per_1000") is not None:
        groups.append((f"events → Brevo {hooks['forwarded']:,}", [("provider", hooks["forward_calls_per_1000"])]))
    for key, label in (
        ("sdk_brevo", "SDK per record"),
        ("sdk_brevo_import", "SDK import"),
        ("sdk_customerio", "SDK reverse"),
    ):
        for b in results.get(key, []):
            if b.get("calls_per_1000"):
                groups.append((f"{label} {b['records']:,}", [("official SDK", b["calls_per_1000"])]))
    if groups:
        svg = svg_bars("API calls per 1,000 records (log scale)", groups, "calls", log_scale=True)
        L += ["## Calls per 1,000 records", "", charts("calls_per_1000", svg, "API calls per 1,000 records"), ""]
    walls = [
        (f"people {r['records']:,} {mode}", [("wall", r["wall_s"]), ("bound", r["bound_s"])])
        for mode, rows in (("one at a time", serial), ("side by side", side))
        for r in rows
    ]
    walls += [(f"reverse {r['records']:,}", [("wall", r["wall_s"]), ("bound", r["bound_s"])]) for r in reverse]
    if walls:
        svg = svg_bars("Wall time vs vendor lower bound (s)", walls, "s")
        L += ["## Wall time against the vendor lower bound", "", charts("wall_vs_bound", svg, "Wall vs bound"), ""]
    rss = [(f"people {r['records']:,}", [("peak RSS", r["rss_mb"])]) for r in serial]
    rss += [(f"reverse {r['records']:,}", [("peak RSS", r["rss_mb"])]) for r in reverse]
    if rss:
        svg = svg_bars("Peak RSS of the syncing process (MB)", rss, "MB")
        L += ["## Peak RSS", "", charts("peak_rss", svg, "Peak RSS of the syncing process"), ""]
    return L


def section_incremental(results: dict[str, Any]) -> list[str]:
    scales = people_rows(results)
    big = scales[-1] if scales else {}
    inc = big.get("incremental")
    if not inc:
        return []
    base = changed_only_base(results, big)
    L = [
        "## Incremental sync",
        "",
        f"After the full sync of {big['records']:,} people, {inc['changed']:,} of them ({inc['fraction']:.0%}) were "
        'changed through the Track API (a new first name), then the operator ran with `mode="incremental"` for a '
        "data interval covering the changes; compared with a full sync of a sandbox seeded with only the changed "
        "count. One import at a time.",
        "",
        "| run | people read | API calls | GET /processes | wall s | vendor bound s |",
        "|---|---:|---:|---:|---:|---:|",
        f"| incremental, {inc['changed']:,} changed | {inc['read']:,} | {inc['calls']:,} | {inc['process_polls']} | "
        f"{inc['wall_s']:.1f} | {inc['bound_s']:.1f} |",
    ]
    if base:
        L.append(
            f"| full sync of {base['records']:,} seeded people | {base['read']:,} | {base['calls']:,} | "
            f"{base['process_polls']} | {base['wall_s']:.1f} | {base['bound_s']:.1f} |"
        )
    return L + [""]


def section_postgres(results: dict[str, Any]) -> list[str]:
    pg = people_rows(results, store="postgres") + people_rows(results, SIDE, store="postgres")
    if not pg:
        return []
    L = [
        "## PostgreSQL store against SQLite",
        "",
        "| people | imports | SQLite wall s | PostgreSQL wall s | PostgreSQL / SQLite | "
        "sync CPU s (SQLite; PostgreSQL) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for p in pg:
        mode = p.get("imports_mode", SERIAL)
        s = next((r for r in people_rows(results, mode) if r["records"] == p["records"]), None)
        L.append(
            f"| {p['records']:,} | {mode} | {_fmt(s and s['wall_s'])} | {p['wall_s']:.1f} | "
            f"{ratio_txt(p['wall_s'], s and s['wall_s'])} | {_fmt(s and s.get('sync_cpu_s'))}; "
            f"{_fmt(p.get('sync_cpu_s'))} |"
        )
    return L + [""]


def section_sdk(results: dict[str, Any], sdk_note: str, charts: Charts) -> list[str]:
    L = [
        "## Baseline: the official SDKs",
        "",
        f"SDKs: {sdk_note}. Same sandbox settings, seed and rate limits as the provider's run of the same size "
        "(imports one at a time). brevo-python **per record**: `client.contacts.create_contact(update_enabled=True)` "
        "per person; brevo-python **import call**: `client.contacts.import_contacts(json_body=[...], "
        "update_existing_contacts=True)` in bodies of at most 8 MB, one import at a time, each followed with "
        "`client.process.get_process` (brevo-python 5's name for `ContactsApi.import_contacts` with a "
        "`RequestContactImport` jsonBody); both read the people like the provider (App API, plain HTTP: no "
        "official App API SDK). customerio: `identify` per person. A baseline whose computed vendor bound exceeds "
        "the budget is not run: its bound stands in and the speed-up is marked **≥** (a bound, not a measurement).",
        "",
        "| baseline | people | provider calls/1,000 | SDK calls/1,000 | provider wall s | SDK wall s | SDK bound s | "
        "speed-up (SDK / provider wall) | SDK failures | SDK 429s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    speed = []
    for row in sdk_speedups(results):
        b, p = row["base"], row["provider"]
        bound = (b.get("bound") or {}).get("bound_s")
        pw, pc = (f"{p['wall_s']:.1f}", f"{p['calls_per_1000']:.2f}") if p else ("(no provider run)", "")
        head = f"| {row['label']} | {row['size']:,} | {pc} |"
        if b.get("error"):
            L.append(f"{head} | {pw} | | {_fmt(bound, ',.0f')} | not measured: {b['error']} | | |")
        elif b.get("skipped"):
            sp = f"**≥ {row['speedup']:,.1f}×** (bound)" if row.get("speedup") else "n/a"
            L.append(f"{head} | {pw} | not run ({b.get('why')}) | {_fmt(bound, ',.0f')} | {sp} | | |")
        else:
            sp = f"**{row['speedup']:.1f}×**" if row.get("speedup") else "n/a"
            L.append(
                f"{head} {b['calls_per_1000']:.1f} | {pw} | {b['wall_s']:.1f} | {_fmt(bound, ',.0f')} | {sp} | "
                f"{b['failed']} {b.get('failures') or ''} | {b.get('http_429', '')} |"
            )
            if p:
                speed.append(
                    (f"{row['label'][:40]} {row['size']:,}", [("provider", p["wall_s"]), ("SDK", b["wall_s"])])
                )
    for key in ("sdk_brevo", "sdk_brevo_import", "sdk_customerio"):
        for b in results.get(key, []):
            if (b.get("bound") or {}).get("line"):
                L.append(f"\n- {key} {b['size']:,}: {b['bound']['line']}")
    if speed:
        svg = svg_bars("Wall time, same people: provider vs official SDK (s, log scale)", speed, "s", True)
        L += ["", charts("sdk_speedup", svg, "Wall time, provider vs official SDK")]
    return L + [""]


def section_segments(results: dict[str, Any]) -> list[str]:
    seg = results.get("segments", [])
    if not seg:
        return []
    L = [
        "## Segment mirror: one import at a time and side by side",
        "",
        "| run | imports | added | removed | unchanged | write calls | GET /processes | wall s | bound s | "
        "wall / bound | HTTP 429 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in seg:
        L.append(
            f"| {r['label']} | {r.get('imports_mode', SERIAL)} | {r['added']:,} | {r['removed']:,} | "
            f"{r['unchanged']:,} | {r['writes']} | {r.get('process_polls', '')} | {r['wall_s']:.1f} | "
            f"{_fmt(r.get('bound_s'))} | {ratio_txt(r['wall_s'], r.get('bound_s'))} | {r.get('http_429', '')} |"
        )
    return L + [""]


def section_others(results: dict[str, Any], sc: dict[str, Any]) -> list[str]:
    reverse, hooks, rps = results.get("reverse", []), results.get("webhooks") or {}, results.get("rps", [])
    L: list[str] = []
    if reverse:
        L += [
            "## Reverse sync, Brevo → Customer.io",
            "",
            "| contacts | calls/1,000 | wall s | vendor bound s | wall / bound | peak RSS MB |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        L += [
            f"| {r['records']:,} | {r['calls_per_1000']:.2f} | {r['wall_s']:.1f} | {r['bound_s']:.1f} | "
            f"{ratio_txt(r['wall_s'], r['bound_s'])} | {r['rss_mb']:.0f} |"
            for r in reverse
        ] + [""]
    if hooks:
        L += ["## Webhook receiver and forwarding", ""]
        if "events_per_s" in hooks:
            L.append(
                f"- receiver: {sc.get('events', 0):,} events, sustained {hooks['events_per_s']:,.0f} events/s; "
                f"latency ms p50 {hooks.get('p50', 0):.1f}, p95 {hooks.get('p95', 0):.1f}, p99 "
                f"{hooks.get('p99', 0):.1f}; stored {hooks.get('stored')} of {hooks.get('acked')} acknowledged "
                f"({hooks.get('check')})"
            )
        if "forwarded" in hooks:
            L.append(
                f"- forwarding: {hooks['forwarded']:,} events in {hooks['forward_calls']} Brevo calls, wall "
                f"{_fmt(hooks.get('forward_wall_s'))} s against a vendor bound of {_fmt(hooks.get('forward_bound_s'))} "
                f"s (rate limits {hooks.get('forward_limits', '?')})"
            )
        L.append("")
    if rps:
        L += ["## Sandbox throughput (rate limits off)", "", "| call | req/s |", "|---|---:|"]
        L += [f"| {name} | {v:,.1f} |" for name, v in rps] + [""]
    return L


def build_report(saved: dict[str, Any], charts: Charts | None = None) -> str:
    """The whole report from the saved figures (a pure function of ``saved``: re-rendering gives the same text)."""
    charts = charts or Charts()
    results, errors, meta = saved.get("results") or {}, saved.get("errors") or {}, saved.get("meta") or {}
    scale = saved.get("scale", "full")
    L = [f"# Benchmark report ({scale} scale)", ""]
    L += section_provenance(saved)
    L += [
        "Every figure is parsed from a benchmark script's printed output or measured by the SDK baseline; the "
        "sandbox (127.0.0.1) emulates both vendors with their rate limits on. Nothing here is asserted by a test. "
        "The raw figures are in `results.json` beside this file: `python benchmarks/run_all.py --render "
        "<results.json> --results <this file>` rebuilds it.",
        "",
    ]
    if scale == "quick":
        L += [
            "*Quick scale: a smoke test. The goals are set at 1,000,000 people; at this scale fixed waits dominate "
            "and the verdicts are indicative only.*",
            "",
        ]
    L += section_assumptions(saved)
    if errors:
        L += ["## Failures", "", *[f"- **{k}**: {v}" for k, v in errors.items()], ""]
    L += section_targets(results)
    L += section_people(results)
    L += section_incremental(results)
    L += section_postgres(results)
    L += section_bounds(results)
    L += section_charts(results, charts)
    L += section_segments(results)
    L += section_sdk(results, meta.get("sdk_note", "not run"), charts)
    L += section_others(results, meta.get("scale_settings") or {})
    return "\n".join(L).rstrip() + "\n"


def write_reports(saved: dict[str, Any], out_dir: Path, target: Path | None) -> list[Path]:
    """``out_dir/report.md`` (charts inline) and, with ``target``, the committed report (charts as
    ``results/*.svg`` beside it). Returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text(build_report(saved))
    written = [out_dir / "report.md"]
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(build_report(saved, Charts(target.parent / "results", "results")))
        written.append(target)
    return written
