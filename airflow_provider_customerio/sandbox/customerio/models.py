"""Records and constants of the sandbox's Customer.io workspace (moto-style "models"): no HTTP, no state.

Scale: seeded people are never stored. A seeded person ``i`` is a pure function of the seed
(:meth:`SeedWorld.record`); only people written through the API are materialised (a copy-on-write overlay in
:class:`~.state.CustomerIOState`). Identifier lookups parse the seeded formats (``cio_id`` ``a3`` + 6 hex digits,
``id`` ``1000001 + i``, email ``first.last.<i+1>@domain``, phone ``+1 415200 0000 + i``).
"""

from __future__ import annotations

import bisect
import json
import re
from array import array
from dataclasses import dataclass, field
from typing import Any

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
