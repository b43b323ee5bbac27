"""Work on the sandbox clock: dynamic segment rules and rebuilds (segment lag), and exports."""

from __future__ import annotations

import bisect
import hmac
import time
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.sandbox.customerio.base import CustomerIOBase
from airflow_provider_customerio.sandbox.customerio.models import (
    Export,
    Segment,
    stringify,
)


class BackgroundMixin(CustomerIOBase):
    """Dynamic segments, exports, and the background work due on the sandbox clock."""

    if TYPE_CHECKING:  # defined by ReadLagMixin (see state.py)

        def read_indexes(self, start: int = 0) -> Iterator[int]: ...

    def set_segment_rule(self, segment_id: int, rule: Any) -> Segment:
        """Make a segment dynamic on ``{"attribute": name, "equals": value}`` and build it now."""
        seg = self.segments.get(segment_id)
        if seg is None:
            raise KeyError(segment_id)
        if not isinstance(rule, dict) or not isinstance(rule.get("attribute"), str) or "equals" not in rule:
            raise ValueError('rule: must be {"attribute": "<name>", "equals": <value>}')
        seg.rule = {"attribute": rule["attribute"], "equals": rule["equals"]}
        seg.type = "dynamic"
        seg.manual = {}
        self._rebuild(seg)
        return seg

    def _rebuild(self, seg: Segment) -> None:
        rule = seg.rule or {}
        want = stringify(rule.get("equals"))
        seg.members = array(
            "I", (i for i in self.live_indexes() if stringify(self.field_value(i, rule["attribute"])) == want)
        )
        seg.state, seg.progress, seg.rebuild_at = "finished", None, None
        seg.updated_at = self.now()

    def _segments_changed(self, keys: set[str]) -> None:
        for seg in self.segments.values():
            if seg.rule is None or seg.rule["attribute"] not in keys:
                continue
            if not self.lag["segments"]:
                self._rebuild(seg)
            elif seg.rebuild_at is None:
                seg.state, seg.progress = "build", 0
                seg.rebuild_at = self.clock.now() + self.lag["segments"]

    def run_due(self) -> None:
        """Finish the background work due on the sandbox clock: segment rebuilds, exports (background mode)."""
        now = self.clock.now()
        for seg in self.segments.values():
            if seg.rebuild_at is not None and seg.rebuild_at <= now:
                self._rebuild(seg)
        for exp in self.exports.values():
            if exp.status == "pending" and exp.due_at is not None and exp.due_at <= now:
                self.finish_export(exp)

    def new_export(self, kind: str, filters: Any, attributes: list[str]) -> Export:
        """Start an App API export (``customers`` or ``deliveries``): poll-driven, or on the clock (a rate)."""
        new_id = max(self.exports, default=0) + 1
        exp = Export(id=new_id, type=kind, filters=filters, attributes=attributes, created_at=int(time.time()))
        exp.token = hmac.new(b"sandbox-export", f"{new_id}:{exp.created_at}".encode(), "sha256").hexdigest()[:32]
        self.exports[new_id] = exp
        rate = self.settings["export_rate_per_s"]
        if rate:  # background mode: done when the sandbox clock says so, however often it is polled
            size = self.count_people() if kind == "customers" else len(self.messages)
            exp.due_at = self.clock.now() + float(self.settings["export_queue_s"]) + size / float(rate)
        elif self.settings["export_polls"] <= 0:
            self.finish_export(exp)
        return exp

    def finish_export(self, exp: Export) -> None:
        """Finish an export: its rows (people matching the filters, or deliveries in the window), or a failure."""
        if self.settings["fail_exports"]:
            exp.status, exp.failed = "failed", True
            return
        if exp.type == "customers":
            match = self.compile_filter(exp.filters)
            exp.rows.extend(i for i in self.read_indexes() if match(i))
        else:
            f = exp.filters
            lo = bisect.bisect_left(self.message_created, f.get("start") or 0)
            hi = bisect.bisect_right(self.message_created, f.get("end") or 2**40)
            for pos in range(lo, hi):
                m = self.messages[pos]
                if f.get("campaign_id") is not None and m[2] != f["campaign_id"]:
                    continue
                if f.get("action_id") is not None and m[3] != f["action_id"]:
                    continue
                exp.rows.append(pos)
        exp.total = len(exp.rows)
        exp.status = "done"
