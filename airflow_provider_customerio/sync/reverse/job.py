"""The reverse sync as a job of the one sync lifecycle: its run's params checked (mode, conflict policy, the switch
that turns it off), the checkpoint's ledger offset, and :class:`ReverseJob` (one :class:`~.run.ReverseSync` run, no
Brevo process to wait for)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.people.window import RunWindow, resolve_window
from airflow_provider_customerio.sync.ports import SyncState
from airflow_provider_customerio.sync.reverse.ports import ReverseSyncError
from airflow_provider_customerio.sync.reverse.run import WATERMARK, ReverseSync
from airflow_provider_customerio.sync.reverse.summary import CONFLICT_POLICIES, ReverseSummary

MODES = ("incremental", "full")


def check_mode(value: Any) -> str:
    """The run's ``mode`` param (templated), lower case; an unknown one is an error naming the choices."""
    mode = str(value or "incremental").strip().lower()
    if mode not in MODES:
        raise ReverseSyncError(f"mode `{value}` is unknown: set the param `mode` to one of {', '.join(MODES)}.")
    return mode


def check_conflict_policy(value: Any) -> str | None:
    """The run's ``conflict_policy`` param (templated); ``None`` (empty) means the configured one."""
    policy = str(value).strip() if value not in (None, "") else ""
    if policy and policy not in CONFLICT_POLICIES:
        raise ReverseSyncError(f"conflict_policy `{policy}` is unknown: use one of {', '.join(CONFLICT_POLICIES)}.")
    return policy or None


def disabled_by(config: CustomerIOConfig) -> str | None:
    """The config switch that turns the reverse sync off (``None`` when it runs)."""
    if not config.enabled:
        return "connectors.customerio.enabled"
    if not config.sync.people:
        return "connectors.customerio.sync.people"
    if not config.reverse.enabled:
        return "connectors.customerio.reverse.enabled"
    return None


def reverse_window(
    interval: tuple[datetime | None, datetime | None], *, mode: str, since: str | None, state: SyncState, now: datetime
) -> RunWindow | None:
    """The run's window (see :func:`airflow_provider_customerio.sync.people.resolve_window`): ``since``, else the
    data ``interval``, else (a manual run) from the end of the last window this direction synced to ``now``;
    ``None`` in ``full`` mode (every contact)."""
    return resolve_window(
        mode=mode,
        data_interval_start=interval[0],
        data_interval_end=interval[1],
        since=since,
        now=now,
        watermark=state.get_watermark(WATERMARK),
    )


def ledger_offset(state: SyncState, run_key: str, *, dry_run: bool) -> int | None:
    """Where a resumed run cuts its ledger back to (its last checkpoint); ``None``: keep it whole."""
    cp = ReverseSync.load_checkpoint(state, run_key)
    return int(cp["ledger_offset"]) if cp and not dry_run and "ledger_offset" in cp else None


class ReverseJob:
    """One reverse run in the steps of the sync lifecycle: :meth:`run` does the whole sync (it starts no Brevo
    process), :meth:`finish` returns its summary.

    :param sync: the run.
    :param window: the run's window (``None``: every contact).
    :param dry_run: decide and count, write nothing.
    :param api_calls: the vendor calls made so far (for the summary).
    :param on_close: let go of the ledger and the state, in this order.
    """

    def __init__(
        self,
        sync: ReverseSync,
        *,
        window: RunWindow | None,
        dry_run: bool,
        api_calls: Callable[[], int] = lambda: 0,
        on_close: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.sync = sync
        self.window = window
        self.dry_run = dry_run
        self.api_calls = api_calls
        self.on_close = on_close
        self.summary: ReverseSummary | None = None

    def run(self) -> Sequence[str]:
        try:
            self.summary = self.sync.run(window=self.window, dry_run=self.dry_run)
        finally:
            self.sync.summary.api_calls = self.api_calls()
        return []

    def resume(self) -> None:
        """Nothing to pick up: a reverse run never waits (a re-run resumes from its checkpoint)."""

    def complete(self, states: Sequence[Any]) -> Sequence[str]:
        return []

    def save(self) -> None:
        """Nothing to keep: the run checkpoints after every batch."""

    def finish(self) -> Mapping[str, Any]:
        summary = self.summary or self.sync.summary
        return summary.to_xcom()

    def close(self) -> None:
        for close in self.on_close:
            close()
