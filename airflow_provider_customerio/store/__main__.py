"""Command line of the sync store.

``python -m airflow_provider_customerio.store export-rejects --run-id R [--dag-id D] [--format csv] [--out F]``
writes rejected records to a file; ``... migrate`` brings the store's schema up to date; ``... where`` prints
where the store is. The store is the Airflow connection ``customerio_sync_store`` when it exists, else the
embedded SQLite file (``--sqlite PATH`` to name another).
"""

from __future__ import annotations

import argparse
import sys

from airflow_provider_customerio.store.engine import STORE_CONN_ID
from airflow_provider_customerio.store.ledger import export_rejects
from airflow_provider_customerio.store.schema import LATEST, current_version
from airflow_provider_customerio.store.sync_store import SyncStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_customerio.store", description=__doc__)
    parser.add_argument("--conn-id", default=STORE_CONN_ID, help="Airflow connection of the store")
    parser.add_argument("--sqlite", default=None, help="the embedded SQLite file (when the connection is absent)")
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export-rejects", help="write rejected records to JSONL or CSV")
    exp.add_argument("--dag-id")
    exp.add_argument("--run-id")
    exp.add_argument("--ledger", help="one ledger key (dag_id/run_id/task_id), as a run summary names it")
    exp.add_argument("--reason")
    exp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    exp.add_argument("--out", default=None, help="file to write (default: rejects.<format>)")
    sub.add_parser("migrate", help="bring the store's schema to the latest version")
    sub.add_parser("where", help="print where the store is and its schema version")
    args = parser.parse_args(argv)

    store = SyncStore.open(conn_id=args.conn_id, sqlite_path=args.sqlite)
    if args.command == "export-rejects":
        out = args.out or f"rejects.{args.format}"
        n = export_rejects(
            store.engine,
            out,
            fmt=args.format,
            key=args.ledger,
            dag_id=args.dag_id,
            run_id=args.run_id,
            reason=args.reason,
        )
        print(f"{n} rejected records written to {out}")
    elif args.command in ("migrate", "where"):
        with store.engine.connect() as conn:
            version = current_version(conn)
        print(f"store: {store.location}\nschema version: {version} (latest {LATEST})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
