"""The people sync (Customer.io -> Brevo) in the steps of the one lifecycle
(:mod:`airflow_provider_customerio.sync.lifecycle`).

The sync has two phases, so a DAG can run each in the pool of the API it uses: ``extract`` (Customer.io App API:
activity feed, hydrate, export) and ``load`` (Brevo: imports, deletes, the wait for the import processes);
``all`` runs both in one task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow_provider_customerio.sync.people.sync import PeopleSync
from airflow_provider_customerio.sync.people.window import resolve_window
from airflow_provider_customerio.sync.processes import ProcessState

log = logging.getLogger(__name__)

STEPS = ("all", "extract", "load")
MODES = ("incremental", "full")
#: The state watermark of the end of the last incremental window.
WATERMARK = "people.cio_to_brevo.until"


def check_step_and_mode(step: Any, mode: Any) -> tuple[str, str]:
    """The rendered ``step`` and ``mode`` arguments, checked (an error names the argument and its values)."""
    step_s, mode_s = str(step or "all").strip(), str(mode or "incremental").strip()
    if mode_s not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if step_s not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, got {step!r}")
    return step_s, mode_s


class PeopleJob:
    """One run (or one step of a run) of :class:`PeopleSync`.

    :param sync: the sync, on the run's store, ledger and ports.
    :param step: ``all``, ``extract`` or ``load``.
    :param mode: ``incremental`` or ``full``.
    :param since: a manual run's window start (text), else ``None``.
    :param data_interval: the run's data interval (``(None, None)`` for a manual run without one).
    :param dry_run: read and count; write nothing.
    :param api_calls: the calls the task's hooks made since last asked (the summary counts them).
    """

    def __init__(
        self,
        sync: PeopleSync,
        *,
        step: str,
        mode: str,
        since: str | None,
        data_interval: tuple[datetime | None, datetime | None],
        dry_run: bool,
        api_calls: Callable[[], int],
    ) -> None:
        self.sync = sync
        self.step = step
        self.mode = mode
        self.since = since
        self.data_interval = data_interval
        self.dry_run = dry_run
        self.api_calls = api_calls
        # imports go out while reading only when this task also loads (a separate extract task runs in the
        # Customer.io pool and sends nothing to Brevo)
        sync.pipeline = sync.pipeline and step == "all"
        #: The extract step hands its summary to the load task; only a finished run's summary is recorded.
        self.records_summary = step != "extract"

    def run(self) -> Sequence[str]:
        if self.step in ("all", "extract"):
            start, end = self.data_interval
            window = resolve_window(
                mode=self.mode,
                data_interval_start=start,
                data_interval_end=end,
                since=self.since,
                now=datetime.now(timezone.utc),
                watermark=self.sync.state.get_watermark(WATERMARK),
            )
            if window is not None:
                log.info("Incremental window [%s, %s)", window.start.isoformat(), window.end.isoformat())
            summary = self.sync.extract(mode=self.mode, window=window, dry_run=self.dry_run)
            summary.api_calls += self.api_calls()
            self.sync.save_progress()
            if self.step == "extract":
                return []
        return self.sync.load()

    def resume(self) -> None:
        self.sync.attach()

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        pending = self.sync.complete(states)
        if not self.sync.loaded:  # load() had stopped for an import slot: send the next imports
            pending = self.sync.load()
        return pending

    def save(self) -> None:
        self.sync.summary.api_calls += self.api_calls()
        self.sync.save_progress()

    def finish(self) -> Mapping[str, Any]:
        self.sync.summary.api_calls += self.api_calls()
        if self.step == "extract":
            out = self.sync.summary.to_xcom()
            log.info("Extracted: %s", out)
            return out
        summary = self.sync.finish()
        if summary.rejected or summary.value_rejects:
            log.warning(
                "%d people rejected, %d values left out; reasons in the ledger %s",
                summary.rejected,
                summary.value_rejects,
                summary.ledger,
            )
        return summary.to_xcom()

    def close(self) -> None:
        self.sync.ledger.close()
        self.sync.state.close()


__all__ = ["MODES", "STEPS", "WATERMARK", "PeopleJob", "check_step_and_mode"]
