"""The one lifecycle every sync follows, as the operators' base class drives it (Airflow-free).

A task builds one :class:`SyncJob` for its run and calls, in this order:

1. :meth:`SyncJob.run`: read, map, write. Returns the Brevo processes it started and must see end before it can
   finish (imports, object upserts); empty when there are none.
2. while some are pending: the base waits for them (in the triggerer when the task is deferrable, else blocking),
   calling :meth:`SyncJob.save` first when it defers, then :meth:`SyncJob.complete` with how they ended, which
   returns the next processes to wait for (resubmissions, the next imports of a pipelined load), or none;
3. :meth:`SyncJob.finish`: commit the run and return its summary (the task's XCom).

:meth:`SyncJob.close` is always called last. A task that resumes from the triggerer builds a new job for the same
run (its state is in the sync store) and continues at step 2 with :meth:`SyncJob.resume`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from airflow_provider_customerio.sync.processes import ProcessState


class SyncJob(Protocol):
    """One run of a sync, in the steps of the lifecycle (see the module docstring)."""

    def run(self) -> Sequence[str]:
        """Do the run's work; return the ids of the Brevo processes to wait for (empty: none)."""
        ...

    def resume(self) -> None:
        """Pick the run up again after a wait in the triggerer (the pending processes are in the store)."""
        ...

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        """These processes ended: commit or resubmit what they carried; return the next ids to wait for."""
        ...

    def save(self) -> None:
        """Keep the run's progress in the store (before the task defers)."""
        ...

    def finish(self) -> Mapping[str, Any]:
        """Commit the run; return its summary."""
        ...

    def close(self) -> None:
        """Let go of what the job holds open."""
        ...


__all__ = ["SyncJob"]
