"""Records and constants of the sandbox's Brevo v3 emulation (moto-style "models"): no HTTP, no state.

Facts come from Brevo's API reference (https://developers.brevo.com/reference/, cited by operation) and the
Feb-2026 copy of Brevo's published OpenAPI document; docs/vendor-behaviour.md describes undocumented behaviour.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterable
from typing import Any

from airflow_provider_customerio.sandbox.brevo.errors import InvalidParameter

# --------------------------------------------------------------------------------------------------------------
# Constants and small helpers
# --------------------------------------------------------------------------------------------------------------

STANDARD_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("EMAIL", "text"),
    ("SMS", "text"),
    ("EXT_ID", "text"),
    ("FIRSTNAME", "text"),
    ("LASTNAME", "text"),
    ("WHATSAPP", "text"),
    ("LANDLINE_NUMBER", "text"),
)
SEED_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("CIO_ID", "text"),
    ("SIGNUP_DATE", "date"),
    ("LAST_ACTIVE", "date"),
    ("PLAN_NAME", "text"),
    ("COMPANY", "text"),
    ("JOB_TITLE", "text"),
    ("MONTHLY_REVENUE", "float"),
    ("LIFECYCLE_STAGE", "text"),
)
SEED_LISTS: tuple[tuple[int, str], ...] = ((12, "All contacts"), (13, "Active subscribers"), (14, "Churned"))
SEED_OBJECT_TYPES: dict[str, tuple[str, ...]] = {"companies": ("name", "domain", "plan", "employees")}

#: identity attributes (besides the top-level email) that must be unique per contact
PHONE_IDENTITIES = ("SMS", "WHATSAPP", "LANDLINE_NUMBER")
IDENTITY_ATTRS = ("EXT_ID", *PHONE_IDENTITIES)
#: names used in ``metadata.duplicate_identifiers`` (spec example: ``["email"]``; the others follow the same style)
DUPLICATE_NAMES = {
    "EMAIL": "email",
    "EXT_ID": "ext_id",
    "SMS": "sms",
    "WHATSAPP": "whatsapp",
    "LANDLINE_NUMBER": "landline_number",
}
#: ``info.import`` count keys (https://developers.brevo.com/reference/get-process)
IMPORT_COUNT_KEYS = {
    "EMAIL": "duplicate_email_id",
    "EXT_ID": "duplicate_ext_id",
    "SMS": "duplicate_phone_id",
    "WHATSAPP": "duplicate_whatsapp_id",
    "LANDLINE_NUMBER": "duplicate_landline_number_id",
}
IDENTIFIER_TYPES = ("email_id", "contact_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id")
ATTRIBUTE_CATEGORIES = ("normal", "transactional", "category", "calculated", "global")
ATTRIBUTE_TYPES = ("text", "date", "float", "boolean", "id", "category", "multiple-choice", "user")

#: GET /account email; deleting that contact answers 405 (https://developers.brevo.com/reference/delete-contact)
ACCOUNT_EMAIL = "ops@sandbox.example"
#: Sandbox-clock seconds a process sent with a notifyUrl takes in poll-driven mode (it ends on its own, unpolled).
NOTIFY_PROCESS_S = 1.0
#: Default processing rate of import processes (rows per sandbox-clock second) and their fixed queue delay. Brevo
#: documents neither; its help centre says an import takes "a few minutes" and that several at once get stuck
#: ("Do not import multiple files at the same time. Wait for your current import to finish before starting a new
#: one."), so by default an account's imports run one after the other (``serial``). The rate is high enough that a
#: test's small import ends in a fraction of a second, and still makes a 1,000,000-row sync wait import by import.
DEFAULT_IMPORT_RATE_PER_S = 20_000.0
DEFAULT_IMPORT_QUEUE_S = 0.2
MAX_IMPORT_BYTES = 10 * 1024 * 1024  # https://developers.brevo.com/reference/import-contacts
MAX_EVENT_PROPERTIES_BYTES = 50 * 1024  # https://developers.brevo.com/reference/create-event
MAX_BATCH_EVENTS = 200  # https://developers.brevo.com/docs/event-endpoints
MAX_BATCH_EVENTS_BYTES = 512 * 1024  # https://developers.brevo.com/docs/event-endpoints
MAX_OBJECT_RECORDS = 1000  # https://developers.brevo.com/reference/custom-objects/upsertrecords
MAX_OBJECT_BODY_BYTES = 1024 * 1024  # https://developers.brevo.com/reference/custom-objects/upsertrecords
RUNNING = ("queued", "processing", "in_process")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")
EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
OBJECT_TYPE_RE = re.compile(r"^[a-z0-9_]{1,32}$")
FILTER_RE = re.compile(r"^\s*equals\(\s*([A-Za-z0-9_]+)\s*,\s*(.*?)\s*\)\s*$")


def iso_ms(ms: int) -> str:
    """Render epoch milliseconds as Brevo does: ``YYYY-MM-DDTHH:mm:ss.SSSZ`` (UTC)."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def parse_datetime_ms(value: str, field: str, naive_tz: dt.tzinfo | None = None) -> int:
    """Parse an ISO-8601 date-time (``Z`` or an offset) to epoch ms, or raise InvalidParameter.

    A time without an offset is read in ``naive_tz`` (the account's time zone for the filters that model Brevo's
    "Prefer to pass your timezone", docs/vendor-behaviour.md), UTC when it is None.
    """
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidParameter(
            f"{field} is not a valid date-time: {value!r}. Use ISO-8601 with an offset such as "
            "2026-01-31T13:45:00.000Z or 2026-01-31T05:45:00.000-08:00, URL-encoded (+ as %2B)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_tz or dt.timezone.utc)
    return int(parsed.timestamp() * 1000)


def is_valid_email(value: Any) -> bool:
    """Return True for a syntactically valid email address."""
    return isinstance(value, str) and len(value) <= 254 and bool(EMAIL_RE.match(value))


def phone_key(value: str) -> str | None:
    """Normalise a phone number for identity lookups (``+33…``, ``0033…`` and ``33…`` are the same number).

    Accepted formats: https://developers.brevo.com/reference/get-contact-info

    The stored value is kept as sent; only the uniqueness index uses the normalised key.
    """
    digits = re.sub(r"[\s().-]", "", value)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        return None
    return digits


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


# --------------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------------


class Attribute:
    """A contact attribute definition (``GET /contacts/attributes`` item)."""

    __slots__ = ("name", "category", "type", "enumeration", "options")

    def __init__(
        self,
        name: str,
        category: str = "normal",
        type: str | None = "text",
        enumeration: list[dict[str, Any]] | None = None,
        options: list[str] | None = None,
    ) -> None:
        self.name = name
        self.category = category
        self.type = type
        self.enumeration = enumeration
        self.options = options

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "category": self.category}
        if self.type and self.type != "category":
            body["type"] = self.type
        elif self.type == "category":
            body["type"] = "text"  # category attributes are reported as text + enumeration
        if self.enumeration is not None:
            body["enumeration"] = self.enumeration
        if self.options is not None:
            body["multiCategoryOptions"] = self.options
        return body


class Contact:
    """A Brevo contact. Compact (slots) so that 100k+ contacts stay small."""

    __slots__ = ("id", "email", "created", "modified", "email_bl", "sms_bl", "list_ids", "attrs")

    def __init__(self, cid: int, now: int) -> None:
        self.id = cid
        self.email: str | None = None
        self.created = now
        self.modified = now
        self.email_bl = False
        self.sms_bl = False
        self.list_ids: set[int] = set()
        self.attrs: dict[str, Any] = {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.email is not None:
            body["email"] = self.email
        body["id"] = self.id
        body["emailBlacklisted"] = self.email_bl
        body["smsBlacklisted"] = self.sms_bl
        body["whatsappBlacklisted"] = False
        body["createdAt"] = iso_ms(self.created)
        body["modifiedAt"] = iso_ms(self.modified)
        body["listIds"] = sorted(self.list_ids)
        body["attributes"] = dict(self.attrs)
        return body


class ContactList:
    """A contact list (members kept as a set of contact ids)."""

    __slots__ = ("id", "name", "folder_id", "created", "members")

    def __init__(self, lid: int, name: str, folder_id: int, now: int) -> None:
        self.id = lid
        self.name = name
        self.folder_id = folder_id
        self.created = now
        self.members: set[int] = set()


class Process:
    """A background process (``GET /processes/{id}``): imports and object upserts."""

    def __init__(self, pid: int, name: str, kind: str, payload: dict[str, Any], now: int) -> None:
        self.id = pid
        self.name = name
        self.kind = kind  # "import" | "objects"
        self.payload: dict[str, Any] | None = payload
        self.status = "queued"
        self.polls = 0
        self.created = now
        self.completed: int | None = None
        self.info: dict[str, Any] | None = None
        self.error: str | None = None
        self.will_fail = False
        self.partial = False
        self.stuck = False
        self.starts_at: float | None = None  # sandbox-clock times (processing-rate mode)
        self.due_at: float | None = None
        #: processing-rate mode: runs on the sandbox clock (``size`` rows); ``queued_at`` / ``ended_at`` sandbox time
        self.clocked = False
        self.size = 0
        self.queued_at = 0.0
        self.ended_at: float | None = None
        self.rejected: list[dict[str, Any]] = []
        self.applied = 0
        #: What was asked (SHA-256 of the payload, without the notify URL): the same write sent twice shows here.
        self.digest = ""
        self.notify_url: str | None = None  # called when the process ends (sandbox/notify.py)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "name": self.name, "status": self.status}
        if self.info is not None:
            body["info"] = self.info
        if self.error is not None:
            body["error"] = self.error
        body["created_at"] = iso_ms(self.created)
        if self.completed is not None:
            body["completed_at"] = iso_ms(self.completed)
        return body

    def to_control_json(self) -> dict[str, Any]:
        body = self.to_json()
        body["sandbox"] = {
            "kind": self.kind,
            "polls": self.polls,
            "stuck": self.stuck,
            "will_fail": self.will_fail,
            "partial": self.partial,
            "starts_at": self.starts_at,
            "due_at": self.due_at,
            "ended_at": self.ended_at,
            "size": self.size,
            "applied": self.applied,
            "rejected": self.rejected,
            "digest": self.digest,
        }
        return body


class ObjectRecord:
    """A custom object record."""

    __slots__ = ("id", "ext_id", "attrs", "assoc", "created", "updated")

    def __init__(self, rid: int, ext_id: str | None, now: int) -> None:
        self.id = rid
        self.ext_id = ext_id
        self.attrs: dict[str, Any] = {}
        self.assoc: dict[str, set[int]] = {}
        self.created = now
        self.updated = now

    def to_json(self, with_associations: bool = True) -> dict[str, Any]:
        identifiers: dict[str, Any] = {"id": self.id}
        if self.ext_id is not None:
            identifiers["ext_id"] = self.ext_id
        body: dict[str, Any] = {"identifiers": identifiers, "attributes": dict(self.attrs)}
        if with_associations:
            body["associations"] = [
                {"object_type": otype, "records": [{"identifiers": {"id": rid}} for rid in sorted(ids)[:5]]}
                for otype, ids in sorted(self.assoc.items())
                if ids
            ]
        body["createdAt"] = iso_ms(self.created)
        body["updatedAt"] = iso_ms(self.updated)
        return body


class ObjectType:
    """A custom object type with its attribute keys and records."""

    def __init__(self, name: str, attributes: Iterable[str]) -> None:
        self.name = name
        self.attributes = set(attributes)
        self.records: dict[int, ObjectRecord] = {}
        self.by_ext: dict[str, int] = {}
        self.next_id = 1
