"""One try of a sync, as its own process, for ``test_fencing.py``:
``python -m tests.unit.store.fencing_child STORE_DB WORK_DIR TRY_NUMBER``.

Under the lease ``people:sync`` (run ``R`` of DAG ``d``, task ``load``, try ``TRY_NUMBER``) it commits a first
batch (hashes and a checkpoint), touches ``WORK_DIR/try<N>.ready``, waits until ``WORK_DIR/try<N>.go`` exists (the
test stops and resumes the process there), then commits a second batch, a ledger row and its summary. Exit 0 when
everything committed, 3 with the message in ``WORK_DIR/try<N>.lost`` when the lease was lost (the store refused).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from airflow_provider_customerio.store.fencing import LeaseLost, LeaseOwner
from airflow_provider_customerio.store.state import CIO_TO_BREVO
from airflow_provider_customerio.store.sync_store import SyncStore


def main(db: str, work: str, try_number: int) -> int:
    store, folder, tag = SyncStore.at(db), Path(work), f"try{try_number}"
    state = store.state()
    try:
        with store.leased("people:sync", LeaseOwner("run R of d", "load", try_number), ttl=3.0, wait=0):
            state.set_hashes(CIO_TO_BREVO, [("p1", tag), ("p2", tag)])
            state.save_checkpoint("d/R/load", {"batches": 1, "by": tag})
            (folder / f"{tag}.ready").touch()
            while not (folder / f"{tag}.go").exists():  # the test stops this process here (SIGSTOP)
                time.sleep(0.05)
            state.set_hashes(CIO_TO_BREVO, [("p3", tag), ("p4", tag)])
            state.save_checkpoint("d/R/load", {"batches": 2, "by": tag})
            with store.ledger("d", "R", "load") as ledger:
                ledger.reject(record_id="p5", reason="not_found", message=f"rejected by {tag}", stage="hydrate")
        store.record_summary("people", "d", "R", "load", {"by": tag})
    except LeaseLost as exc:
        (folder / f"{tag}.lost").write_text(str(exc))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
