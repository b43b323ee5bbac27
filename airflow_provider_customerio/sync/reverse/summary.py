"""The summary of a reverse run: :class:`SyncSummary` plus echoes, Track batches and conflict resolutions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.store.state import BREVO_TO_CIO
from airflow_provider_customerio.sync.summary import SyncSummary

CONFLICT_POLICIES = ("customerio_wins", "brevo_wins", "newest_wins")
DEFAULT_CONFLICT_POLICY = "customerio_wins"
MAX_CONFLICTS_LISTED = 50


@dataclass
class ReverseSummary(SyncSummary):
    """:class:`SyncSummary` plus the reverse direction's counters: echoes suppressed, Track batches sent and the
    conflict resolutions (``conflicts`` by winner, ``conflict_log`` one entry per resolution, capped in XCom)."""

    direction: str = BREVO_TO_CIO
    echoes: int = 0
    batches: int = 0
    unsubscribed: int = 0
    suppressed: int = 0
    conflict_policy: str = DEFAULT_CONFLICT_POLICY
    conflicts: Counter[str] = field(default_factory=Counter)
    conflict_log: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ReverseSummary:
        s = super().from_state(data)
        assert isinstance(s, ReverseSummary)
        s.conflicts = Counter(data.get("conflicts") or {})
        s.conflict_log = list(data.get("conflict_log") or [])
        return s

    def add_writes(self, other: ReverseSummary) -> None:
        """Add what ``other`` counted of Track writes (a batch settled apart, see ``TrackWriter.settle``)."""
        self.batches += other.batches
        self.updated += other.updated
        self.unsubscribed += other.unsubscribed
        self.suppressed += other.suppressed
        self.notes.extend(other.notes)

    def to_xcom(self) -> dict[str, Any]:
        out = super().to_xcom()
        out.update(
            {
                "echoes": self.echoes,
                "batches": self.batches,
                "unsubscribed": self.unsubscribed,
                "suppressed": self.suppressed,
                "conflict_policy": self.conflict_policy,
                "conflicts": dict(self.conflicts),
                "conflict_log": self.conflict_log[:MAX_CONFLICTS_LISTED],
            }
        )
        if self.dry_run:
            out["plan"]["conflicts"] = self.conflict_log[:MAX_CONFLICTS_LISTED]
        return out
