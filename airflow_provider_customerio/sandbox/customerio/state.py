"""The state of the sandbox's Customer.io workspace: people, events, segments, campaigns, activities,
messages, exports, object types, objects and relationships ("one world" for Track writes and App reads).

Seeded people are never stored (see :mod:`.models`); only people written through the API are materialised in
``overlay`` (a copy-on-write layer), and deletions are a set of indexes. 1 M seeded people therefore cost a few
arrays of segment membership, not a million dicts.

Route handlers only parse and shape JSON; everything that changes the world is a method here.
"""

from __future__ import annotations

import bisect
import hmac
import json
import time
from array import array
from collections.abc import Iterator
from typing import Any

from airflow_provider_customerio.sandbox.clock import SandboxClock
from airflow_provider_customerio.sandbox.customerio.errors import InvalidOperation
from airflow_provider_customerio.sandbox.customerio.models import (
    ID_BASE,
    MAX_ACTIVITIES,
    MAX_ATTR_NAME_BYTES,
    MAX_ATTR_VALUE_BYTES,
    MAX_ATTRS,
    MAX_EVENT_DATA_BYTES,
    MAX_EVENT_NAME_BYTES,
    MAX_PERSON_ID_BYTES,
    PHONE_BASE,
    SEEDED_CIO_RE,
    SEEDED_EMAIL_RE,
    Activity,
    Export,
    ObjectRecord,
    Person,
    SeedWorld,
    Segment,
    change,
    mix,
    stringify,
    utf8_len,
)


class CustomerIOState:
    """The whole Customer.io workspace; Track writes and App reads share it ("one world")."""

    DEFAULT_SETTINGS: dict[str, Any] = {
        "region": "us",
        "environment_id": 117_000,
        "export_polls": 2,  # GET /v1/exports/{id} answers pending this many times, then done
        "fail_exports": False,
        "wrap_customer_items": False,  # True: batch attribute items as {"customer": ...} like the spec says
        "allow_email_update_by_id": False,  # workspace setting "Allow updates to email using ID"
        "search_scan_budget": 100_000,  # people scanned per search request before a short page + next
        # Background mode (null = poll-driven, above): an export runs on the sandbox clock, export_queue_s queued
        # then total / export_rate_per_s seconds, whatever the client polls.
        "export_rate_per_s": None,
        "export_queue_s": 0.0,
    }

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self.clock = clock if clock is not None else SandboxClock()
        #: Read lag in sandbox-clock seconds: ``activities`` (the activity feed), ``segments`` (a dynamic segment's
        #: rebuild after an attribute change).
        self.lag: dict[str, float] = {"activities": 0.0, "segments": 0.0}
        self.reset()

    # ------------------------------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        self.settings: dict[str, Any] = dict(self.DEFAULT_SETTINGS)
        self.world: SeedWorld | None = None
        self.n_seeded = 0
        self.next_idx = 0
        self.overlay: dict[int, Person] = {}
        self.deleted: set[int] = set()
        self.by_id: dict[str, int] = {}
        self.by_email: dict[str, int] = {}
        self.by_phone: dict[str, int] = {}
        self.by_cio: dict[str, int] = {}
        self.by_anon: dict[str, int] = {}
        self.suppressed: set[str] = set()
        self.event_ids: set[str] = set()
        self.events: list[dict[str, Any]] = []
        self.anonymous_events: list[dict[str, Any]] = []
        self.activities: list[Activity] = []
        self.activity_base = 0  # seq of activities[0]
        self.messages: list[tuple[int, int, int, int, str, int]] = []  # (created, idx, campaign, action, type, seq)
        self.message_created: list[int] = []
        self.segments: dict[int, Segment] = {}
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.campaign_daily: dict[int, dict[int, dict[str, int]]] = {}  # campaign -> day start -> metric -> n
        self.newsletters: dict[int, dict[str, Any]] = {}
        self.broadcasts: dict[int, dict[str, Any]] = {}  # API-triggered broadcasts
        self.newsletter_daily: dict[int, dict[int, dict[str, int]]] = {}  # like campaign_daily
        self.broadcast_daily: dict[int, dict[int, dict[str, int]]] = {}
        self.exports: dict[int, Export] = {}
        self.object_types: list[dict[str, Any]] = []
        self.objects: dict[tuple[str, str], ObjectRecord] = {}
        self.objects_by_cio: dict[str, tuple[str, str]] = {}
        self.seeded_objects: list[str] = []  # object ids of type "1" in seed order (relationship stride)
        self.removed_seeded_rels: set[tuple[str, int]] = set()  # (object_id, idx) of type "1"
        self.failed_attribute_changes = 0
        self.activity_visible: list[float] = []  # sandbox-clock time each activity becomes readable
        self.lag = {"activities": 0.0, "segments": 0.0}
        self._created_people = 0
        self.seeded_wall = 0.0
        # A workspace has its object types even before any data (they are created in the UI).
        self.object_types = [
            {
                "id": "1",
                "name": "Companies",
                "singular_name": "Company",
                "slug": "companies",
                "singular_slug": "company",
                "enabled": True,
                "icon": "building",
            },
            {
                "id": "2",
                "name": "Accounts",
                "singular_name": "Account",
                "slug": "accounts",
                "singular_slug": "account",
                "enabled": True,
                "icon": "briefcase",
            },
        ]

    def now(self) -> int:
        """The world's clock: the seed's ``now`` plus the real time elapsed since seeding (else wall time)."""
        if self.world is None:
            return int(time.time())
        return int(self.world.anchor + (time.time() - self.seeded_wall))

    # ------------------------------------------------------------------------------------- lookups

    def _seeded_alive(self, idx: int) -> bool:
        return 0 <= idx < self.n_seeded and idx not in self.deleted

    def person(self, idx: int) -> Person | None:
        """The person at ``idx`` (materialising a seeded one read-only), or ``None`` if absent/deleted."""
        if idx in self.deleted:
            return None
        p = self.overlay.get(idx)
        if p is not None:
            return p
        if self.world is not None and 0 <= idx < self.n_seeded:
            return self._materialise(idx)
        return None

    def _materialise(self, idx: int) -> Person:
        assert self.world is not None
        rec = self.world.record(idx)
        p = Person(idx, rec["cio_id"], rec["created"])
        p.id, p.email, p.phone = rec["id"], rec["email"], rec["phone"]
        p.attrs = rec["attrs"]
        p.timestamps = dict.fromkeys(rec["attrs"], rec["created"])
        p.unsubscribed = rec["unsubscribed"]
        return p

    def _mutable(self, idx: int) -> Person:
        p = self.overlay.get(idx)
        if p is None:
            p = self._materialise(idx)
            self.overlay[idx] = p
        return p

    def find(self, kind: str, value: str) -> int | None:
        """Index of the live person whose identifier ``kind`` (id|email|phone|cio_id) equals ``value``."""
        if value is None or value == "":
            return None
        if kind == "email":
            value = value.lower()
        index = {"id": self.by_id, "email": self.by_email, "phone": self.by_phone, "cio_id": self.by_cio}.get(kind)
        if index is None:
            return None
        idx = index.get(value)
        if idx is not None and idx not in self.deleted:
            return idx
        if self.world is None:
            return None
        cand: int | None = None
        try:
            if kind == "cio_id":
                m = SEEDED_CIO_RE.match(value)
                cand = int(m.group(1), 16) - 1 if m else None
            elif kind == "id":
                cand = int(value) - ID_BASE if value.isdigit() and not value.startswith("0") else None
            elif kind == "phone":
                cand = int(value[2:]) - PHONE_BASE if value.startswith("+1") and value[2:].isdigit() else None
            else:
                m = SEEDED_EMAIL_RE.match(value)
                cand = int(m.group(1)) - 1 if m else None
        except ValueError:
            cand = None
        if cand is None or not self._seeded_alive(cand):
            return None
        p = self.overlay.get(cand)
        current = getattr(p, kind) if p is not None else self.world.record(cand)[kind]
        if current is None:
            return None
        if kind == "email":
            current = current.lower()
        return cand if current == value else None

    def find_by_path(self, identifier: str) -> tuple[str, str, int | None]:
        """Resolve a Track v1 path identifier: ``cio_<id>``, an email (contains ``@``), else an id."""
        if identifier.startswith("cio_"):
            value = identifier[4:]
            return "cio_id", value, self.find("cio_id", value)
        if "@" in identifier:
            return "email", identifier, self.find("email", identifier)
        return "id", identifier, self.find("id", identifier)

    def lookup(self, id_type: str, value: str) -> Person | None:
        """App API ``id_type`` lookup (id|email|phone|cio_id)."""
        idx = self.find(id_type, value)
        return self.person(idx) if idx is not None else None

    def live_indexes(self, start: int = 0) -> Iterator[int]:
        """Indexes of live people in a stable order (seeded first, then created), from ``start``."""
        deleted = self.deleted
        for idx in range(start, self.next_idx):
            if idx in deleted:
                continue
            if idx >= self.n_seeded and idx not in self.overlay:
                continue
            yield idx

    def count_people(self) -> int:
        created = sum(1 for i in self.overlay if i >= self.n_seeded)
        return self.n_seeded - sum(1 for i in self.deleted if i < self.n_seeded) + created

    def field_value(self, idx: int, name: str) -> Any:
        """One identifier or attribute of a person (cheap for identifiers of unmodified seeded people)."""
        p = self.overlay.get(idx)
        if p is None:
            if name in ("cio_id", "id", "email") and self.world is not None and 0 <= idx < self.n_seeded:
                return None if idx in self.deleted else self.world.identifiers(idx)[name]
            p = self.person(idx)
            if p is None:
                return None
        if name in ("cio_id", "id", "email", "phone"):
            return getattr(p, name)
        return p.attrs.get(name)

    def identifiers(self, idx: int) -> dict[str, Any]:
        p = self.overlay.get(idx)
        if p is not None:
            return p.identifiers()
        if self.world is not None and 0 <= idx < self.n_seeded:
            return self.world.identifiers(idx)
        return {"email": None, "id": None, "cio_id": None}

    # ------------------------------------------------------------------------------------- indexing

    def _index(self, p: Person) -> None:
        self.by_cio[p.cio_id] = p.idx
        if p.id is not None:
            self.by_id[p.id] = p.idx
        if p.email is not None:
            self.by_email[p.email.lower()] = p.idx
        if p.phone is not None:
            self.by_phone[p.phone] = p.idx
        if p.anonymous_id is not None:
            self.by_anon[p.anonymous_id] = p.idx

    def _unindex(self, p: Person) -> None:
        for index, key in (
            (self.by_cio, p.cio_id),
            (self.by_id, p.id),
            (self.by_email, p.email.lower() if p.email else None),
            (self.by_phone, p.phone),
            (self.by_anon, p.anonymous_id),
        ):
            if key is not None and index.get(key) == p.idx:
                del index[key]

    def _set_identifier(self, p: Person, kind: str, value: str | None) -> None:
        self._unindex(p)
        setattr(p, kind, value)
        self._index(p)

    # ------------------------------------------------------------------------------------- activities

    def add_activity(
        self, type_: str, idx: int, name: str | None = None, data: Any = None, ts: int | None = None
    ) -> None:
        ident = self.identifiers(idx) if idx >= 0 else None
        self.activities.append((type_, int(ts if ts is not None else time.time()), idx, name, data, ident))
        self.activity_visible.append(self.clock.now() + self.lag["activities"] if self.lag["activities"] else 0.0)
        if len(self.activities) > MAX_ACTIVITIES * 1.1:
            drop = len(self.activities) - MAX_ACTIVITIES
            del self.activities[:drop]
            del self.activity_visible[:drop]
            self.activity_base += drop

    def activity_view(self, seq: int, act: Activity) -> dict[str, Any]:
        type_, ts, idx, name, data, ident = act
        if ident is None:
            ident = self.identifiers(idx) if idx >= 0 else {"email": None, "id": None, "cio_id": None}
        item: dict[str, Any] = {
            "id": str(900_000_000_000_000_000 + seq),
            "type": type_,
            "timestamp": ts,
            "customer_id": ident.get("id") or "",
            "customer_identifiers": ident,
            "data": data if data is not None else {},
        }
        if name is not None:
            item["name"] = name
        if type_.endswith("_email"):
            item["delivery_id"] = f"RPIL{seq:012x}"
            item["delivery_type"] = "email"
        return item

    def iter_activities(
        self,
        start_seq: int | None,
        type_: str | None,
        name: str | None,
        deleted: bool,
        customer_idx: int | None = None,
    ) -> Iterator[tuple[int, Activity]]:
        """Activities newest first (insertion order; a backdated event keeps its arrival position)."""
        top = self.activity_base + len(self.activities) if start_seq is None else start_seq
        pos = min(top, self.activity_base + len(self.activities)) - self.activity_base - 1
        now = self.clock.now() if self.lag["activities"] else 0.0
        while pos >= 0:
            act = self.activities[pos]
            seq = self.activity_base + pos
            pos -= 1
            if now and pos + 1 < len(self.activity_visible) and self.activity_visible[pos + 1] > now:
                continue  # written, not yet in the feed (read lag)
            if type_ is not None and act[0] != type_:
                continue
            if name is not None and act[3] != name:
                continue
            if customer_idx is not None and act[2] != customer_idx:
                continue
            if not deleted and act[2] in self.deleted:
                continue
            yield seq, act

    # ------------------------------------------------------------------------------------- Track: people

    def _check_identifier(self, kind: str, value: Any) -> str:
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
            raise InvalidOperation(f"{kind} must be a non-empty string", kind, "required")
        text = str(value)
        if utf8_len(text) > MAX_PERSON_ID_BYTES:
            raise InvalidOperation(f"{kind} is longer than {MAX_PERSON_ID_BYTES} bytes", kind, "too_long")
        return text

    def _validate_attributes(self, attrs: dict[str, Any]) -> None:
        if len(attrs) > MAX_ATTRS:
            raise InvalidOperation(f"too many attributes ({len(attrs)} > {MAX_ATTRS})", "attributes", "too_many")
        for key, value in attrs.items():
            if utf8_len(key) > MAX_ATTR_NAME_BYTES:
                raise InvalidOperation(f"attribute name {key[:40]!r}... is longer than 150 bytes", key, "too_long")
            if key in ("cio_relationships", "cio_subscription_preferences"):
                continue
            size = utf8_len(value if isinstance(value, str) else json.dumps(value))
            if size > MAX_ATTR_VALUE_BYTES:
                raise InvalidOperation(
                    f"attribute {key!r} value is {size} bytes; the limit is {MAX_ATTR_VALUE_BYTES} bytes",
                    key,
                    "too_long",
                )

    def _blocked(self, kind: str, value: str | None) -> bool:
        if value is None:
            return False
        return f"{kind}:{value.lower() if kind == 'email' else value}" in self.suppressed

    def create_person(self, now: int) -> Person:
        idx = self.next_idx
        self.next_idx += 1
        self._created_people += 1
        p = Person(idx, f"c1{self._created_people:06x}", now)
        self.overlay[idx] = p
        return p

    def identify(self, kind: str, value: str, body: dict[str, Any], now: int | None = None) -> int | None:
        """Track identify (v1 path identifier or v2 identifiers): https://docs.customer.io/api/track/#operation/identify

        Returns the person's index, or ``None`` when nothing was written (``_update`` miss, unknown ``cio_``,
        suppressed identifier, stale ``_timestamp``, conflicting identifiers: all still HTTP 200).
        """
        now = int(now if now is not None else time.time())
        if not isinstance(body, dict):
            raise InvalidOperation("the body must be a JSON object of attributes", "attributes", "invalid")
        value = self._check_identifier(kind, value)
        attrs = dict(body)
        update_only = attrs.pop("_update", False) is True
        ts_raw = attrs.pop("_timestamp", None)
        relationships = attrs.pop("cio_relationships", None)
        body_id = attrs.pop("id", None)
        body_email = attrs.pop("email", None)
        anonymous_id = attrs.pop("anonymous_id", None)
        if body_id is not None:
            body_id = self._check_identifier("id", body_id)
        if body_email is not None and not isinstance(body_email, str):
            raise InvalidOperation("email must be a string", "email", "invalid")
        self._validate_attributes(attrs)
        if self._blocked(kind, value) or self._blocked("id", body_id) or self._blocked("email", body_email):
            return None  # suppressed identifiers cannot be re-added

        resolved = self._identify_target(kind, value, body_id, body_email, update_only, now)
        if resolved is None:
            return None
        idx, created = resolved
        p = self._mutable(idx)
        if ts_raw is not None:
            try:
                ts = int(ts_raw)
            except (TypeError, ValueError):
                raise InvalidOperation("_timestamp must be unix seconds (integer)", "_timestamp", "invalid") from None
            if ts < p.last_ts:
                # Field-observed (PostHog#55330): updates older than the latest edit are dropped with a 200.
                return idx
            p.last_ts = ts
        self._identify_identifiers(p, kind, value, body_id, body_email, created, now)
        if anonymous_id is not None:
            self._set_identifier(p, "anonymous_id", str(anonymous_id))
            self._merge_anonymous(p, str(anonymous_id), now)
        if created:
            p.created = (
                int(attrs.get("created_at", now)) if isinstance(attrs.get("created_at", now), (int, float)) else now
            )
            self.add_activity("profile_create", idx, None, {}, now)
        self._apply_attributes(p, attrs, now, record=not created)
        if relationships is not None:
            self.relationships_op(p.idx, relationships, "add_relationships")
        return idx

    def _identify_target(
        self, kind: str, value: str, body_id: str | None, body_email: str | None, update_only: bool, now: int
    ) -> tuple[int, bool] | None:
        """The person an identify writes to and whether it was created; ``None``: nothing is written (200)."""
        idx = self.find(kind, value)
        body_idx: int | None = None
        for k, v in (("id", body_id), ("email", body_email)):
            if v is not None and (k != kind or v != value):
                found = self.find(k, v)
                if found is not None:
                    body_idx = found if body_idx is None else body_idx
        created = False
        if idx is None:
            if kind == "cio_id":
                return None  # an unknown or deleted cio_ identifier: the request is dropped
            if body_idx is not None:
                idx = body_idx  # rule 3 (and 8): the person found by a body identifier gets the path identifier
            elif update_only:
                self.failed_attribute_changes += 1
                self.add_activity("failed_attribute_change", -1, None, {"reason": "_update: no matching person"}, now)
                return None
            else:
                p = self.create_person(now)
                created = True
                idx = p.idx
        elif body_idx is not None and body_idx != idx:
            # rule 4: path and body identify different people -> 200, "Attribute Update Failure"
            self.failed_attribute_changes += 1
            self.add_activity(
                "failed_attribute_change", idx, None, {"reason": "identifiers belong to different people"}, now
            )
            return None

        return idx, created

    def _identify_identifiers(
        self, p: Person, kind: str, value: str, body_id: str | None, body_email: str | None, created: bool, now: int
    ) -> None:
        """Set the path and body identifiers an identify may set; a forbidden change is a failed attribute change."""
        idx = p.idx
        if created or getattr(p, kind) is None:
            if kind in ("id", "email", "phone"):
                self._set_identifier(p, kind, value)
        elif (
            kind in ("id", "email")
            and getattr(p, kind) != value
            and not (kind == "email" and p.email and p.email.lower() == value.lower())
        ):
            self._set_identifier(p, kind, value)  # found through a body identifier: gets the path identifier
        for k, v in (("id", body_id), ("email", body_email)):
            current = getattr(p, k)
            if v is None or v == current or (k == "email" and current and current.lower() == v.lower()):
                continue
            may_change = (
                current is None
                or kind == "cio_id"
                or (k == "id" and kind == "email")
                or (k == "email" and kind == "id" and self.settings["allow_email_update_by_id"])
            )
            if may_change and self.find(k, v) in (None, idx):
                self._set_identifier(p, k, v)
            else:
                # rule 5: changing id/email needs the cio_ path; recorded as a failed attribute change
                self.failed_attribute_changes += 1
                self.add_activity("failed_attribute_change", idx, k, {k: {"from": current, "to": v}}, now)

    def _apply_attributes(self, p: Person, attrs: dict[str, Any], now: int, record: bool = True) -> None:
        for key, value in attrs.items():
            if key == "unsubscribed":
                was, p.unsubscribed = p.unsubscribed, value is True or str(value).lower() in ("true", "1")
                if record and was != p.unsubscribed:  # the profile's activity log shows the change like any other
                    self.add_activity("attribute_change", p.idx, key, {key: change(was, p.unsubscribed)}, now)
                continue
            if key == "cio_subscription_preferences":
                topics = (value or {}).get("topics", {}) if isinstance(value, dict) else {}
                p.subscription_preferences.setdefault("topics", {}).update(topics)
                continue
            if key.startswith("cio_subscription_preferences.topics."):
                p.subscription_preferences.setdefault("topics", {})[key.rsplit(".", 1)[1]] = value
                continue
            if (
                key == "phone"
                and isinstance(value, str)
                and value.startswith("+")
                and self.find("phone", value) in (None, p.idx)
            ):
                self._set_identifier(p, "phone", value)
            old = p.attrs.get(key)
            if value is None or value == "":
                if key in p.attrs:
                    del p.attrs[key]
                    p.timestamps.pop(key, None)
                    if record:
                        self.add_activity("attribute_change", p.idx, key, {key: change(old, None)}, now)
                continue
            if old == value and type(old) is type(value):
                continue
            p.attrs[key] = value
            p.timestamps[key] = now
            if record:
                self.add_activity("attribute_change", p.idx, key, {key: change(old, value)}, now)
        self._segments_changed(set(attrs))

    # ------------------------------------------------------------------------------- background work

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

    # ------------------------------------------------------------------------------------- exports

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
            exp.rows.extend(i for i in self.live_indexes() if self.matches(i, exp.filters))
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

    def _merge_anonymous(self, p: Person, anonymous_id: str, now: int) -> None:
        keep = []
        for ev in self.anonymous_events:
            if ev["anonymous_id"] == anonymous_id and ev["timestamp"] >= now - 30 * 86400:
                ev = dict(ev, person_cio_id=p.cio_id)
                self.events.append(ev)
                self.add_activity("anon_merge", p.idx, ev["name"], {"anonymous_id": anonymous_id}, now)
            else:
                keep.append(ev)
        self.anonymous_events = keep

    def delete_person(self, idx: int, now: int | None = None, activity: str = "profile_delete") -> None:
        now = int(now if now is not None else time.time())
        p = self._mutable(idx)
        self.add_activity(activity, idx, None, {}, now)
        self._unindex(p)
        self.deleted.add(idx)
        for seg in self.segments.values():
            seg.manual.pop(idx, None)

    def suppress(self, idx: int | None, kind: str, value: str) -> None:
        """Delete the profile and block its identifiers (both id and email in email-or-id workspaces)."""
        keys = {f"{kind}:{value.lower() if kind == 'email' else value}"}
        if idx is not None:
            p = self._mutable(idx)
            if p.id:
                keys.add(f"id:{p.id}")
            if p.email:
                keys.add(f"email:{p.email.lower()}")
            self.delete_person(idx, activity="profile_delete")
        self.suppressed |= keys

    def unsuppress(self, idx: int | None, kind: str, value: str) -> None:
        """Free the identifiers; the profile is not restored."""
        self.suppressed.discard(f"{kind}:{value.lower() if kind == 'email' else value}")

    def merge(self, primary: tuple[str, str], secondary: tuple[str, str], now: int | None = None) -> None:
        """Merge ``secondary`` into ``primary``; silently nothing if either is missing.

        https://docs.customer.io/api/track/#operation/merge
        """
        now = int(now if now is not None else time.time())
        pi, si = self.find(*primary), self.find(*secondary)
        if pi is None or si is None or pi == si:
            return
        p, s = self._mutable(pi), self._mutable(si)
        for key, value in s.attrs.items():
            if p.attrs.get(key) in (None, ""):
                p.attrs[key] = value
                p.timestamps[key] = now
        for k in ("id", "email", "phone"):
            if getattr(p, k) is None and getattr(s, k) is not None:
                v = getattr(s, k)
                self._unindex(s)
                setattr(s, k, None)
                self._set_identifier(p, k, v)
        for seg in self.segments.values():
            if si in seg.manual:
                seg.manual[pi] = None
        self.add_activity("profile_merge", pi, None, {"merged": s.identifiers()}, now)
        self._unindex(s)
        self.deleted.add(si)

    def track_event(
        self,
        idx: int | None,
        body: dict[str, Any],
        anonymous_id: str | None = None,
        data_key: str = "data",
        now: int | None = None,
    ) -> bool:
        """Record an event; returns False when deduplicated by ``id`` (still HTTP 200)."""
        now = int(now if now is not None else time.time())
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidOperation("name is required", "name", "required")
        name = name.strip()
        if utf8_len(name) > MAX_EVENT_NAME_BYTES:
            raise InvalidOperation(f"event name is longer than {MAX_EVENT_NAME_BYTES} bytes", "name", "too_long")
        etype = body.get("type", "event")
        if etype not in ("event", "page", "screen"):
            raise InvalidOperation(f"type {etype!r} must be event, page or screen", "type", "invalid")
        data = body.get(data_key) or {}
        if not isinstance(data, dict):
            raise InvalidOperation(f"{data_key} must be an object", data_key, "invalid")
        if utf8_len(json.dumps(data)) > MAX_EVENT_DATA_BYTES:
            raise InvalidOperation(f"{data_key} is larger than {MAX_EVENT_DATA_BYTES} bytes", data_key, "too_long")
        ts = body.get("timestamp", now)
        if not isinstance(ts, (int, float)) or isinstance(ts, bool):
            raise InvalidOperation("timestamp must be unix seconds", "timestamp", "invalid")
        event_id = body.get("id")
        if event_id is not None:
            if str(event_id) in self.event_ids:
                return False
            self.event_ids.add(str(event_id))
        record = {"id": event_id, "name": name, "type": etype, "timestamp": int(ts), "data": data}
        if idx is None:
            record["anonymous_id"] = anonymous_id
            self.anonymous_events.append(record)
            return True
        p = self.person(idx)
        record["person_cio_id"] = p.cio_id if p else None
        self.events.append(record)
        self.add_activity(etype, idx, name, data, int(ts))
        return True

    def set_device(self, idx: int, device: dict[str, Any], token_key: str = "id") -> None:  # noqa: S107 (a field name, not a secret)
        if not isinstance(device, dict):
            raise InvalidOperation("device must be an object", "device", "required")
        token = device.get(token_key)
        if not token:
            raise InvalidOperation(f"device.{token_key} is required", f"device.{token_key}", "required")
        platform = device.get("platform")
        if platform not in ("ios", "android"):
            raise InvalidOperation("device.platform must be ios or android", "device.platform", "invalid")
        extra = {k: v for k, v in device.items() if k not in (token_key, "platform", "last_used", "attributes")}
        attributes = dict(device.get("attributes") or {}) | extra  # the Python client flattens kwargs into device
        last_used = device.get("last_used")
        p = self._mutable(idx)
        p.devices[str(token)] = {
            "id": str(token),
            "platform": platform,
            "last_used": int(last_used) if last_used not in (None, "") else None,  # Go sends a string
            "attributes": attributes,
        }
        self.add_activity("device_change", idx, None, {"device": str(token)})

    def delete_device(self, idx: int, token: str) -> None:
        p = self._mutable(idx)
        p.devices.pop(token, None)

    def manual_segment_change(self, segment_id: int, id_type: str, ids: list[Any], add: bool) -> None:
        seg = self.segments.get(segment_id)
        if seg is None:
            raise InvalidOperation(f"segment {segment_id} not found", "segment_id", "not_found")
        if seg.type != "manual":
            raise InvalidOperation(
                f"segment {segment_id} is data-driven; only manual segments take people", "segment_id"
            )
        if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
            raise InvalidOperation("ids must be an array of 1 to 1000 identifiers", "ids", "invalid")
        for value in ids:
            idx = self.find(id_type, str(value))
            if idx is None:
                continue  # entries that don't match id_type are ignored
            if add:
                seg.manual[idx] = None
            else:
                seg.manual.pop(idx, None)
        seg.updated_at = int(time.time())

    # ------------------------------------------------------------------------------------- objects

    def _object(self, identifiers: dict[str, Any], create: bool) -> ObjectRecord | None:
        if "cio_object_id" in identifiers:
            key = self.objects_by_cio.get(str(identifiers["cio_object_id"]))
            return self.objects.get(key) if key else None
        type_id, object_id = identifiers.get("object_type_id"), identifiers.get("object_id")
        if not type_id or not object_id:
            raise InvalidOperation(
                "identifiers need object_type_id and object_id, or cio_object_id", "identifiers", "required"
            )
        key = (str(type_id), str(object_id))
        rec = self.objects.get(key)
        if rec is None and create:
            if not any(t["id"] == key[0] for t in self.object_types):
                raise InvalidOperation(f"object_type_id {key[0]!r} does not exist", "identifiers.object_type_id")
            n = len(self.objects) + 1
            rec = ObjectRecord(key[0], key[1], f"ob{n + 0x100000:08x}", {}, {})
            self.objects[key] = rec
            self.objects_by_cio[rec.cio_object_id] = key
            self.add_activity(f"_o:{key[0]}:create", -1, key[1], {})
        return rec

    def object_op(self, action: str, identifiers: dict[str, Any], op: dict[str, Any]) -> None:
        now = int(time.time())
        rec = self._object(identifiers, create=action in ("identify", "identify_anonymous"))
        if rec is None:
            if action == "delete":
                return
            raise InvalidOperation("object not found", "identifiers", "not_found")
        if action == "identify":
            attrs = op.get("attributes") or {}
            if not isinstance(attrs, dict):
                raise InvalidOperation("attributes must be an object", "attributes")
            for key, value in attrs.items():
                if value is None or value == "":
                    rec.attrs.pop(key, None)
                else:
                    rec.attrs[key] = value
                    rec.timestamps[key] = now
        if action == "delete":
            del self.objects[(rec.type_id, rec.object_id)]
            self.objects_by_cio.pop(rec.cio_object_id, None)
            if rec.type_id == "1":
                self.removed_seeded_rels |= {(rec.object_id, i) for i in self.object_seeded_members(rec)}
            return
        rels = op.get("cio_relationships")
        if rels is not None:
            if not isinstance(rels, list):
                raise InvalidOperation("cio_relationships must be an array", "cio_relationships")
            for rel in rels:
                ident = (rel or {}).get("identifiers") or {}
                kinds = [k for k in ("id", "email", "cio_id") if k in ident]
                if len(kinds) != 1:
                    continue
                idx = self.find(kinds[0], str(ident[kinds[0]]))
                if idx is None:
                    continue
                self._relate(rec, idx, rel.get("relationship_attributes") or {}, action != "delete_relationships")

    def _relate(self, rec: ObjectRecord, idx: int, attrs: dict[str, Any], add: bool) -> None:
        if add:
            rec.relationships[idx] = attrs
            self.removed_seeded_rels.discard((rec.object_id, idx))
        else:
            rec.relationships.pop(idx, None)
            if rec.type_id == "1":
                self.removed_seeded_rels.add((rec.object_id, idx))
        self.add_activity("add_relationship" if add else "delete_relationship", idx, rec.object_id, {})

    def relationships_op(self, idx: int, rels: Any, action: str) -> None:
        """Add or delete a person's relationships (v1 {action, relationships} or v2 list shape)."""
        if isinstance(rels, dict):  # v1 shape {"action": ..., "relationships": [...]}
            action = rels.get("action", action)
            rels = rels.get("relationships", [])
        if not isinstance(rels, list):
            raise InvalidOperation("cio_relationships must be an array", "cio_relationships")
        for rel in rels:
            ident = (rel or {}).get("identifiers") or {}
            rec = self._object(ident, create=action != "delete_relationships")
            if rec is not None:
                self._relate(rec, idx, rel.get("relationship_attributes") or {}, action != "delete_relationships")

    def object_seeded_members(self, rec: ObjectRecord) -> Iterator[int]:
        """People related to a seeded type-1 object by the seed (person ``i`` -> object ``i % n``)."""
        if rec.type_id != "1" or rec.object_id not in self._seeded_object_pos:
            return iter(())
        j = self._seeded_object_pos[rec.object_id]
        return iter(range(j, self.n_seeded, len(self.seeded_objects)))

    @property
    def _seeded_object_pos(self) -> dict[str, int]:
        cache = getattr(self, "_obj_pos_cache", None)
        if cache is None or cache[0] is not self.seeded_objects:
            cache = (self.seeded_objects, {oid: j for j, oid in enumerate(self.seeded_objects)})
            self._obj_pos_cache = cache
        return cache[1]

    def object_relationships(self, rec: ObjectRecord) -> Iterator[tuple[int, dict[str, Any]]]:
        """(person idx, relationship attributes) of an object: seeded stride first, then added ones."""
        seen: set[int] = set()
        for idx in self.object_seeded_members(rec):
            if idx in self.deleted or (rec.object_id, idx) in self.removed_seeded_rels:
                continue
            seen.add(idx)
            yield idx, rec.relationships.get(idx, {"role": self.field_value(idx, "role")})
        for idx, attrs in list(rec.relationships.items()):
            if idx not in seen and idx not in self.deleted:
                yield idx, attrs

    def person_relationships(self, idx: int) -> list[tuple[ObjectRecord, dict[str, Any]]]:
        out = []
        if self.seeded_objects and 0 <= idx < self.n_seeded:
            oid = self.seeded_objects[idx % len(self.seeded_objects)]
            rec = self.objects.get(("1", oid))
            if rec is not None and (oid, idx) not in self.removed_seeded_rels:
                out.append((rec, rec.relationships.get(idx, {"role": self.field_value(idx, "role")})))
        for rec in self.objects.values():
            if idx in rec.relationships and not any(r is rec for r, _ in out):
                out.append((rec, rec.relationships[idx]))
        return out

    # ------------------------------------------------------------------------------------- filters

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
        v = self.field_value(idx, value["field"])
        if value["operator"] == "exists":
            return v is not None and v != ""
        return v is not None and stringify(v) == str(value["value"])

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
        for idx in self.live_indexes(start):
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

    # ------------------------------------------------------------------------------------- campaigns

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

    # ------------------------------------------------------------------------------------- messages

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
