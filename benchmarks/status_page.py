"""How fast the status page renders with a large rejected-records ledger.

Usage::

    python benchmarks/status_page.py                 # 1,000,000 rejected records in a SQLite store
    python benchmarks/status_page.py --rejects 200000 --store postgres

Fills a fresh store (SQLite file, or a throw-away PostgreSQL with ``--store postgres``) with run summaries and
``--rejects`` rejected records over 12 reasons and 40 runs, then times, in-process through the app (the auth
check replaced by a fixed viewer that may read every provider DAG but one, so the DAG filter is exercised):
the page, a drill-down page deep in one reason, the JSON status and the first CSV chunk. Prints one JSON line
per measurement (median of ``--repeat`` runs, milliseconds). Nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REASONS = [f"reason_{i:02d}" for i in range(12)]
DAGS = [f"customerio_dag_{i}" for i in range(4)]


def fill(engine, n: int) -> None:
    from airflow_provider_customerio.store import schema as s
    from airflow_provider_customerio.store.sync_store import SyncStore

    store = SyncStore(engine)
    for i in range(200):
        store.record_summary(
            ["people", "reverse", "segments", "events"][i % 4],
            DAGS[i % 4],
            f"run_{i}",
            "sync",
            {"read": 1000 + i, "created": i, "updated": 2 * i, "unchanged": 900, "rejected": 5, "api_calls": 40},
        )
    batch: list[dict] = []
    seq: dict[str, int] = {}
    with engine.begin() as conn:
        for i in range(n):
            dag = DAGS[i % len(DAGS)]
            run = f"run_{(i // 25_000) % 40}"
            key = f"{dag}/{run}/sync"
            seq[key] = seq.get(key, -1) + 1
            batch.append(
                {
                    "ledger_key": key,
                    "seq": seq[key],
                    "dag_id": dag,
                    "run_id": run,
                    "task_id": "sync",
                    "ts": "2026-03-01T00:00:00+00:00",
                    "record_id": f"cio_{i}",
                    "reason": REASONS[(i * 7) % len(REASONS)] if i % 3 else REASONS[0],
                    "stage": "map",
                    "message": f"the email of person {i} is not an address: fix it in Customer.io",
                    "identifiers": json.dumps({"email": f"person{i}@example"}),
                    "detail": None,
                }
            )
            if len(batch) >= 20_000:
                conn.execute(s.rejected_record.insert(), batch)
                batch = []
        if batch:
            conn.execute(s.rejected_record.insert(), batch)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rejects", type=int, default=1_000_000)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from fastapi import Request
    from fastapi.testclient import TestClient

    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.ui.app import Viewer, create_app

    with ExitStack() as stack:
        if args.store == "postgres":
            import sqlalchemy as sa

            from tests.postgres_server import temporary_postgres

            pg = stack.enter_context(temporary_postgres())
            engine = sa.create_engine(pg.url("postgres"))
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            engine = sqlite_engine(tmp / "state.db")
        t0 = time.perf_counter()
        fill(engine, args.rejects)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        fill_s = time.perf_counter() - t0

        viewer = Viewer("bench", frozenset(DAGS[:3]))

        async def authorize(request: Request, dags: frozenset[str]) -> Viewer:
            return viewer

        client = TestClient(create_app(lambda: engine, authorize=authorize))
        client.get("/")  # warm: the store's schema check, the first connection
        deep = client.get("/api/rejects", params={"reason": REASONS[0], "size": 500}).json()["next_before"]
        for _ in range(20):  # 20 pages further into the biggest reason
            deep = client.get("/api/rejects", params={"reason": REASONS[0], "before": deep, "size": 500}).json()[
                "next_before"
            ]

        def first_csv_chunk() -> None:
            with client.stream("GET", "/rejects.csv", params={"reason": REASONS[3]}) as resp:
                next(resp.iter_bytes())

        results = {
            "page": timed(lambda: client.get("/").raise_for_status(), args.repeat),
            "page_drill_down_deep": timed(
                lambda: client.get("/", params={"reason": REASONS[0], "before": deep}).raise_for_status(), args.repeat
            ),
            "api_status": timed(lambda: client.get("/api/status").raise_for_status(), args.repeat),
            "csv_first_chunk": timed(first_csv_chunk, args.repeat),
        }
        for name, ms in results.items():
            print(
                json.dumps(
                    {
                        "bench": "status_page",
                        "store": args.store,
                        "rejects": args.rejects,
                        "measure": name,
                        "median_ms": round(ms, 1),
                        "fill_s": round(fill_s, 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
