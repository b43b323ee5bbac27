"""Benchmark: mirror a 200k-member segment into an empty Brevo list, then apply a 1 % membership change.

Prints the API calls (reads and writes, per vendor) of each run, measured from the sandbox's request log, and the
wall time. Run: python benchmarks/bench_segments.py [--members 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter

import requests

from airflow_provider_customerio.sandbox.server import SandboxServer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=200_000)
    ap.add_argument("--change", type=float, default=0.01)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="segbench-")
    os.environ.setdefault("AIRFLOW_HOME", tmp)
    server = SandboxServer(host="127.0.0.1", port=0, seed_people=0)
    server.start()
    try:
        info, ctl = server.info, server.control_url
        http = requests.Session()
        # enough seeded people that ~members are live and have an id (the seed deletes some)
        people = int(args.members * 1.35)
        t0 = time.monotonic()
        http.post(f"{ctl}/seed", json={"people": people, "segments": [10], "seed": 3}, timeout=600).raise_for_status()
        http.put(f"{ctl}/ratelimits", json={"enabled": False}, timeout=30)
        http.post(f"{ctl}/brevo/processes/settings", json={"polls_to_complete": 1}, timeout=30)
        for k, v in info["airflow_conn_env"].items():
            os.environ[k] = v
        cfg = os.path.join(tmp, "customerio_config.yaml")
        with open(cfg, "w") as fh:
            json.dump({"connectors": {"customerio": {"segments": {"removal_brake": 0.2}}}}, fh)
        os.environ["CUSTOMERIO_PROVIDER_CONFIG"] = cfg
        # fill the manual segment (5) with `members` people that have an id, through the Track API
        app_h = {"Authorization": f"Bearer {info['app_api_key']}"}
        ids: list[str] = []
        start = None
        while len(ids) < args.members + 2 * int(args.members * args.change):
            body = http.post(
                f"{info['app_url']}/v1/customers",
                params={"limit": 1000, **({"start": start} if start else {})},
                json={"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}},
                headers=app_h,
                timeout=60,
            ).json()
            ids.extend(i["id"] for i in body["identifiers"] or [] if i.get("id") and i.get("email"))
            start = body.get("next")
            if not start:
                break
        segs = http.get(f"{info['app_url']}/v1/segments", headers=app_h, timeout=30).json()["segments"]
        manual_id = next(s["id"] for s in segs if s["type"] == "manual")
        seg_url = f"{info['track_url']}/api/v1/segments/{manual_id}"
        auth = (info["site_id"], info["track_api_key"])
        members = ids[: args.members]
        for i in range(0, len(members), 1000):
            http.post(
                f"{seg_url}/add_customers", json={"ids": members[i : i + 1000]}, auth=auth, timeout=60
            ).raise_for_status()
        print(f"setup: {len(members)} members in segment {manual_id} ({time.monotonic() - t0:.1f} s)")

        from airflow_provider_customerio.operators.segments import CustomerIOSegmentToBrevoListOperator

        def run(label: str) -> None:
            http.delete(f"{ctl}/requests", timeout=30)
            op = CustomerIOSegmentToBrevoListOperator(
                task_id="bench",
                segment_id=manual_id,
                list_id=13,
                ledger_dir=os.path.join(tmp, "ledger"),
                import_check_interval=0.01,
                customerio_app_hook_params={"rate_limit": 0},
                brevo_hook_params={"rate_limit": 0},
            )
            t = time.monotonic()
            summary = op.execute(context={})
            wall = time.monotonic() - t
            log = http.get(f"{ctl}/requests", timeout=60).json()["requests"]
            calls = Counter(
                (
                    r["vendor"],
                    "write"
                    if r["method"] in ("POST", "PUT", "DELETE")
                    and "attributes" not in r["path"]
                    and r["path"] != "/app/v1/customers"
                    else "read",
                )
                for r in log
            )
            print(
                f"{label}: added={summary['added']} removed={summary['removed']} unchanged={summary['unchanged']} "
                f"rejected={summary['rejected']} | operator api_calls={summary['api_calls']} "
                f"write_calls={summary['write_calls']} | sandbox log: "
                + ", ".join(f"{v} {k}={n}" for (v, k), n in sorted(calls.items()))
                + f" | {wall:.1f} s"
            )

        run("first mirror (empty list)")
        change = int(args.members * args.change) // 2
        leave, join = members[:change], ids[args.members : args.members + change]
        for i in range(0, change, 1000):
            http.post(f"{seg_url}/remove_customers", json={"ids": leave[i : i + 1000]}, auth=auth, timeout=60)
            http.post(f"{seg_url}/add_customers", json={"ids": join[i : i + 1000]}, auth=auth, timeout=60)
        run(f"1% change ({change} leave, {len(join)} join)")
        run("re-run, no change")
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
