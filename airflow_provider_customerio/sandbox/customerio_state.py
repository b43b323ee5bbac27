"""State models of the sandbox's Customer.io workspace: people, events, segments, campaigns, activities,
messages, exports, object types, objects and relationships.

Scale: seeded people are never stored. A seeded person ``i`` is a pure function of the seed
(:meth:`SeedWorld.record`); only people written through the API are materialised in ``overlay`` (a
copy-on-write layer), and deletions are a set of indexes. 1 M seeded people therefore cost a few arrays of
segment membership, not a million dicts. Identifier lookups parse the seeded formats (``cio_id`` ``a3`` +
6 hex digits, ``id`` ``1000001 + i``, email ``first.last.<i+1>@domain``, phone ``+1 415200 0000 + i``) and
fall back to dicts that index the overlay.

Route handlers only parse and shape JSON; everything that changes the world is a method here.
"""

from __future__ import annotations

import bisect
import json
import re
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.sandbox.clock import SandboxClock

M64 = (1 << 64) - 1

FIRST_NAMES = (
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara richard susan joseph "
    "jessica thomas sarah charles karen christopher lisa daniel nancy matthew betty anthony margaret mark sandra "
    "donald ashley steven kimberly paul emily andrew donna joshua michelle kenneth carol kevin amanda brian "
    "melissa george deborah timothy stephanie ronald rebecca edward sharon jason laura jeffrey cynthia ryan amy"
).split()
LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson "
    "anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis "
    "robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall "
    "rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins"
).split()
COMPANIES = (
    "Acme Globex Initech Umbrella Hooli Stark Wayne Wonka Cyberdyne Soylent Tyrell Aperture Vandelay Pied-Piper "
    "Massive-Dynamic Oscorp Gringotts Monarch Dunder-Mifflin Bluth Prestige Sterling Krusty Nakatomi Virtucon "
    "Gekko Wernham Duff Vehement Sirius Ollivander Zorg Oceanic Dharma Rekall Weyland Buy-n-Large Spacely Cogswell "
    "Ajax Bizco Contoso Fabrikam Northwind Tailspin Woodgrove Litware Proseware Adatum Fourth-Coffee"
).split()
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
PLANS = ("free", "free", "starter", "starter", "pro", "pro", "pro", "enterprise")
PLAN_MRR = {"free": 0, "starter": 29, "pro": 99, "enterprise": 499}
ROLES = ("admin", "developer", "marketer", "analyst", "owner", "support", "sales", "designer")
STAGES = ("lead", "trial", "customer", "customer", "customer", "churned")
INDUSTRIES = ("software", "retail", "finance", "health", "education", "media", "logistics", "energy")
EVENT_NAMES = ("purchase_completed", "subscription_started", "feature_activated", "support_ticket_opened")
MESSAGE_METRICS = (
    "attempted bounced clicked converted created deferred delivered drafted failed opened sent spammed suppressed "
    "undeliverable topic_unsubscribed unsubscribed"
).split()

SEEDED_CIO_RE = re.compile(r"^a3([0-9a-f]{6})$")
SEEDED_EMAIL_RE = re.compile(r"^[a-z]+\.[a-z]+\.(\d+)[@.]")
ID_BASE = 1_000_001
PHONE_BASE = 4_152_000_000

MAX_PERSON_ID_BYTES = 150
MAX_ATTR_NAME_BYTES = 150
MAX_ATTR_VALUE_BYTES = 1000
MAX_ATTRS = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000
MAX_ACTIVITIES = 1_000_000
RESERVED_KEYS = {"id", "email", "anonymous_id", "_update", "_timestamp", "cio_relationships"}


def mix(x: int) -> int:
    """splitmix64: a fast, well-distributed hash for per-person deterministic fields."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def stringify(value: Any) -> str:
    """How the App API renders an attribute value: always a string.

    https://docs.customer.io/api/app/#operation/getPersonAttributes
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else "null"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def change(old: Any, new: Any) -> dict[str, str]:
    """Attribute-change activity data: values as strings like every App API attribute; absent side left out."""
    out = {}
    if old is not None:
        out["from"] = stringify(old)
    if new is not None:
        out["to"] = stringify(new)
    return out


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


class InvalidOperation(ValueError):
    """A write the vendor would refuse; ``field`` and ``reason`` feed the Track v1/v2 error bodies."""

    def __init__(self, message: str, field: str = "", reason: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason


# ---------------------------------------------------------------------------------------------- the seed


@dataclass
class SeedWorld:
    """Parameters of a deterministic seeded world; :meth:`record` generates person ``i`` on demand."""

    seed: int
    people: int
    anchor: int
    days: int
    objects: int

    def __post_init__(self) -> None:
        self.salt = mix(self.seed * 7919 + 17)

    def cio_id(self, i: int) -> str:
        return f"a3{i + 1:06x}"

    def identifiers(self, i: int) -> dict[str, Any]:
        """Only the identifiers of seeded person ``i`` (same values as :meth:`record`, much cheaper)."""
        h = mix(self.salt ^ (i * 0x9E3779B1))
        email_kind = (h >> 12) % 100
        email: str | None = None
        if email_kind >= 3:
            first = FIRST_NAMES[h % len(FIRST_NAMES)]
            last = LAST_NAMES[(h >> 6) % len(LAST_NAMES)]
            if email_kind == 3:
                email = f"{first}.{last}.{i + 1}@@example.com"
            elif email_kind == 4:
                email = f"{first}.{last}.{i + 1}@example..com"
            else:
                email = f"{first}.{last}.{i + 1}@{DOMAINS[(h >> 20) % len(DOMAINS)]}"
        pid: str | None = str(ID_BASE + i)
        if email is not None and (h >> 28) % 100 < 2:
            pid = None
        return {"email": email, "id": pid, "cio_id": f"a3{i + 1:06x}"}

    def record(self, i: int) -> dict[str, Any]:
        """Identifiers and attributes (JSON types, as written through Track) of seeded person ``i``."""
        h = mix(self.salt ^ (i * 0x9E3779B1))
        h2 = mix(h ^ 0x5BD1E995)
        first = FIRST_NAMES[h % len(FIRST_NAMES)]
        last = LAST_NAMES[(h >> 6) % len(LAST_NAMES)]
        email_kind = (h >> 12) % 100
        email: str | None = f"{first}.{last}.{i + 1}@{DOMAINS[(h >> 20) % len(DOMAINS)]}"
        if email_kind < 3:
            email = None  # some people have no email
        elif email_kind == 3:
            email = f"{first}.{last}.{i + 1}@@example.com"  # invalid data
        elif email_kind == 4:
            email = f"{first}.{last}.{i + 1}@example..com"  # invalid data: empty domain label
        pid: str | None = str(ID_BASE + i)
        if email is not None and (h >> 28) % 100 < 2:
            pid = None  # email-only people: their ``ids`` entry is ""
        phone_kind = (h >> 36) % 100
        phone: str | None = "+1" + str(PHONE_BASE + i)
        if phone_kind < 10:
            phone = None
        elif phone_kind < 12:
            phone = f"(415) 555-{i % 10000:04d}"  # invalid data: not E.164
        plan = PLANS[(h >> 44) % len(PLANS)]
        mrr: Any = PLAN_MRR[plan] * (1 + (h2 >> 40) % 5) if plan == "enterprise" else PLAN_MRR[plan]
        if (h2 >> 8) % 100 == 0:
            mrr = "n/a"  # invalid data: a number attribute holding text
        if self.objects:
            company = COMPANIES[(i % self.objects) % len(COMPANIES)]
        else:
            company = COMPANIES[(h >> 50) % len(COMPANIES)]
        created_at = self.anchor - 30 * 86400 - (h2 % (730 * 86400))
        attrs: dict[str, Any] = {
            "first_name": first.capitalize(),
            "last_name": last.capitalize(),
            "created_at": created_at,
            "last_activity": self.anchor - (h2 >> 24) % max(1, self.days * 86400),
            "plan": plan,
            "company": company,
            "role": ROLES[(h >> 56) % len(ROLES)],
            "mrr": mrr,
            "lifecycle_stage": STAGES[(h2 >> 16) % len(STAGES)],
        }
        if phone is not None:
            attrs["phone"] = phone
        if (h2 >> 32) % 500 == 7:
            # Oversized attribute: just under Customer.io's 1000-byte value limit, far over typical targets.
            attrs["notes"] = ("Long free-text note about this customer. " * 30)[:990]
        return {
            "cio_id": self.cio_id(i),
            "id": pid,
            "email": email,
            "phone": phone if phone and phone.startswith("+") else None,
            "attrs": attrs,
            "created": created_at,
            "unsubscribed": (h >> 60) % 16 == 0,
        }


# ----------------------------------------------------------------------------------------------- people


class Person:
    """A materialised person (written through the API, or a seeded person copied on first write)."""

    __slots__ = (
        "idx",
        "cio_id",
        "id",
        "email",
        "phone",
        "attrs",
        "timestamps",
        "created",
        "unsubscribed",
        "devices",
        "last_ts",
        "anonymous_id",
        "subscription_preferences",
    )

    def __init__(self, idx: int, cio_id: str, created: int) -> None:
        self.idx = idx
        self.cio_id = cio_id
        self.id: str | None = None
        self.email: str | None = None
        self.phone: str | None = None
        self.attrs: dict[str, Any] = {}
        self.timestamps: dict[str, int] = {}
        self.created = created
        self.unsubscribed = False
        self.devices: dict[str, dict[str, Any]] = {}
        self.last_ts = 0
        self.anonymous_id: str | None = None
        self.subscription_preferences: dict[str, Any] = {}

    def identifiers(self) -> dict[str, Any]:
        return {"email": self.email, "id": self.id, "cio_id": self.cio_id}

    def attribute(self, name: str) -> Any:
        """One stored attribute as an export column reads it, reserved ones included: ``unsubscribed`` is kept
        outside ``attrs`` here but is a person attribute in Customer.io (it can be exported and segmented on)."""
        if name == "unsubscribed":
            return self.unsubscribed
        return self.attrs.get(name)

    def typed(self) -> dict[str, Any]:
        """Raw typed view for the control plane's state endpoints."""
        return {
            "cio_id": self.cio_id,
            "id": self.id,
            "email": self.email,
            "phone": self.phone,
            "attributes": dict(self.attrs),
            "timestamps": dict(self.timestamps),
            "created": self.created,
            "unsubscribed": self.unsubscribed,
            "devices": list(self.devices.values()),
            "anonymous_id": self.anonymous_id,
            "subscription_preferences": self.subscription_preferences,
        }

    def app_view(self) -> dict[str, Any]:
        """The App API's flat customer item (``POST /v1/customers/attributes`` live shape)."""
        attrs = {k: stringify(v) for k, v in self.attrs.items() if v is not None}
        attrs["cio_id"] = self.cio_id
        if self.id is not None:
            attrs["id"] = self.id
        if self.email is not None:
            attrs["email"] = self.email
        if self.subscription_preferences:
            attrs["cio_subscription_preferences"] = stringify(self.subscription_preferences)
        return {
            "id": self.id or "",
            "identifiers": self.identifiers(),
            "attributes": attrs,
            "timestamps": dict(self.timestamps),
            "unsubscribed": self.unsubscribed,
            "devices": [
                {
                    "id": d["id"],
                    "platform": d.get("platform"),
                    "last_used": d.get("last_used"),
                    "attributes": {k: stringify(v) for k, v in (d.get("attributes") or {}).items()},
                }
                for d in self.devices.values()
            ],
        }


@dataclass
class Segment:
    """A segment: seeded dynamic segments hold a sorted array of member indexes, manual ones a dict."""

    id: int
    name: str
    description: str
    type: str
    state: str = "finished"
    progress: int | None = None
    created_at: int = 0
    updated_at: int = 0
    tags: list[str] | None = None
    members: array[int] = field(default_factory=lambda: array("I"))
    manual: dict[int, None] = field(default_factory=dict)
    #: A dynamic segment's condition ``{"attribute": name, "equals": value}`` (set through the control plane); its
    #: membership is rebuilt in the background when a person's attribute changes (state ``build`` -> ``finished``).
    rule: dict[str, Any] | None = None
    rebuild_at: float | None = None  # sandbox-clock time the pending rebuild finishes

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deduplicate_id": f"{self.id}:{self.updated_at}",
            "name": self.name,
            "description": self.description,
            "state": self.state,
            "progress": self.progress,
            "type": self.type,
            "tags": self.tags,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def contains(self, idx: int) -> bool:
        if self.type == "manual":
            return idx in self.manual
        pos = bisect.bisect_left(self.members, idx)
        return pos < len(self.members) and self.members[pos] == idx

    def member_list(self) -> Any:
        return list(self.manual) if self.type == "manual" else self.members


@dataclass
class ObjectRecord:
    """One custom object; relationships to people are ``person idx -> relationship attributes``."""

    type_id: str
    object_id: str
    cio_object_id: str
    attrs: dict[str, Any]
    timestamps: dict[str, int]
    relationships: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Export:
    """A people or deliveries export: pending for N polls, then done with a CSV file."""

    id: int
    type: str
    filters: Any
    attributes: list[str]
    created_at: int
    status: str = "pending"
    polls: int = 0
    total: int = 0
    failed: bool = False
    rows: array[int] = field(default_factory=lambda: array("I"))
    downloads: int = 0
    token: str = ""
    due_at: float | None = None  # background mode: sandbox-clock time the export is done

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": 1,
            "user_email": "sandbox@example.com",
            "total": self.total if self.status == "done" else 0,
            "deduplicate_id": f"{self.id}:{self.created_at}",
            "type": self.type,
            "failed": self.failed,
            "description": f"{self.type} export (sandbox)",
            "downloads": self.downloads,
            "created_at": self.created_at,
            "updated_at": self.created_at + self.polls,
            "status": self.status,
        }


# Activity tuple: (type, timestamp, person idx, name or None, data, identifiers snapshot or None)
Activity = tuple[str, int, int, "str | None", Any, "dict[str, Any] | None"]


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
        self.export_finisher: Any = None  # set by the App router (it owns the export logic)
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
        # identifiers
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
        if self.export_finisher is not None:
            for exp in self.exports.values():
                if exp.status == "pending" and exp.due_at is not None and exp.due_at <= now:
                    self.export_finisher(exp)

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
