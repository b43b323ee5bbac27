"""What one segment mirror run did (or, in a dry run, would do): :class:`MirrorResult`, whose summary is the XCom
value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MirrorResult:
    """What one run did (or, in a dry run, would do). :meth:`summary` is the XCom value."""

    segment_id: int
    list_id: int
    dry_run: bool = False
    forced: bool = False
    segment_name: str = ""
    segment_state: str = ""
    skipped_building: bool = False
    segment_size: int = 0
    list_size_before: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    rejected: int = 0
    held: int = 0
    lifecycle_updated: int = 0
    lifecycle_skipped_segments: list[int] = field(default_factory=list)
    attribute_problems: int = 0
    list_created: bool = False
    requested_list_id: int | None = None
    brake_tripped: bool = False
    write_calls: int = 0
    api_calls: int = 0
    planned_adds: list[dict[str, Any]] = field(default_factory=list)
    planned_removes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def list_size_after(self) -> int:
        """Contacts in the list after the run (as planned, in a dry run)."""
        return self.list_size_before + self.added - self.removed

    def summary(self) -> dict[str, Any]:
        """Small JSON-safe summary for XCom and logs."""
        out: dict[str, Any] = {
            "segment": self.segment_id,
            "list": self.list_id,
            "segment_state": self.segment_state,
            "skipped_building": self.skipped_building,
            "segment_size": self.segment_size,
            "list_size_before": self.list_size_before,
            "list_size_after": self.list_size_after,
            "added": self.added,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "held": self.held,
            "lifecycle_updated": self.lifecycle_updated,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "brake_tripped": self.brake_tripped,
            "list_created": self.list_created,
            "write_calls": self.write_calls,
            "api_calls": self.api_calls,
        }
        if self.requested_list_id is not None and self.requested_list_id != self.list_id:
            out["requested_list"] = self.requested_list_id
        if self.lifecycle_skipped_segments:
            out["lifecycle_skipped_segments"] = list(self.lifecycle_skipped_segments)
        if self.attribute_problems:
            out["attribute_problems"] = self.attribute_problems
        if self.dry_run:
            out["sample_adds"] = list(self.planned_adds)
            out["sample_removes"] = list(self.planned_removes)
            out["plan"] = {
                "creates": 0,
                "updates": self.lifecycle_updated,
                "deletes": 0,
                "list_adds": self.added,
                "list_removals": self.removed,
                "list_adds_items": list(self.planned_adds),
                "list_removals_items": list(self.planned_removes),
            }
        return out
