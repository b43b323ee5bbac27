"""Benchmark: the incremental people sync's two plans (``sync/people/plan.py``) against the sandbox, limits on.

One sandbox seeded with ``--people`` people gets a full sync (which measures an export and seeds the plan's cost
estimate), then one incremental run per ``--fractions`` entry, on the same store: each changes that fraction of the
people (a new first name, Track API v2 batch, different people each time) and runs ``mode="incremental"`` over a
window covering the changes. Each incremental run is compared with a full sync of a sandbox seeded with only the
changed count (the changed-only baseline). Printed per run: the plan taken (an export shows as export files read),
API calls by API, wall, CPU seconds of the sync process, and the ratios to the baseline; one ``ROW {json}`` line per
run. The sandbox's export takes ``export_queue_s`` + the workspace's people / ``export_rate_per_s`` (its defaults:
0.2 s + 20,000 people per second), Brevo imports 1,000 rows/s after 5 s queued (as ``people_sync.py``).

Usage: ``python benchmarks/people_incremental_plans.py [--people 100000] [--fractions 0.01 0.01 0.2]``.
Nothing reaches the real vendors.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import people_sync as ps
import vendor_bounds

MATCH_ALL = {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}


def change(sc: ps.Scale, count: int, offset: int, label: str) -> tuple[datetime, datetime, int]:
    """Rename ``count`` syncable people from position ``offset`` (limits off meanwhile); the window covering it."""
    import requests

    info, ctl = sc.info, sc.info["control_url"]
    http = requests.Session()
    vendor_bounds.reset_buckets(ctl, enabled=False)
    ids: list[str] = []
    start = None
    while len(ids) < offset + count:
        body = http.post(
            f"{info['app_url']}/v1/customers",
            params={"limit": 1000, **({"start": start} if start else {})},
            json={"filter": MATCH_ALL},
            headers={"Authorization": f"Bearer {info['app_api_key']}"},
            timeout=120,
        ).json()
        ids += [
            i["cio_id"]
            for i in body.get("identifiers") or []
            if i.get("cio_id") and i.get("id") and "@" in (i.get("email") or "") and "@@" not in i["email"]
        ]
        start = body.get("next")
        if not start:
            break
    ids = ids[offset : offset + count]
    window_start = datetime.now(timezone.utc) - timedelta(seconds=2)
    for i in range(0, len(ids), 200):
        ops = [
            {
                "type": "person",
                "action": "identify",
                "identifiers": {"cio_id": cid},
                "attributes": {"first_name": f"{label} {i + j}"},
            }
            for j, cid in enumerate(ids[i : i + 200])
        ]
        http.post(
            f"{info['track_url']}/api/v2/batch",
            json={"batch": ops},
            auth=(info["site_id"], info["track_api_key"]),
            timeout=120,
        )
    window_end = datetime.now(timezone.utc) + timedelta(seconds=2)
    vendor_bounds.reset_buckets(ctl, enabled=True)
    return window_start, window_end, len(ids)


def row(tag: str, m: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = {
        "tag": tag,
        "plan": "export" if m["calls_by_api"].get("files") else "feed",
        "calls": m["calls"],
        "calls_by_api": m["calls_by_api"],
        "wall_s": round(m["wall_s"], 1),
        "cpu_s": round(m["cpu_s"] or 0.0, 2),
        "read": m["read"],
        **extra,
    }
    print("ROW", json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.01, 0.2])
    args = parser.parse_args()
    bench = argparse.Namespace(
        rate_per_s=1000.0, queue_s=5.0, notify="on", rerun=False, poll_interval=5.0, export_check_interval=5.0
    )
    ps.POLLS[:] = [bench.poll_interval, bench.export_check_interval]
    sc = ps.Scale(args.people, 8_000_000, None, bench)
    proc, sc.info = ps._start_sandbox(args.people, sc.workdir)
    sc.sandbox_pid = proc.pid
    runs: list[dict[str, Any]] = []
    try:
        import requests

        ctl = sc.info["control_url"]
        settings = {"rate_per_s": bench.rate_per_s, "queue_s": bench.queue_s}
        requests.post(f"{ctl}/brevo/processes/settings", json=settings, timeout=30).raise_for_status()
        sc.limits = vendor_bounds.sandbox_limits(ctl)
        with ps._notify_server(True, sc.workdir, None) as notify_url:
            row("full", sc.measured("full", notify_url))
            offset = 0
            for n, frac in enumerate(args.fractions):
                count = round(args.people * frac)
                start, end, done = change(sc, count, offset, f"Run{n}")
                offset += count
                m = sc.measured(f"inc{n}", notify_url, mode="incremental", window=(start, end))
                runs.append(row(f"incremental #{n + 1}: {frac:.0%} changed", m, changed=done))
    finally:
        ps._stop(proc)
    baselines: dict[int, dict[str, Any]] = {}
    for r in runs:
        if r["changed"] not in baselines:
            base = ps.Scale(r["changed"], 8_000_000, None, bench).run(0.0)["first"]
            baselines[r["changed"]] = row(f"changed-only full sync of {r['changed']:,}", base)
    print("\n| run | plan | API calls (App) | wall s | sync CPU s | calls / baseline | wall / baseline |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in runs:
        b = baselines[r["changed"]]
        print(
            f"| {r['tag']} | {r['plan']} | {r['calls']} ({r['calls_by_api'].get('app', 0)}) | {r['wall_s']} | "
            f"{r['cpu_s']} | {r['calls'] / b['calls']:.2f}x | {r['wall_s'] / b['wall_s']:.2f}x |"
        )
    for b in baselines.values():
        print(
            f"| {b['tag']} | full | {b['calls']} ({b['calls_by_api'].get('app', 0)}) | {b['wall_s']} | "
            f"{b['cpu_s']} | | |"
        )


if __name__ == "__main__":
    main()
