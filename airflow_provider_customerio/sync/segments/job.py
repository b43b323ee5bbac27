"""One segment mirror run as a job of the one sync lifecycle (:mod:`airflow_provider_customerio.sync.lifecycle`).

:meth:`MirrorJob.run` reads both sides, diffs, brakes and stages the writes, then submits the first import; the
operator's base waits for each import (in the triggerer when deferrable) and hands its end to
:meth:`MirrorJob.complete`; :meth:`MirrorJob.finish` makes the writes after the imports and returns the summary.
Pure logic, no Airflow and no HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.processes import ProcessState
from airflow_provider_customerio.sync.segments.mirror import SegmentMirror
from airflow_provider_customerio.sync.segments.model import MirrorRequest
from airflow_provider_customerio.sync.segments.ports import RejectSink, ledger_sink

log = logging.getLogger(__name__)


class MirrorJob:
    """The job of one ``segment -> list`` mirror run.

    :param make_mirror: ``(reject) -> mirror``: the run's mirror, rejecting into this job's ledger (its plan lives in
        the sync state store under its run key).
    :param request: the pair and how to mirror it.
    :param open_ledger: ``(fresh) -> ledger``: a fresh run starts its ledger over (every attempt re-derives its
        rejections from live state); a resumed run appends to it.
    :param api_calls: the calls the task's hooks made since last asked.
    """

    def __init__(
        self,
        make_mirror: Callable[[RejectSink], SegmentMirror],
        request: MirrorRequest,
        *,
        open_ledger: Callable[[bool], Any],
        api_calls: Callable[[], int],
    ) -> None:
        self.request = request
        self.open_ledger = open_ledger
        self.api_calls = api_calls
        self.ledger: Any = None
        self.mirror = make_mirror(self.reject)

    def reject(self, record: Mapping[str, Any], reason: str, message: str) -> None:
        """The mirror's ledger sink: into the ledger this run opened."""
        ledger_sink(self.ledger)(record, reason, message)

    def run(self) -> Sequence[str]:
        self.ledger = self.open_ledger(True)
        return self.mirror.start(self.request)

    def resume(self) -> None:
        self.ledger = self.open_ledger(False)

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        return self.mirror.complete(states)

    def save(self) -> None:
        """Keep the calls made so far with the run's counts (the plan is in the store already)."""
        self.mirror.writer.add_api_calls(self.api_calls())

    def finish(self) -> Mapping[str, Any]:
        result = self.mirror.finish()
        result.api_calls += self.api_calls()
        summary = result.summary()
        if self.ledger is not None and self.ledger.total:
            summary["ledger"] = self.ledger.key
            log.warning("%d people not mirrored; reasons in the %s", self.ledger.total, self.ledger.location)
        log.info("Segment mirror summary: %s", {k: v for k, v in summary.items() if not k.startswith("sample_")})
        return summary

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
