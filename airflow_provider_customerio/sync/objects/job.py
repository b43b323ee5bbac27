"""The object syncs in the steps of the one lifecycle (:mod:`airflow_provider_customerio.sync.lifecycle`).

:class:`ObjectsJob` (Customer.io -> Brevo) returns the upsert and delete processes it started, so the operator's
base waits for them (in the triggerer when deferrable) and hands back how they ended; :class:`ReverseObjectsJob`
(Brevo -> Customer.io) starts no Brevo process. Also the operator arguments of this capability, checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.objects.forward import ObjectSync
from airflow_provider_customerio.sync.objects.reverse import ReverseObjectSync
from airflow_provider_customerio.sync.processes import ProcessState

log = logging.getLogger(__name__)


def type_ids_argument(value: Sequence[str] | str | int | None) -> list[str] | None:
    """The rendered ``object_type_ids`` argument: a list, or comma-separated text, of Customer.io object type ids
    (digits); ``None`` (all configured types) when empty."""
    if value in (None, "", []):
        return None
    if isinstance(value, (str, int)):
        items = [v.strip() for v in str(value).split(",")]
    else:
        items = [str(v).strip() for v in value]
    bad = [v for v in items if not v.isdigit()]
    if bad:
        raise ValueError(f'object_type_ids must be Customer.io object type ids such as "1", got {bad!r}.')
    return items or None


class ObjectsJob:
    """One run of :class:`~.forward.ObjectSync`.

    :param sync: the sync, on the run's store, ledger and ports.
    :param dry_run: read and compare only; write nothing.
    :param api_calls: the calls the task's hooks made since last asked (the summary counts them).
    """

    def __init__(self, sync: ObjectSync, *, dry_run: bool, api_calls: Callable[[], int]) -> None:
        self.sync = sync
        self.dry_run = dry_run
        self.api_calls = api_calls

    def run(self) -> Sequence[str]:
        """Check, collect and load; the upsert and delete processes to wait for."""
        return self.sync.run(dry_run=self.dry_run)

    def resume(self) -> None:
        self.sync.attach()

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        return self.sync.complete(states)

    def save(self) -> None:
        self.sync.summary.api_calls += self.api_calls()
        self.sync.save_progress()

    def finish(self) -> Mapping[str, Any]:
        """Verify the attribute keys Brevo kept and close the run; its summary."""
        self.sync.summary.api_calls += self.api_calls()
        result = self.sync.finish()
        keys = ("read", "created", "updated", "unchanged", "rejected", "links_added", "links_removed")
        log.info("Object sync: %s", {k: result.get(k) for k in keys})
        return result

    def close(self) -> None:
        self.sync.ledger.close()


class ReverseObjectsJob:
    """One run of :class:`~.reverse.ReverseObjectSync` (no Brevo process to wait for).

    :param sync: the reverse sync, on the run's store, ledger and ports.
    :param dry_run: count only; write nothing.
    :param api_calls: the calls the task's hooks made since last asked (the summary counts them).
    """

    def __init__(self, sync: ReverseObjectSync, *, dry_run: bool, api_calls: Callable[[], int]) -> None:
        self.sync = sync
        self.dry_run = dry_run
        self.api_calls = api_calls
        self._result: dict[str, Any] | None = None

    def run(self) -> Sequence[str]:
        """Read the Brevo records and write the new or changed ones to Customer.io."""
        self._result = self.sync.run(dry_run=self.dry_run)
        return []

    def resume(self) -> None:
        """Nothing to pick up: the reverse run never waits."""

    def complete(self, states: Sequence[ProcessState]) -> Sequence[str]:
        return []

    def save(self) -> None:
        """Nothing to keep: the reverse run never defers."""

    def finish(self) -> Mapping[str, Any]:
        if self._result is None:
            raise RuntimeError("finish() called before run()")
        self._result["api_calls"] = int(self._result.get("api_calls") or 0) + self.api_calls()
        keys = ("read", "created", "updated", "unchanged", "echoes", "rejected")
        log.info("Reverse object sync: %s", {k: self._result.get(k) for k in keys})
        return self._result

    def close(self) -> None:
        self.sync.ledger.close()


__all__ = ["ObjectsJob", "ReverseObjectsJob", "type_ids_argument"]
