"""Per-run status summary: the small dict a sync task returns as its XCom value.

Keys are stable (the demo, the connection status and later capabilities read them):
``read``, ``created``, ``updated``, ``unchanged``, ``deleted``, ``blacklisted``, ``rejected``, ``api_calls``,
``lastSync``, ``ledger``, ``rejects_by_reason``, plus the connector status counts ``people_count``,
``events_processed`` and ``campaigns_tracked`` (None until the capability that fills them runs).

No Airflow and no HTTP imports here.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: What a dry run's ``plan`` always counts (a capability adds its own kinds, e.g. ``conflicts``).
PLAN_KINDS = ("creates", "updates", "deletes", "list_adds", "list_removals")
MAX_PLAN_ITEMS = 50


@dataclass
class SyncSummary:
    """Counters of one sync run (one direction, one task)."""

    direction: str = "cio_to_brevo"
    mode: str = "incremental"
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    blacklisted: int = 0
    rejected: int = 0
    value_rejects: int = 0
    imports: int = 0
    api_calls: int = 0
    dry_run: bool = False
    skipped: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    last_sync: str | None = None
    ledger: str | None = None
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    people_count: int | None = None
    events_processed: int | None = None
    campaigns_tracked: int | None = None
    notes: list[str] = field(default_factory=list)
    #: two-way sync: fields read older than this provider's own write to that vendor (taken as not changed)
    stale_reads: int = 0
    #: dry run: what the run would write (see :meth:`plan_add`), in the summary as ``plan``
    plan: dict[str, Any] = field(default_factory=dict)

    def plan_add(self, kind: str, count: int = 1, *, items: list[Any] | None = None) -> None:
        """Count ``count`` planned writes of ``kind`` (one of :data:`PLAN_KINDS`, or another name), and keep up to
        :data:`MAX_PLAN_ITEMS` examples of them (ids, never values)."""
        self.plan[kind] = int(self.plan.get(kind, 0)) + count
        if items:
            listed = self.plan.setdefault(f"{kind}_items", [])
            listed.extend(items[: max(0, MAX_PLAN_ITEMS - len(listed))])

    def finish(self) -> None:
        """Stamp ``lastSync`` with the current UTC time."""
        self.last_sync = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def to_state(self) -> dict[str, Any]:
        """Counters as JSON (checkpointed so a resumed run continues counting)."""
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> SyncSummary:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        s = cls(**known)
        s.rejects_by_reason = Counter(data.get("rejects_by_reason") or {})
        s.notes = list(data.get("notes") or [])
        s.plan = dict(data.get("plan") or {})
        return s

    def to_xcom(self) -> dict[str, Any]:
        """The small XCom dict."""
        out: dict[str, Any] = {
            "direction": self.direction,
            "mode": self.mode,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "blacklisted": self.blacklisted,
            "rejected": self.rejected,
            "value_rejects": self.value_rejects,
            "imports": self.imports,
            "api_calls": self.api_calls,
            "lastSync": self.last_sync,
            "window": {"start": self.window_start, "end": self.window_end},
            "ledger": self.ledger,
            "rejects_by_reason": dict(self.rejects_by_reason),
            "dry_run": self.dry_run,
            "people_count": self.people_count,
            "events_processed": self.events_processed,
            "campaigns_tracked": self.campaigns_tracked,
        }
        if self.skipped:
            out["skipped"] = self.skipped
        if self.stale_reads:
            out["stale_reads"] = self.stale_reads
        if self.notes:
            out["notes"] = self.notes[:20]
        if self.dry_run:
            out["plan"] = {**dict.fromkeys(PLAN_KINDS, 0), **self.plan}
        return out


class RejectThresholdExceeded(RuntimeError):
    """More records were rejected than ``reject_threshold`` allows; the ledger says which and why."""


def check_threshold(*, rejected: int, read: int, threshold: float, ledger_path: str | os.PathLike[str]) -> None:
    """Raise :class:`RejectThresholdExceeded` when ``rejected / read > threshold``."""
    if read <= 0 or rejected <= 0:
        return
    fraction = rejected / read
    if fraction > threshold:
        raise RejectThresholdExceeded(
            f"{rejected} of {read} records rejected ({fraction:.1%}), over the reject_threshold of "
            f"{threshold:.1%}. See the {ledger_path} for each record and its reason; fix the data, or "
            "raise connectors.customerio.people.reject_threshold."
        )


__all__ = ["MAX_PLAN_ITEMS", "PLAN_KINDS", "RejectThresholdExceeded", "SyncSummary", "check_threshold"]
