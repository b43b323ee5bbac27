"""The base of the sandbox's Customer.io state: settings, lifecycle, people lookups, indexes and the activity feed.

The rest is one mixin per area over :class:`CustomerIOBase` (:mod:`.people`, :mod:`.objects`, :mod:`.queries`,
:mod:`.background`); :class:`~.state.CustomerIOState` puts them together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.sandbox.clock import SandboxClock
from airflow_provider_customerio.sandbox.customerio.models import (
    ID_BASE,
    MAX_ACTIVITIES,
    PHONE_BASE,
    SEEDED_CIO_RE,
    SEEDED_EMAIL_RE,
    Activity,
    Export,
    ObjectRecord,
    Person,
    SeedWorld,
    Segment,
)


def _default_object_types() -> list[dict[str, Any]]:
    """The object types a new workspace has (created in the UI, so present before any data)."""
    return [
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


class CustomerIOBase:
    """Settings, lifecycle, lookups (seeded and materialised people), identifier indexes and activities."""

    DEFAULT_SETTINGS: dict[str, Any] = {
        "region": "us",
        "environment_id": 117_000,
        "export_polls": 2,  # GET /v1/exports/{id} answers pending this many times, then done
        "fail_exports": False,
        "wrap_customer_items": False,  # True: batch attribute items as {"customer": ...} like the spec says
        "allow_email_update_by_id": False,  # workspace setting "Allow updates to email using ID"
        "search_scan_budget": 100_000,  # people scanned per search request before a short page + next
        # conditions one export filter may hold: Customer.io publishes no bound, the sandbox takes the unkind reading
        # that there is one (docs/vendor-behaviour.md, "Export filters"); null = no bound
        "max_filter_conditions": 10_000,
        # Background mode (the default; null = poll-driven, above): an export runs on the sandbox clock,
        # export_queue_s queued then total / export_rate_per_s seconds, whatever the client polls. Customer.io
        # documents no duration; on a real workspace a large export takes minutes
        # (https://docs.customer.io/api/app/#operation/exportPeopleData, then poll GET /v1/exports/{id}).
        "export_rate_per_s": 20_000.0,
        "export_queue_s": 0.2,
    }

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self.clock = clock if clock is not None else SandboxClock()
        #: Read lag in sandbox-clock seconds: ``activities`` (the activity feed), ``segments`` (a dynamic segment's
        #: rebuild after an attribute change), ``people`` (App API person reads, search and exports: see
        #: :mod:`.readlag`).
        self.lag: dict[str, float] = {"activities": 0.0, "segments": 0.0, "people": 0.0}
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
        self.objects: dict[tuple[str, str], ObjectRecord] = {}
        self.objects_by_cio: dict[str, tuple[str, str]] = {}
        self.seeded_objects: list[str] = []  # object ids of type "1" in seed order (relationship stride)
        self.removed_seeded_rels: set[tuple[str, int]] = set()  # (object_id, idx) of type "1"
        self.failed_attribute_changes = 0
        self.activity_visible: list[float] = []  # sandbox-clock time each activity becomes readable
        self.lag = {"activities": 0.0, "segments": 0.0, "people": 0.0}
        #: people lag (:mod:`.readlag`): idx -> [(readable from, the person then or None)], oldest first
        self.people_versions: dict[int, list[tuple[float, Person | None]]] = {}
        self.people_dirty: dict[int, float] = {}  # idx -> when this request's write becomes readable
        self._created_people = 0
        self.seeded_wall = 0.0
        # A workspace has its object types even before any data (they are created in the UI).
        self.object_types = _default_object_types()

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
        if self.lag["people"]:
            self._touch_person(idx)
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

    if TYPE_CHECKING:  # defined by the mixins (see state.py); declared for the type checker

        def _touch_person(self, idx: int) -> None: ...

        def relationships_op(self, idx: int, rels: Any, action: str) -> None: ...

        def _segments_changed(self, keys: set[str]) -> None: ...

        def matches(self, idx: int, flt: dict[str, Any]) -> bool: ...

        def compile_filter(self, flt: dict[str, Any]) -> Callable[[int], bool]: ...
