"""Read-side queries: App API filters and search, campaign metrics, message views."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.sandbox.customerio.base import CustomerIOBase
from airflow_provider_customerio.sandbox.customerio.models import (
    ObjectRecord,
    mix,
    stringify,
)


class QueriesMixin(CustomerIOBase):
    """Filter validation and matching, paged search, metric sums and message views."""

    if TYPE_CHECKING:  # defined by ReadLagMixin (see state.py)

        def read_indexes(self, start: int = 0) -> Iterator[int]: ...

        def read_field_value(self, idx: int, name: str) -> Any: ...

    def validate_filter(self, flt: Any, path: str = "filter", depth: int = 0) -> None:
        """Check the AudienceFilter grammar (and/or arrays, not single, segment/attribute leaves)."""
        if not isinstance(flt, dict) or len(flt) != 1:
            raise ValueError(f"{path}: must be an object with exactly one of and, or, not, segment, attribute")
        ((key, value),) = flt.items()
        if depth > 4:
            raise ValueError(f"{path}: nested too deeply")
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{path}.{key}: must be a non-empty array of filters")
            for n, item in enumerate(value):
                self.validate_filter(item, f"{path}.{key}[{n}]", depth + 1)
        elif key == "not":
            self.validate_filter(value, f"{path}.not", depth + 1)
        elif key == "segment":
            if not isinstance(value, dict) or not isinstance(value.get("id"), int):
                raise ValueError(f'{path}.segment: must be {{"id": <integer segment id>}}')
        elif key == "attribute":
            if not isinstance(value, dict) or not isinstance(value.get("field"), str):
                raise ValueError(f"{path}.attribute.field: required (the attribute name)")
            op = value.get("operator")
            if op not in ("eq", "exists"):
                raise ValueError(f"{path}.attribute.operator: {op!r} is not supported; use eq or exists")
            if op == "eq" and "value" not in value:
                raise ValueError(f"{path}.attribute.value: required with operator eq")
        else:
            raise ValueError(f"{path}: unknown key {key!r}; use and, or, not, segment or attribute")

    @staticmethod
    def count_conditions(flt: Any) -> int:
        """The segment and attribute conditions of a (valid) filter."""
        ((key, value),) = flt.items()
        if key in ("and", "or"):
            return sum(QueriesMixin.count_conditions(f) for f in value)
        if key == "not":
            return QueriesMixin.count_conditions(value)
        return 1

    def matches(self, idx: int, flt: dict[str, Any]) -> bool:
        ((key, value),) = flt.items()
        if key == "and":
            return all(self.matches(idx, f) for f in value)
        if key == "or":
            return any(self.matches(idx, f) for f in value)
        if key == "not":
            return not self.matches(idx, value)
        if key == "segment":
            seg = self.segments.get(value["id"])
            return seg is not None and seg.contains(idx)
        v = self.read_field_value(idx, value["field"])  # search and exports read through the people lag
        if value["operator"] == "exists":
            return v is not None and v != ""
        return v is not None and stringify(v) == str(value["value"])

    def compile_filter(self, flt: dict[str, Any]) -> Callable[[int], bool]:
        """:meth:`matches` as one predicate, with the ``eq`` conditions of an ``and``/``or`` on one field read once
        and looked up in a set (an export naming 10,000 people by ``cio_id`` scans a large workspace in seconds);
        the same answers as :meth:`matches`."""
        ((key, value),) = flt.items()
        if key == "not":
            inner = self.compile_filter(value)
            return lambda idx: not inner(idx)
        if key not in ("and", "or"):
            return lambda idx: self.matches(idx, flt)
        groups: dict[str, set[str]] = {}
        rest: list[Callable[[int], bool]] = []
        for item in value:
            leaf = item.get("attribute") if len(item) == 1 else None
            if key == "or" and isinstance(leaf, dict) and leaf.get("operator") == "eq":
                groups.setdefault(leaf["field"], set()).add(str(leaf["value"]))
            else:
                rest.append(self.compile_filter(item))

        def eq_any(idx: int) -> bool:
            for name, values in groups.items():
                v = self.read_field_value(idx, name)
                if v is not None and stringify(v) in values:
                    return True
            return False

        if key == "or":
            return lambda idx: eq_any(idx) or any(p(idx) for p in rest)
        return lambda idx: all(p(idx) for p in rest)

    def search(self, flt: dict[str, Any], start: int, limit: int) -> tuple[list[int], int | None]:
        """Up to ``limit`` matching indexes from position ``start``; also the next position or None.

        One request scans at most ``settings["search_scan_budget"]`` people, then answers the matches so far (possibly
        none) with a ``next`` token, like the live API's short pages that still carry a token: a sparse
        filter over 1 M people never blocks the server for seconds. Callers page until ``next`` is empty.
        """
        out: list[int] = []
        nxt: int | None = None
        scanned = 0
        budget = self.settings["search_scan_budget"]
        for idx in self.read_indexes(start):
            if len(out) >= limit or scanned >= budget:
                nxt = idx
                break
            scanned += 1
            if self.matches(idx, flt):
                out.append(idx)
        return out, nxt

    def object_matches(self, rec: ObjectRecord, flt: dict[str, Any]) -> bool:
        ((key, value),) = flt.items()
        if key == "and":
            return all(self.object_matches(rec, f) for f in value)
        if key == "or":
            return any(self.object_matches(rec, f) for f in value)
        if key == "not":
            return not self.object_matches(rec, value)
        if key != "object_attribute":
            raise ValueError(f"filter: unknown key {key!r}; use and, or, not or object_attribute")
        name = value.get("field")
        v = rec.object_id if name == "object_id" else rec.attrs.get(name)
        if value.get("operator") == "exists":
            return v is not None and v != ""
        return v is not None and stringify(v) == str(value.get("value"))

    def metric_sum(self, campaign_id: int, metric: str, t0: int, t1: int) -> int:
        """Sum of a campaign's daily metric over ``[t0, t1)``; part-days are prorated (deterministic)."""
        daily = self.campaign_daily.get(campaign_id, {})
        total = 0.0
        day = t0 - t0 % 86400
        while day < t1:
            values = daily.get(day)
            if values:
                overlap = min(t1, day + 86400) - max(t0, day)
                total += values.get(metric, 0) * overlap / 86400
            day += 86400
        return int(round(total))

    def message_view(self, pos: int) -> dict[str, Any]:
        created, idx, campaign_id, action_id, mtype, seq = self.messages[pos]
        ident = self.identifiers(idx)
        h = mix(seq * 31 + 7)
        metrics: dict[str, int] = {"created": created, "sent": created + 5}
        if h % 100 < 95:
            metrics["delivered"] = created + 30
        if h % 100 < 45:
            metrics["opened"] = created + 600 + (h >> 8) % 3600
        if h % 100 < 12:
            metrics["clicked"] = created + 4000 + (h >> 16) % 3600
        if h % 100 >= 97:
            metrics = {"created": created, "bounced": created + 40}
        return {
            "id": f"dgOq{seq:010x}",
            "deduplicate_id": f"dgOq{seq:010x}:{created}",
            "customer_id": ident.get("id") or "",
            "customer_identifiers": ident,
            "recipient": ident.get("email") or "",
            "subject": f"Campaign {campaign_id}: your weekly update",
            "metrics": metrics,
            "created": created,
            "failure_message": "mailbox does not exist" if "bounced" in metrics else None,
            "campaign_id": campaign_id,
            "action_id": action_id,
            "parent_action_id": None,
            "newsletter_id": None,
            "content_id": None,
            "broadcast_id": None,
            "trigger_event_id": None,
            "forgotten": False,
            "type": mtype,
        }
