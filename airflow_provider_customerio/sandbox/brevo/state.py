"""The in-memory state of the sandbox's Brevo v3 emulation: the whole account, behind one lock.

Nothing here knows about HTTP: route handlers in :mod:`.routes` parse requests, call these methods and shape JSON.
Errors are :mod:`.errors` classes; records and constants are in :mod:`.models`. Where the field behaviour differs
from the documents the code follows the field and says so in a comment.

Sandbox-only conveniences (not part of Brevo's API) are exposed through the control router only:
rejected import rows (``Process.rejected``), object upsert rejections and stored events.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from airflow_provider_customerio.sandbox.brevo.errors import (
    BrevoError,
    DocumentNotFound,
    DuplicateParameter,
    InvalidParameter,
    MethodNotAllowed,
    MissingParameter,
    OutOfRange,
    ProcessNotFound,
)
from airflow_provider_customerio.sandbox.brevo.models import (
    ACCOUNT_EMAIL,
    ATTRIBUTE_CATEGORIES,
    ATTRIBUTE_TYPES,
    DATE_RE,
    DUPLICATE_NAMES,
    EVENT_NAME_RE,
    FILTER_RE,
    IDENTIFIER_TYPES,
    IDENTITY_ATTRS,
    IMPORT_COUNT_KEYS,
    MAX_BATCH_EVENTS,
    MAX_BATCH_EVENTS_BYTES,
    MAX_EVENT_PROPERTIES_BYTES,
    MAX_IMPORT_BYTES,
    MAX_OBJECT_BODY_BYTES,
    MAX_OBJECT_RECORDS,
    NOTIFY_PROCESS_S,
    OBJECT_TYPE_RE,
    PHONE_IDENTITIES,
    RUNNING,
    SEED_ATTRIBUTES,
    SEED_LISTS,
    SEED_OBJECT_TYPES,
    STANDARD_ATTRIBUTES,
    Attribute,
    Contact,
    ContactList,
    ObjectRecord,
    ObjectType,
    Process,
    is_number,
    is_valid_email,
    iso_ms,
    json_size,
    parse_datetime_ms,
    phone_key,
)
from airflow_provider_customerio.sandbox.clock import SandboxClock
from airflow_provider_customerio.sandbox.core import STATE_KINDS, FaultInjector
from airflow_provider_customerio.sandbox.notify import Notifier, valid_notify_url

_CLEAR = object()  # sentinel: the caller asked to empty an attribute
_T = TypeVar("_T")


def _locked(fn: Callable[..., _T]) -> Callable[..., _T]:
    @functools.wraps(fn)
    def wrapper(self: BrevoState, *args: Any, **kwargs: Any) -> _T:
        with self.lock:
            result = fn(self, *args, **kwargs)
            if self._dirty:
                self._publish_dirty()
            return result

    return wrapper


# --------------------------------------------------------------------------------------------------------------
# The state
# --------------------------------------------------------------------------------------------------------------


class BrevoState:
    """The whole emulated Brevo account: contacts, attributes, lists, folders, processes, events, objects.

    :param api_key: the only accepted ``api-key`` header value.
    :param clock: optional callable returning epoch milliseconds (tests may inject one); defaults to wall time.
    :param faults: the fault injector whose Brevo processing rules (``import_failure``, ``events_partial_207``, …)
        this state takes (the sandbox shares its one injector); a private one when standalone.
    :param sandbox_clock: the clock background processes and read lag run on (the sandbox's one clock).

    Thread-safe: every public method takes ``self.lock`` (the server runs handlers on one event loop, but the
    control plane and the core's reset may call from other threads).
    """

    def __init__(
        self,
        api_key: str,
        *,
        clock: Callable[[], int] | None = None,
        faults: FaultInjector | None = None,
        sandbox_clock: SandboxClock | None = None,
    ) -> None:
        self.api_key = api_key
        self.lock = threading.RLock()
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.faults = faults if faults is not None else FaultInjector()
        self.sandbox_clock = sandbox_clock if sandbox_clock is not None else SandboxClock()
        self._dirty: set[int] = set()
        #: calls the notifyUrl of ended processes, and runs due work while a notified process waits
        self.notifier = Notifier(tick=self.run_due)
        self.reset()

    # ---------------------------------------------------------------------------------------------- lifecycle

    @_locked
    def reset(self) -> None:
        """Empty the account. Built-in attributes (EMAIL, SMS, …) exist in every Brevo account, so they stay."""
        self._last_ms = 0
        self.version = 0
        self.attributes: dict[str, Attribute] = {}
        for name, atype in STANDARD_ATTRIBUTES:
            self.attributes[name] = Attribute(name, "normal", atype)
        self.contacts: dict[int, Contact] = {}
        self.by_email: dict[str, int] = {}
        self.by_ident: dict[str, dict[str, int]] = {name: {} for name in IDENTITY_ATTRS}
        self.next_contact_id = 1
        self.folders: dict[int, str] = {}
        self.next_folder_id = 1
        self.lists: dict[int, ContactList] = {}
        self.next_list_id = 1
        self.processes: dict[int, Process] = {}
        self.next_process_id = 1
        self.events: list[dict[str, Any]] = []
        self.object_types: dict[str, ObjectType] = {}
        self.faults.clear_kinds(STATE_KINDS)
        self.notifier.clear()
        #: ``rate_per_s`` None: a process completes after ``polls_to_complete`` polls (the default). A number: it
        #: runs in the background on the sandbox clock, ``queue_s`` queued then ``rows / rate_per_s`` seconds.
        self.process_settings: dict[str, Any] = {
            "polls_to_complete": 2,
            "running_status": "processing",
            "rate_per_s": None,
            "queue_s": 0.0,
        }
        #: Read lag in sandbox-clock seconds: ``events`` (GET /events), ``contacts`` (contact reads).
        self.lag: dict[str, float] = {"events": 0.0, "contacts": 0.0}
        self._published: dict[int, tuple[dict[str, Any], int, int]] = {}  # cid -> (json, created, modified)
        self._pending_reads: list[tuple[float, int, tuple[dict[str, Any], int, int] | None]] = []
        self._dirty = set()
        self._background = 0  # processes running in the background (processing-rate mode)
        self._query_cache: tuple[Any, list[int]] | None = None

    @_locked
    def seed(self, rng: random.Random) -> None:
        """Create the standard account fixture: attributes, folder 1, lists 12-14, object type ``companies``.

        Idempotent; creates no contacts (see :meth:`seed_contacts`). ``rng`` is accepted for interface symmetry.
        """
        del rng
        now = self._now()
        for name, atype in (*STANDARD_ATTRIBUTES, *SEED_ATTRIBUTES):
            self.attributes.setdefault(name, Attribute(name, "normal", atype))
        self.folders.setdefault(1, "Customer.io sync")
        self.next_folder_id = max(self.next_folder_id, 2)
        for lid, name in SEED_LISTS:
            if lid not in self.lists:
                self.lists[lid] = ContactList(lid, name, 1, now)
        self.next_list_id = max(self.next_list_id, max(self.lists) + 1)
        for otype, attrs in SEED_OBJECT_TYPES.items():
            self.object_types.setdefault(otype, ObjectType(otype, attrs))
        self._bump()

    @_locked
    def seed_contacts(self, rng: random.Random, n: int) -> list[int]:
        """Create ``n`` deterministic Brevo-side contacts (for reverse-sync tests); returns their ids.

        Shape: ~90% have an email (some upper-case, to exercise case-insensitivity), the rest only an SMS; ~60% carry
        EXT_ID, ~30% carry CIO_ID; all are in list 12, ~70% in 13, ~10% in 14 (those are email-blacklisted).
        createdAt/modifiedAt are spread over the past days, oldest first. Call :meth:`seed` first.
        """
        if n < 0:
            raise InvalidParameter("n must be >= 0")
        first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Katherine", "Ken"]
        last = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Johnson"]
        plans = ["free", "starter", "pro", "enterprise"]
        stages = ["lead", "trial", "customer", "churned"]
        now = self._now()
        start = now - n * 1000 - 86_400_000
        ids: list[int] = []
        for i in range(n):
            cid = self.next_contact_id
            self.next_contact_id += 1
            contact = Contact(cid, start + i * 1000)
            contact.modified = contact.created + rng.randrange(0, 500)
            fn, ln = rng.choice(first), rng.choice(last)
            attrs: dict[str, Any] = {"FIRSTNAME": fn, "LASTNAME": ln}
            if rng.random() < 0.9:
                email = f"{fn}.{ln}.{cid}@brevo-seed.example".lower()
                if rng.random() < 0.1:
                    email = email.upper()
                contact.email = email
                self.by_email[email.lower()] = cid
            else:
                attrs["SMS"] = f"+3361{cid:07d}"
                self.by_ident["SMS"][phone_key(attrs["SMS"]) or ""] = cid
            if rng.random() < 0.6:
                attrs["EXT_ID"] = f"brevo-ext-{cid}"
                self.by_ident["EXT_ID"][attrs["EXT_ID"]] = cid
            if rng.random() < 0.3:
                attrs["CIO_ID"] = f"cio_{rng.randrange(16**10):010x}"
            attrs["PLAN_NAME"] = rng.choice(plans)
            attrs["LIFECYCLE_STAGE"] = rng.choice(stages)
            attrs["MONTHLY_REVENUE"] = round(rng.uniform(0, 500), 2)
            attrs["SIGNUP_DATE"] = iso_ms(contact.created - rng.randrange(0, 400) * 86_400_000)[:10]
            contact.attrs = {k: v for k, v in attrs.items() if k in self.attributes}
            lists = [12] + ([13] if rng.random() < 0.7 else []) + ([14] if rng.random() < 0.1 else [])
            for lid in lists:
                if lid in self.lists:
                    contact.list_ids.add(lid)
                    self.lists[lid].members.add(cid)
            contact.email_bl = 14 in contact.list_ids
            self.contacts[cid] = contact
            ids.append(cid)
        self._bump()
        return ids

    # ---------------------------------------------------------------------------------------------- internals

    def _now(self) -> int:
        now = max(int(self._clock()), self._last_ms)
        self._last_ms = now
        return now

    def _bump(self) -> None:
        self.version += 1
        self._query_cache = None

    def _touch(self, contact: Contact) -> None:
        contact.modified = self._now()
        if self.lag["contacts"]:
            self._dirty.add(contact.id)

    def take_fault(self, kind: str) -> bool:
        """Consume one injected Brevo processing fault of ``kind`` if a rule for it fires (by count or rate)."""
        with self.lock:
            return self.faults.take("brevo", kind)

    # ------------------------------------------------------------------------------------------ read lag

    @_locked
    def set_lag(self, *, events: float, contacts: float) -> None:
        """Set the read lag. Turning contact lag on publishes the current contacts as the readable view."""
        if contacts and not self.lag["contacts"]:
            self._published = {c.id: self._snapshot(c) for c in self.contacts.values()}
            self._pending_reads = []
        self.lag = {"events": float(events), "contacts": float(contacts)}

    @staticmethod
    def _snapshot(contact: Contact) -> tuple[dict[str, Any], int, int]:
        return contact.to_json(), contact.created, contact.modified

    def _publish_dirty(self) -> None:
        """End of a write: the contacts it touched become readable ``lag`` seconds from now (as they are now)."""
        due = self.sandbox_clock.now() + self.lag["contacts"]
        for cid in sorted(self._dirty):
            contact = self.contacts.get(cid)
            self._pending_reads.append((due, cid, self._snapshot(contact) if contact is not None else None))
        self._dirty = set()

    def _readable(self) -> dict[int, tuple[dict[str, Any], int, int]]:
        """The contacts a read sees under lag: writes older than the lag applied, newer ones not yet."""
        now = self.sandbox_clock.now()
        keep = []
        for due, cid, snap in self._pending_reads:
            if due <= now:
                if snap is None:
                    self._published.pop(cid, None)
                else:
                    self._published[cid] = snap
            else:
                keep.append((due, cid, snap))
        self._pending_reads = keep
        return self._published

    def _list_or_404(self, lid: Any) -> ContactList:
        try:
            key = int(lid)
        except (TypeError, ValueError):
            raise InvalidParameter(f"listId must be an integer, got {lid!r}") from None
        if key not in self.lists:
            raise DocumentNotFound("List ID not found")
        return self.lists[key]

    def _check_list_ids(self, value: Any, field: str) -> list[int]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise InvalidParameter(f"{field} must be an array of integer list ids")
        missing = [v for v in value if v not in self.lists]
        if missing:
            raise InvalidParameter(f"{field}: list id(s) {missing} do not exist; create them with POST /contacts/lists")
        return list(value)

    def _coerce(self, attr: Attribute, value: Any, *, from_csv: bool) -> tuple[bool, Any]:
        """Return (accepted, stored value). Mismatched types are ignored silently, as Brevo documents.

        https://developers.brevo.com/reference/create-contact
        """
        if value is None or value == "":
            return True, _CLEAR
        atype = attr.type or "text"
        if atype in ("text", "id", "user"):
            if isinstance(value, str):
                return True, value
            if atype != "text" and is_number(value):
                return True, value
            return False, None
        if atype == "float":
            if is_number(value):
                return True, value
            if from_csv and isinstance(value, str):
                try:
                    number = float(value.replace(",", "."))
                except ValueError:
                    return False, None
                return True, int(number) if number.is_integer() and "." not in value else number
            return False, None
        if atype == "boolean":
            if isinstance(value, bool):
                return True, value
            text = value.strip().lower() if from_csv and isinstance(value, str) else None
            if text in ("true", "false", "1", "0", "yes", "no"):
                return True, text in ("true", "1", "yes")
            return False, None
        if atype == "date":
            # Stored and returned as YYYY-MM-DD; an ISO date-time is cut to its date. Other formats are ignored
            # (docs: mismatched values ignored; one field report of a 400 for dd.mm.yyyy is not emulated, see
            # docs/vendor-behaviour.md).
            if isinstance(value, str) and DATE_RE.match(value):
                try:
                    return True, dt.date.fromisoformat(value[:10]).isoformat()
                except ValueError:
                    return False, None
            return False, None
        if atype == "category":
            for option in attr.enumeration or []:
                if value == option.get("value") or value == option.get("label"):
                    return True, option.get("value")
            return False, None
        if atype == "multiple-choice":
            if isinstance(value, list) and all(isinstance(v, str) and v in (attr.options or []) for v in value):
                return True, list(value)
            return False, None
        return False, None

    def _upper_attrs(self, attributes: Any, field: str = "attributes") -> dict[str, Any]:
        if attributes is None:
            return {}
        if not isinstance(attributes, dict):
            raise InvalidParameter(f"{field} must be an object of ATTRIBUTE_NAME: value")
        return {str(k).upper(): v for k, v in attributes.items()}

    def _identities_from(
        self, email: Any, ext_id: Any, attrs: dict[str, Any]
    ) -> tuple[dict[str, tuple[str, str]], str | None]:
        """Extract identities as {ATTR: (stored value, index key)}; returns (identities, error reason)."""
        identities: dict[str, tuple[str, str]] = {}
        if email not in (None, ""):
            if not is_valid_email(email):
                return identities, "invalid_email"
            identities["EMAIL"] = (email, email.lower())
        if ext_id not in (None, ""):
            if not isinstance(ext_id, str):
                return identities, "invalid_ext_id"
            identities["EXT_ID"] = (ext_id, ext_id)
        for name in PHONE_IDENTITIES:
            value = attrs.get(name)
            if value in (None, ""):
                continue
            key = phone_key(value) if isinstance(value, str) else None
            if key is None:
                return identities, f"invalid_{name.lower()}"
            identities[name] = (value, key)
        return identities, None

    def _owner(self, name: str, key: str) -> int | None:
        if name == "EMAIL":
            return self.by_email.get(key)
        return self.by_ident[name].get(key)

    def _conflicts(self, identities: dict[str, tuple[str, str]], own_id: int | None) -> dict[str, int]:
        found: dict[str, int] = {}
        for name, (_, key) in identities.items():
            owner = self._owner(name, key)
            if owner is not None and owner != own_id:
                found[name] = owner
        return found

    def _set_identity(self, contact: Contact, name: str, value: str | None, key: str | None) -> None:
        if value is not None and key is not None and self._owner(name, key) == contact.id:
            return  # same identifier (case/format-insensitive): keep the stored spelling
        if name == "EMAIL":
            if contact.email is not None:
                self.by_email.pop(contact.email.lower(), None)
            contact.email = value
            if value is not None and key is not None:
                self.by_email[key] = contact.id
            return
        old = contact.attrs.get(name)
        if old is not None:
            old_key = old if name == "EXT_ID" else phone_key(old)
            if old_key is not None and self.by_ident[name].get(old_key) == contact.id:
                del self.by_ident[name][old_key]
        if value is None:
            contact.attrs.pop(name, None)
        else:
            contact.attrs[name] = value
            if key is not None:
                self.by_ident[name][key] = contact.id

    def _apply_attrs(self, contact: Contact, attrs: dict[str, Any], *, from_csv: bool, empty_clears: bool) -> None:
        for name, value in attrs.items():
            if name == "EMAIL" or name in IDENTITY_ATTRS:
                continue  # identities are handled by _set_identity
            attr = self.attributes.get(name)
            if attr is None:
                # unknown attribute keys are ignored silently (https://developers.brevo.com/reference/import-contacts)
                continue
            ok, stored = self._coerce(attr, value, from_csv=from_csv)
            if not ok:
                continue
            if stored is _CLEAR:
                if empty_clears:
                    contact.attrs.pop(name, None)
            else:
                contact.attrs[name] = stored

    def _new_contact(self) -> Contact:
        contact = Contact(self.next_contact_id, self._now())
        self.next_contact_id += 1
        self.contacts[contact.id] = contact
        return contact

    def _set_lists(self, contact: Contact, add: Iterable[int] = (), remove: Iterable[int] = ()) -> None:
        for lid in add:
            contact.list_ids.add(lid)
            self.lists[lid].members.add(contact.id)
        for lid in remove:
            contact.list_ids.discard(lid)
            if lid in self.lists:
                self.lists[lid].members.discard(contact.id)

    @staticmethod
    def _duplicate_error(verb: str, names: Iterable[str]) -> DuplicateParameter:
        dup = [DUPLICATE_NAMES[n] for n in names]
        # Observed body (PipedreamHQ/pipedream#15034). Brevo sometimes uses invalid_parameter for the same
        # situation (docs/vendor-behaviour.md); the sandbox always answers duplicate_parameter; clients accept both.
        return DuplicateParameter(
            f"Unable to {verb} contact, {' and '.join(dup)} is already associated with another Contact",
            metadata={"duplicate_identifiers": dup},
        )

    # ---------------------------------------------------------------------------------------------- contacts

    def resolve(self, identifier: str, identifier_type: str | None, *, for_get: bool = False) -> Contact:
        """Find a contact by path identifier, or raise DocumentNotFound / InvalidParameter.

        Identifier rules: https://developers.brevo.com/reference/update-contact
        """
        with self.lock:
            ident = identifier.strip()
            itype = identifier_type
            if itype is not None and itype not in IDENTIFIER_TYPES:
                raise InvalidParameter(f"identifierType must be one of {', '.join(IDENTIFIER_TYPES)}; got {itype!r}")
            if itype is None:
                if ident.isdigit():
                    itype = "contact_id"
                elif "@" in ident:
                    itype = "email_id"
                elif for_get and phone_key(ident) is not None:
                    # GET also auto-detects SMS (https://developers.brevo.com/reference/get-contact-info)
                    itype = "phone_id"
                else:
                    raise InvalidParameter(
                        f"Invalid identifier {identifier!r}: without identifierType only an email or a numeric contact "
                        "id is recognised; pass identifierType=ext_id|phone_id|whatsapp_id|landline_number_id"
                    )
            cid: int | None
            if itype == "contact_id":
                if not ident.isdigit():
                    raise InvalidParameter(f"identifier {identifier!r} is not a numeric contact id")
                cid = int(ident) if int(ident) in self.contacts else None
            elif itype == "email_id":
                cid = self.by_email.get(ident.lower())
            elif itype == "ext_id":
                cid = self.by_ident["EXT_ID"].get(ident)
            else:
                name = {"phone_id": "SMS", "whatsapp_id": "WHATSAPP", "landline_number_id": "LANDLINE_NUMBER"}[itype]
                key = phone_key(ident)
                cid = self.by_ident[name].get(key) if key else None
            if cid is None:
                raise DocumentNotFound("Contact does not exist")
            return self.contacts[cid]

    @_locked
    def create_contact(self, body: dict[str, Any]) -> int | None:
        """``POST /contacts``: returns the new id (201) or None when an existing contact was updated (204)."""
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        attrs = self._upper_attrs(body.get("attributes"))
        email = body.get("email", attrs.get("EMAIL"))
        if email is not None and not isinstance(email, str):
            raise InvalidParameter("email must be a string")
        ext_id = body.get("ext_id", attrs.get("EXT_ID"))
        if ext_id is not None and not isinstance(ext_id, str):
            raise InvalidParameter("ext_id must be a string")
        update_enabled = body.get("updateEnabled", False)
        if not isinstance(update_enabled, bool):
            raise InvalidParameter("updateEnabled must be a boolean")
        list_ids = self._check_list_ids(body.get("listIds"), "listIds")
        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in body and not isinstance(body[flag], bool):
                raise InvalidParameter(f"{flag} must be a boolean")
        identities, problem = self._identities_from(email, ext_id, attrs)
        if problem == "invalid_email":
            raise InvalidParameter("Invalid email address")
        if problem:
            raise InvalidParameter(f"Invalid phone number in attributes.{problem[8:].upper()}")
        if not any(name in identities for name in ("EMAIL", "EXT_ID", "SMS")):
            # Observed message (docs/vendor-behaviour.md); ext_id is accepted too since the 2024 API.
            raise MissingParameter("An email or SMS phone number is mandatory to create a new contact.")
        owners = self._conflicts(identities, None)
        if owners and not update_enabled:
            raise self._duplicate_error("create", owners)
        if owners:
            distinct = set(owners.values())
            if len(distinct) > 1:
                # identifiers belong to two different contacts; without forceMerge Brevo refuses
                # (https://developers.brevo.com/reference/create-contact)
                first = min(distinct)
                raise self._duplicate_error("update", [n for n, o in owners.items() if o != first])
            contact = self.contacts[distinct.pop()]
            created = False
        else:
            contact = self._new_contact()
            created = True
        for name, (value, key) in identities.items():
            self._set_identity(contact, name, value, key)
        self._apply_attrs(contact, attrs, from_csv=False, empty_clears=True)
        if "emailBlacklisted" in body:
            contact.email_bl = body["emailBlacklisted"]
        if "smsBlacklisted" in body:
            contact.sms_bl = body["smsBlacklisted"]
        if "listIds" in body:
            if created:
                self._set_lists(contact, add=list_ids)
            else:
                # Field-observed (sendinblue/APIv3-java-library#11, docs/vendor-behaviour.md): createContact with
                # updateEnabled REPLACES listIds instead of adding to them. The spec says "add"; we follow the field.
                stale = [lid for lid in contact.list_ids if lid not in list_ids]
                self._set_lists(contact, add=list_ids, remove=stale)
        self._touch(contact)
        self._bump()
        return contact.id if created else None

    @_locked
    def update_contact(self, identifier: str, identifier_type: str | None, body: dict[str, Any]) -> None:
        """``PUT /contacts/{identifier}`` (204)."""
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        contact = self.resolve(identifier, identifier_type)
        attrs = self._upper_attrs(body.get("attributes"))
        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in body and not isinstance(body[flag], bool):
                raise InvalidParameter(f"{flag} must be a boolean")
        add = self._check_list_ids(body.get("listIds"), "listIds")
        remove_raw = body.get("unlinkListIds")
        if remove_raw is not None and (
            not isinstance(remove_raw, list)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in remove_raw)
        ):
            raise InvalidParameter("unlinkListIds must be an array of integer list ids")
        new_email = attrs.get("EMAIL") if "EMAIL" in attrs else None
        ext_id = body.get("ext_id", attrs.get("EXT_ID"))
        if ext_id is not None and not isinstance(ext_id, (str,)):
            raise InvalidParameter("ext_id must be a string")
        identities, problem = self._identities_from(new_email, ext_id, attrs)
        if problem == "invalid_email":
            raise InvalidParameter("Invalid email address in attributes.EMAIL")
        if problem:
            raise InvalidParameter(f"Invalid phone number in attributes.{problem[8:].upper()}")
        owners = self._conflicts(identities, contact.id)
        if owners:
            raise self._duplicate_error("update", owners)
        for name, (value, key) in identities.items():
            self._set_identity(contact, name, value, key)
        for name in ("EMAIL", *IDENTITY_ATTRS):
            # an explicit empty value ("" or null) clears that identifier
            if name == "EXT_ID" and "ext_id" in body:
                provided, raw = True, body["ext_id"]
            else:
                provided, raw = name in attrs, attrs.get(name)
            if provided and raw in ("", None):
                self._set_identity(contact, name, None, None)
        self._apply_attrs(contact, attrs, from_csv=False, empty_clears=True)
        if "emailBlacklisted" in body:
            contact.email_bl = body["emailBlacklisted"]
        if "smsBlacklisted" in body:
            contact.sms_bl = body["smsBlacklisted"]
        self._set_lists(contact, add=add, remove=remove_raw or [])
        self._touch(contact)
        self._bump()

    @_locked
    def delete_contact(self, identifier: str, identifier_type: str | None) -> None:
        """``DELETE /contacts/{identifier}`` (204)."""
        contact = self.resolve(identifier, identifier_type)
        if contact.email is not None and contact.email.lower() == ACCOUNT_EMAIL:
            raise MethodNotAllowed("The account owner's own contact cannot be deleted")  # see ACCOUNT_EMAIL
        for name in ("EMAIL", *IDENTITY_ATTRS):
            self._set_identity(contact, name, None, None)
        self._set_lists(contact, remove=list(contact.list_ids))
        del self.contacts[contact.id]
        if self.lag["contacts"]:
            self._dirty.add(contact.id)
        self._bump()

    @_locked
    def get_contact(self, identifier: str, identifier_type: str | None) -> dict[str, Any]:
        """``GET /contacts/{identifier}``: contact + (empty) campaign statistics (as of ``lag`` seconds ago)."""
        body = self.resolve(identifier, identifier_type, for_get=True).to_json()
        if self.lag["contacts"]:
            snap = self._readable().get(body["id"])
            if snap is None:
                raise DocumentNotFound("Contact does not exist")
            body = dict(snap[0])
        body["statistics"] = {
            "messagesSent": [],
            "hardBounces": [],
            "softBounces": [],
            "complaints": [],
            "unsubscriptions": {"userUnsubscription": [], "adminUnsubscription": []},
            "opened": [],
            "clicked": [],
            "transacAttributes": [],
            "delivered": [],
        }
        return body

    def _filter_pred(self, expr: str) -> Callable[[Contact], bool]:
        match = FILTER_RE.match(expr)
        if not match:
            raise InvalidParameter('filter supports only equals(ATTRIBUTE,value), e.g. equals(FIRSTNAME,"Antoine")')
        name, raw = match.group(1).upper(), match.group(2)
        value: Any
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            value = raw[1:-1]
        elif raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            try:
                value = float(raw) if "." in raw else int(raw)
            except ValueError:
                value = raw
        if name == "EMAIL":
            return lambda c: c.email is not None and isinstance(value, str) and c.email.lower() == value.lower()
        if name not in self.attributes:
            raise InvalidParameter(f"filter: attribute {name} does not exist")
        return lambda c: c.attrs.get(name) == value

    @_locked
    def query_contacts(
        self,
        *,
        limit: int,
        offset: int,
        sort: str,
        modified_since: int | None = None,
        created_since: int | None = None,
        list_ids: list[int] | None = None,
        ids: list[int] | None = None,
        filter_expr: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """``GET /contacts`` and ``GET /contacts/lists/{id}/contacts``: one page and the total count.

        Ordered by creation (id), ``desc`` by default. Results of one filter are cached until the next write, so that
        paging through 100k contacts does not rescan them for every page.
        """
        if self.lag["contacts"]:
            return self._query_lagged(limit, offset, sort, modified_since, created_since, list_ids, ids, filter_expr)
        key = (self.version, sort, modified_since, created_since, tuple(list_ids or ()), tuple(ids or ()), filter_expr)
        if self._query_cache is not None and self._query_cache[0] == key:
            matching = self._query_cache[1]
        else:
            pred = self._filter_pred(filter_expr) if filter_expr else None
            source: Iterable[int]
            if ids:
                source = sorted(i for i in set(ids) if i in self.contacts)
            elif list_ids:
                members: set[int] = set()
                for lid in list_ids:
                    members |= self.lists[lid].members
                source = sorted(members)
            else:
                source = self.contacts.keys()  # insertion order == id order
            matching = []
            for cid in source:
                contact = self.contacts[cid]
                # Brevo: "modified after" / "created after" the given date-time (strictly later).
                if modified_since is not None and contact.modified <= modified_since:
                    continue
                if created_since is not None and contact.created <= created_since:
                    continue
                if pred is not None and not pred(contact):
                    continue
                matching.append(cid)
            if sort == "desc":
                matching.reverse()
            self._query_cache = (key, matching)
        page = [self.contacts[cid].to_json() for cid in matching[offset : offset + limit]]
        return page, len(matching)

    def _query_lagged(
        self,
        limit: int,
        offset: int,
        sort: str,
        modified_since: int | None,
        created_since: int | None,
        list_ids: list[int] | None,
        ids: list[int] | None,
        filter_expr: str | None,
    ) -> tuple[list[dict[str, Any]], int]:
        """:meth:`query_contacts` over the lagging view (no cache: the view changes with the clock)."""
        pred = self._filter_pred(filter_expr) if filter_expr else None
        view = self._readable()
        matching = []
        for cid in sorted(view):
            body, created, modified = view[cid]
            if ids and cid not in ids:
                continue
            if list_ids and not set(body["listIds"]) & set(list_ids):
                continue
            if modified_since is not None and modified <= modified_since:
                continue
            if created_since is not None and created <= created_since:
                continue
            if pred is not None and (cid not in self.contacts or not pred(self.contacts[cid])):
                continue
            matching.append(cid)
        if sort == "desc":
            matching.reverse()
        return [dict(view[cid][0]) for cid in matching[offset : offset + limit]], len(matching)

    @_locked
    def all_contacts(self) -> list[dict[str, Any]]:
        """Every contact (control plane), oldest first."""
        return [c.to_json() for c in self.contacts.values()]

    # ---------------------------------------------------------------------------------------------- attributes

    @_locked
    def list_attributes(self) -> list[dict[str, Any]]:
        """``GET /contacts/attributes`` items."""
        return [a.to_json() for a in self.attributes.values()]

    @_locked
    def create_attribute(self, category: str, name: str, body: dict[str, Any]) -> None:
        """``POST /contacts/attributes/{category}/{name}`` (201, no body)."""
        if category not in ATTRIBUTE_CATEGORIES:
            raise InvalidParameter(f"attributeCategory must be one of {', '.join(ATTRIBUTE_CATEGORIES)}")
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        upper = name.strip().upper()
        if not upper or not re.match(r"^[A-Z0-9_]+$", upper):
            raise InvalidParameter(f"Invalid attribute name {name!r}: use letters, digits and underscores")
        if upper in self.attributes:
            raise InvalidParameter(f"Attribute {upper} already exists")
        atype = body.get("type")
        if category == "category":
            atype = "category"
            if not isinstance(body.get("enumeration"), list) or not body["enumeration"]:
                raise MissingParameter("enumeration is required for a category attribute")
        elif category in ("calculated", "global"):
            if not isinstance(body.get("value"), str):
                raise MissingParameter(f"value (formula) is required for a {category} attribute")
            atype = None
        else:
            atype = atype or "text"
            if atype not in ATTRIBUTE_TYPES:
                raise InvalidParameter(f"type must be one of {', '.join(ATTRIBUTE_TYPES)}; got {atype!r}")
            if atype == "id" and category != "transactional":
                raise InvalidParameter("type id is only allowed for transactional attributes")
            if atype in ("multiple-choice", "user", "boolean") and category != "normal":
                raise InvalidParameter(f"type {atype} is only allowed for normal attributes")
            if atype == "category":
                raise InvalidParameter("type category is only allowed with attributeCategory=category")
        options = body.get("multiCategoryOptions") if atype == "multiple-choice" else None
        if atype == "multiple-choice" and (not isinstance(options, list) or not options):
            raise MissingParameter("multiCategoryOptions is required for a multiple-choice attribute")
        self.attributes[upper] = Attribute(upper, category, atype, body.get("enumeration"), options)
        self._bump()

    # ---------------------------------------------------------------------------------------------- folders/lists

    @_locked
    def create_folder(self, name: Any) -> int:
        """``POST /contacts/folders`` → id."""
        if not isinstance(name, str) or not name.strip():
            raise MissingParameter("name is required")
        fid = self.next_folder_id
        self.next_folder_id += 1
        self.folders[fid] = name
        self._bump()
        return fid

    def _counts(self, members: set[int]) -> dict[str, int]:
        blacklisted = sum(1 for cid in members if self.contacts[cid].email_bl)
        return {
            "totalBlacklisted": blacklisted,
            "totalSubscribers": len(members) - blacklisted,
            "uniqueSubscribers": len(members),
        }

    @_locked
    def folders_page(self, limit: int, offset: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        """``GET /contacts/folders`` page and count."""
        ids = sorted(self.folders, reverse=sort == "desc")
        out = []
        for fid in ids[offset : offset + limit]:
            members: set[int] = set()
            for lst in self.lists.values():
                if lst.folder_id == fid:
                    members |= lst.members
            out.append({"id": fid, "name": self.folders[fid], **self._counts(members)})
        return out, len(ids)

    @_locked
    def create_list(self, name: Any, folder_id: Any) -> int:
        """``POST /contacts/lists`` → id. Duplicate names are allowed (callers must look lists up by name)."""
        if not isinstance(name, str) or not name.strip():
            raise MissingParameter("name is required")
        if folder_id is None:
            raise MissingParameter("folderId is required")
        if not isinstance(folder_id, int) or isinstance(folder_id, bool) or folder_id not in self.folders:
            raise InvalidParameter(f"folderId {folder_id!r} does not exist; create it with POST /contacts/folders")
        lid = self.next_list_id
        self.next_list_id += 1
        self.lists[lid] = ContactList(lid, name, folder_id, self._now())
        self._bump()
        return lid

    def _list_json(self, lst: ContactList) -> dict[str, Any]:
        return {"id": lst.id, "name": lst.name, **self._counts(lst.members), "folderId": lst.folder_id}

    @_locked
    def lists_page(self, limit: int, offset: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        """``GET /contacts/lists`` page and count."""
        ids = sorted(self.lists, reverse=sort == "desc")
        return [self._list_json(self.lists[lid]) for lid in ids[offset : offset + limit]], len(ids)

    @_locked
    def get_list(self, lid: Any) -> dict[str, Any]:
        """``GET /contacts/lists/{id}``."""
        lst = self._list_or_404(lid)
        body = self._list_json(lst)
        body.update(createdAt=iso_ms(lst.created), dynamicList=False, campaignStats=[])
        return body

    @_locked
    def list_id_checked(self, lid: Any) -> int:
        """Return the list id or raise 404 (for ``GET /contacts/lists/{id}/contacts``)."""
        return self._list_or_404(lid).id

    @_locked
    def change_list_members(self, lid: Any, body: Any, *, add: bool) -> dict[str, Any]:
        """``POST /contacts/lists/{id}/contacts/add|remove`` → ``{"contacts": {"success", "failure"}}``."""
        lst = self._list_or_404(lid)
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        if not add and body.get("all") is True:
            # "all": true runs as a background process in Brevo; emulated synchronously, reported with a processId.
            members = list(lst.members)
            for member_id in members:
                self._set_lists(self.contacts[member_id], remove=[lst.id])
                self._touch(self.contacts[member_id])
            # ⚠ the spec's process-name enum has no value for this background job; LIST_EXPORT is the nearest.
            proc = self._new_process("LIST_EXPORT", "list_remove_all", {})
            proc.status, proc.completed, proc.payload = "completed", self._now(), None
            self._bump()
            return {"contacts": {"success": [], "failure": [], "total": len(members), "processId": proc.id}}
        given = [k for k in ("emails", "ids", "extIds") if k in body]
        if len(given) != 1:
            raise InvalidParameter("Pass exactly one of emails, ids or extIds")
        field = given[0]
        items = body[field]
        if not isinstance(items, list):
            raise InvalidParameter(f"{field} must be an array")
        if not 1 <= len(items) <= 150:
            raise OutOfRange(
                f"{field} must contain between 1 and 150 items (got {len(items)}); use /contacts/import for more"
            )
        success: list[Any] = []
        failure: list[Any] = []
        for item in items:
            cid: int | None = None
            if field == "emails" and isinstance(item, str):
                cid = self.by_email.get(item.lower())
            elif field == "ids" and isinstance(item, int) and not isinstance(item, bool):
                cid = item if item in self.contacts else None
            elif field == "extIds" and isinstance(item, str):
                cid = self.by_ident["EXT_ID"].get(item)
            if cid is None or (cid in lst.members) == add:
                failure.append(item)
                continue
            contact = self.contacts[cid]
            if add:
                self._set_lists(contact, add=[lst.id])
            else:
                self._set_lists(contact, remove=[lst.id])
            # Field-observed (sendinblue/APIv3-php-library#49): a list add/remove bumps the contact's modifiedAt.
            self._touch(contact)
            success.append(item)
        if not success:
            raise InvalidParameter("Contact already in list and/or does not exist")
        self._bump()
        return {"contacts": {"success": success, "failure": failure}}

    # ---------------------------------------------------------------------------------------------- processes

    def _new_process(self, name: str, kind: str, payload: dict[str, Any]) -> Process:
        proc = Process(self.next_process_id, name, kind, payload, self._now())
        self.next_process_id += 1
        self.processes[proc.id] = proc
        proc.will_fail = kind == "import" and self.take_fault("import_failure")
        proc.partial = kind == "import" and not proc.will_fail and self.take_fault("import_partial")
        proc.stuck = self.take_fault("process_stuck")
        proc.notify_url = payload.pop("notify_url", None)
        rate = self.process_settings["rate_per_s"]
        if rate or proc.notify_url:
            size = len(payload.get("rows") or payload.get("records") or ())
            proc.starts_at = self.sandbox_clock.now() + float(self.process_settings["queue_s"])
            # Poll-driven mode ends a process on polls; one sent with a notifyUrl is not polled, so it ends on its
            # own NOTIFY_PROCESS_S after it starts.
            proc.due_at = proc.starts_at + (size / float(rate) if rate else NOTIFY_PROCESS_S)
            self._background += 1
        if proc.notify_url:
            self.notifier.expect()
        return proc

    @_locked
    def run_due(self) -> list[int]:
        """Complete the background processes whose time has come on the sandbox clock (processing-rate mode)."""
        if not self._background:
            return []  # the default (poll-driven) sandbox: nothing runs in the background
        now = self.sandbox_clock.now()
        due = [
            p
            for p in self.processes.values()
            if p.due_at is not None and p.due_at <= now and not p.stuck and p.status in RUNNING
        ]
        for proc in sorted(due, key=lambda p: (p.due_at or 0.0, p.id)):
            self._complete(proc)
        self._background = sum(1 for p in self.processes.values() if p.due_at is not None and p.status in RUNNING)
        return [p.id for p in due]

    @_locked
    def set_process_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Control plane: ``polls_to_complete`` (>=1), ``running_status`` (``processing``|``in_process``), and the
        background mode: ``rate_per_s`` (rows per sandbox-clock second, or null for poll-driven) and ``queue_s``."""
        unknown = set(settings) - set(self.process_settings)
        if unknown:
            raise InvalidParameter(f"{sorted(unknown)[0]}: unknown setting; known: {', '.join(self.process_settings)}")
        polls = settings.get("polls_to_complete", self.process_settings["polls_to_complete"])
        status = settings.get("running_status", self.process_settings["running_status"])
        rate = settings.get("rate_per_s", self.process_settings["rate_per_s"])
        queue = settings.get("queue_s", self.process_settings["queue_s"])
        if not isinstance(polls, int) or isinstance(polls, bool) or polls < 1:
            raise InvalidParameter("polls_to_complete must be an integer >= 1")
        if status not in ("processing", "in_process"):
            raise InvalidParameter("running_status must be 'processing' or 'in_process'")
        if rate is not None and (not is_number(rate) or rate <= 0):
            raise InvalidParameter("rate_per_s must be a number of rows per second > 0, or null (poll-driven)")
        if not is_number(queue) or queue < 0:
            raise InvalidParameter("queue_s must be a number of seconds >= 0")
        self.process_settings = {
            "polls_to_complete": polls,
            "running_status": status,
            "rate_per_s": rate,
            "queue_s": float(queue),
        }
        return dict(self.process_settings)

    @_locked
    def poll_process(self, pid: Any) -> dict[str, Any]:
        """``GET /processes/{id}``: each poll advances queued → processing → completed (after N polls)."""
        try:
            key = int(pid)
        except (TypeError, ValueError):
            raise InvalidParameter(f"processId must be an integer, got {pid!r}") from None
        proc = self.processes.get(key)
        if proc is None:
            raise ProcessNotFound("processId is invalid")
        if proc.due_at is not None:  # background mode: the clock decides, polling does not
            proc.polls += 1
            self.run_due()
            if proc.status in RUNNING:
                started = proc.starts_at is not None and self.sandbox_clock.now() >= proc.starts_at
                proc.status = self.process_settings["running_status"] if started or proc.stuck else "queued"
            return proc.to_json()
        if proc.status in ("queued", "processing", "in_process"):
            proc.polls += 1
            needed = self.process_settings["polls_to_complete"]
            if proc.stuck or proc.polls < needed:
                # Status strings: the 2026 spec enum says "processing"; the old spec and SDK5 also know
                # "in_process" (docs/vendor-behaviour.md). Default: the 2026 spec; the control plane can switch it.
                running = self.process_settings["running_status"]
                proc.status = "queued" if (proc.polls == 1 and needed > 2 and not proc.stuck) else running
            else:
                self._complete(proc)
        return proc.to_json()

    @_locked
    def processes_page(self, limit: int, offset: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        """``GET /processes`` page and count (no polling side effect)."""
        ids = sorted(self.processes, reverse=sort == "desc")
        return [self.processes[pid].to_json() for pid in ids[offset : offset + limit]], len(ids)

    @_locked
    def process_control(self, pid: int) -> dict[str, Any]:
        """Control plane: a process with its sandbox details (rejected rows, …)."""
        proc = self.processes.get(pid)
        if proc is None:
            raise ProcessNotFound("processId is invalid")
        return proc.to_control_json()

    @_locked
    def complete_all_processes(self) -> list[int]:
        """Control plane: finish every pending process now (stuck ones too); returns their ids."""
        done = []
        for proc in self.processes.values():
            if proc.status in ("queued", "processing", "in_process"):
                self._complete(proc)
                done.append(proc.id)
        return done

    def _complete(self, proc: Process) -> None:
        self._finish(proc)
        if proc.notify_url:
            body = {"processId": proc.id, "status": proc.status, "name": proc.name}
            self.notifier.send(proc.notify_url, body)

    def _finish(self, proc: Process) -> None:
        proc.completed = self._now()
        payload, proc.payload = proc.payload, None
        if proc.will_fail:
            proc.status = "failed"
            proc.error = "Import failed: the file could not be processed, no contact was imported"
            return
        if proc.partial and proc.kind == "import" and payload is not None:
            rows = payload["rows"]
            done = len(rows) // 2
            self._apply_import(proc, dict(payload, rows=rows[:done]))
            proc.status = "failed"
            proc.error = f"Import stopped after {done} of {len(rows)} rows: processing error, re-submit the import"
            self._bump()
            return
        if proc.kind == "import" and payload is not None:
            self._apply_import(proc, payload)
        elif proc.kind == "objects" and payload is not None:
            self._apply_objects(proc, payload)
            refused = [r for r in proc.rejected if r["index"] is not None]
            if refused:
                # Brevo answers 202 and refuses records later; the process's ``error`` is where that surfaces.
                # ⚠ Its wording is not documented: the sandbox names each refused record as records[i] (0-based,
                # the position in the upsert body) with its ext_id and reason.
                parts = []
                for r in refused:
                    ext = (payload["records"][r["index"]].get("identifiers") or {}).get("ext_id")
                    parts.append(f"records[{r['index']}] (ext_id {ext!r}): {r['reason']}")
                total = len(payload["records"])
                proc.error = f"{len({r['index'] for r in refused})} of {total} records rejected: " + "; ".join(parts)
        elif proc.kind == "objects_delete" and payload is not None:
            self._apply_object_deletes(proc, payload)
        proc.status = "completed"
        self._bump()

    # ---------------------------------------------------------------------------------------------- import

    @_locked
    def start_import(self, body: Any, raw_size: int) -> int:
        """``POST /contacts/import``: validate synchronously, apply when the process completes → processId."""
        if raw_size > MAX_IMPORT_BYTES:
            # The spec documents only 400 for this operation (max 10 MB, about 8 MB advised:
            # https://developers.brevo.com/reference/import-contacts).
            raise OutOfRange("Maximum allowed body size is 10MB; split the import into smaller requests")
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        sources = [k for k in ("fileUrl", "fileBody", "jsonBody") if body.get(k) is not None]
        if not sources:
            raise MissingParameter("One of fileUrl, fileBody or jsonBody is required")
        if len(sources) > 1:
            raise InvalidParameter(f"Pass only one of fileUrl, fileBody or jsonBody (got {', '.join(sources)})")
        if sources[0] == "fileUrl":
            # Deliberate deviation: the sandbox never fetches URLs (no outbound network).
            raise InvalidParameter("fileUrl is not supported by the sandbox; send fileBody or jsonBody")
        list_ids = self._check_list_ids(body.get("listIds"), "listIds")
        new_list = body.get("newList")
        if new_list is not None:
            if not isinstance(new_list, dict) or not isinstance(new_list.get("listName"), str):
                raise InvalidParameter("newList must be an object with listName and folderId")
            if new_list.get("folderId") not in self.folders:
                raise InvalidParameter("newList.folderId is mandatory and must be an existing folder")
        if not list_ids and new_list is None:
            raise MissingParameter("listIds is mandatory if newList is not defined")
        flags = {}
        for flag, default in (
            ("updateExistingContacts", True),
            ("emptyContactsAttributes", False),
            ("emailBlacklist", False),
            ("smsBlacklist", False),
            ("disableNotification", False),
        ):
            value = body.get(flag, default)
            if not isinstance(value, bool):
                raise InvalidParameter(f"{flag} must be a boolean")
            flags[flag] = value
        notify_url = body.get("notifyUrl")
        if notify_url is not None and not valid_notify_url(notify_url):
            raise InvalidParameter("notifyUrl must be an http(s) URL")
        rows: list[tuple[Any, Any, dict[str, Any]]] = []
        if sources[0] == "jsonBody":
            data = body["jsonBody"]
            if not isinstance(data, list):
                raise InvalidParameter("jsonBody must be an array of {email, attributes} objects")
            for row in data:
                if not isinstance(row, dict):
                    rows.append((None, None, {"__invalid__": row}))
                    continue
                attrs = row.get("attributes") or {}
                if not isinstance(attrs, dict):
                    attrs = {}
                rows.append((row.get("email"), row.get("ext_id"), {str(k).upper(): v for k, v in attrs.items()}))
        else:
            text = body["fileBody"]
            if not isinstance(text, str):
                raise InvalidParameter("fileBody must be a string of CSV text (';' separated, header row)")
            reader = csv.reader(io.StringIO(text), delimiter=";")
            header = next(reader, None)
            if not header:
                raise InvalidParameter("fileBody is empty: the first line must name the attributes")
            names = [h.strip().upper() for h in header]
            if not any(n in ("EMAIL", "SMS", "EXT_ID", "CONTACT_ID") for n in names):
                raise InvalidParameter(
                    "We could not find any valid email or SMS or Contact ID in the file you uploaded (header needs "
                    "an EMAIL, SMS or EXT_ID column)"
                )
            for values in reader:
                if not values or all(v == "" for v in values):
                    continue
                attrs = {n: (values[i] if i < len(values) else "") for i, n in enumerate(names)}
                rows.append((attrs.pop("EMAIL", None), None, attrs))
        payload = {"rows": rows, "list_ids": list_ids, "new_list": new_list, "csv": sources[0] == "fileBody", **flags}
        if notify_url:
            payload["notify_url"] = notify_url
        proc = self._new_process("IMPORTUSER", "import", payload)
        self._bump()
        return proc.id

    def _import_lists(self, payload: dict[str, Any]) -> list[int]:
        """The lists an import adds its contacts to: ``listIds`` plus the ``newList`` it creates now."""
        list_ids: list[int] = list(payload["list_ids"])
        if payload["new_list"] is not None:
            nl = payload["new_list"]
            lid = self.next_list_id
            self.next_list_id += 1
            self.lists[lid] = ContactList(lid, nl["listName"], nl["folderId"], self._now())
            list_ids.append(lid)
        return [lid for lid in list_ids if lid in self.lists]  # a list deleted meanwhile is skipped

    def _apply_import(self, proc: Process, payload: dict[str, Any]) -> None:
        counts = {
            "invalid_emails": 0,
            "duplicate_contact_id": 0,
            "duplicate_ext_id": 0,
            "duplicate_email_id": 0,
            "duplicate_phone_id": 0,
            "duplicate_whatsapp_id": 0,
            "duplicate_landline_number_id": 0,
        }
        list_ids = self._import_lists(payload)
        update_existing = payload["updateExistingContacts"]
        empty_clears = payload["emptyContactsAttributes"] and update_existing
        from_csv = payload["csv"]
        seen: dict[str, set[str]] = {name: set() for name in ("EMAIL", *IDENTITY_ATTRS)}

        def reject(index: int, reason: str, row: Any) -> None:
            proc.rejected.append({"index": index, "reason": reason, "row": row})

        for index, (email, ext_id, attrs) in enumerate(payload["rows"]):
            row_view = {"email": email, "ext_id": ext_id, "attributes": attrs}
            if "__invalid__" in attrs:
                reject(index, "row is not a JSON object", attrs["__invalid__"])
                continue
            if email in (None, "") and attrs.get("EMAIL"):
                email = attrs["EMAIL"]
            if ext_id in (None, ""):
                ext_id = attrs.get("EXT_ID")
            identities, problem = self._identities_from(email, ext_id, attrs)
            if problem == "invalid_email":
                counts["invalid_emails"] += 1
                reject(index, f"invalid email {email!r}", row_view)
                continue
            if problem:
                reject(index, f"{problem.replace('_', ' ')}", row_view)
                continue
            if not identities:
                reject(index, "no identifier (email, ext_id or SMS)", row_view)
                continue
            dup = [name for name, (_, k) in identities.items() if k in seen[name]]
            if dup:
                # a later row repeating an identifier of an earlier row in the same import is dropped (counted)
                for name in dup:
                    counts[IMPORT_COUNT_KEYS[name]] += 1
                reject(index, f"duplicate {', '.join(DUPLICATE_NAMES[n] for n in dup)} within the import", row_view)
                continue
            for name, (_, k) in identities.items():
                seen[name].add(k)
            owners = self._conflicts(identities, None)
            distinct = set(owners.values())
            if len(distinct) > 1:
                reject(index, "identifiers belong to different existing contacts", row_view)
                continue
            if distinct:
                contact = self.contacts[distinct.pop()]
                if not update_existing:
                    reject(index, "contact exists and updateExistingContacts is false", row_view)
                    continue
            else:
                contact = self._new_contact()
            for name, (value, key) in identities.items():
                self._set_identity(contact, name, value, key)
            self._apply_attrs(contact, attrs, from_csv=from_csv, empty_clears=empty_clears)
            if payload["emailBlacklist"]:
                contact.email_bl = True
            if payload["smsBlacklist"]:
                contact.sms_bl = True
            self._set_lists(contact, add=list_ids)
            self._touch(contact)
            proc.applied += 1
        # info.import type conflict (docs/vendor-behaviour.md): the 2026 spec and SDK4 give integer counts, SDK5 gives
        # report URLs. We follow the 2026 spec: integers. Rejected rows are listed on the control plane only
        # (GET /_sandbox/brevo/processes/{id} → sandbox.rejected), never in the vendor response.
        proc.info = {"import": counts}

    # ---------------------------------------------------------------------------------------------- events

    def _validate_event(self, event: Any) -> str | None:
        if not isinstance(event, dict):
            return "event must be a JSON object"
        name = event.get("event_name")
        if name is None:
            return "event_name is required"
        if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
            return "event_name must be 1-255 characters among letters, digits, '-' and '_'"
        identifiers = event.get("identifiers")
        if not isinstance(identifiers, dict) or not identifiers:
            return (
                "identifiers is required with at least one of email_id, ext_id, contact_id, phone_id, whatsapp_id, "
                "landline_number_id"
            )
        for key, value in identifiers.items():
            if key == "contact_id":
                if not isinstance(value, int) or isinstance(value, bool):
                    return "identifiers.contact_id must be an integer"
            elif key in ("email_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id"):
                if not isinstance(value, str) or not value:
                    return f"identifiers.{key} must be a non-empty string"
                if key == "email_id" and not is_valid_email(value):
                    return "identifiers.email_id is not a valid email address"
            else:
                return f"identifiers.{key} is not a supported identifier"
        if "event_date" in event and event["event_date"] is not None:
            if not isinstance(event["event_date"], str):
                return "event_date must be an ISO-8601 string"
            try:
                parse_datetime_ms(event["event_date"], "event_date")
            except InvalidParameter as exc:
                return exc.message
        props = event.get("event_properties")
        if props is not None:
            if not isinstance(props, dict):
                return "event_properties must be an object"
            for key in props:
                if not EVENT_NAME_RE.match(str(key)):
                    return f"event_properties key {key!r} must be 1-255 characters among letters, digits, '-' and '_'"
            if json_size(props) > MAX_EVENT_PROPERTIES_BYTES:
                return "event_properties exceeds the 50 KB limit"
        cprops = event.get("contact_properties")
        if cprops is not None:
            if not isinstance(cprops, dict):
                return "contact_properties must be an object"
            for key, value in cprops.items():
                if not isinstance(value, (str, int, float, bool)):
                    return f"contact_properties.{key} must be a string, number or boolean"
        obj = event.get("object")
        if obj is not None and (not isinstance(obj, dict) or not isinstance(obj.get("type"), str)):
            return "object must be an object with type and identifiers"
        return None

    def _store_event(self, event: dict[str, Any], source: str) -> None:
        identifiers = event["identifiers"]
        contact: Contact | None = None
        # contact_id takes priority over the other identifiers (https://developers.brevo.com/reference/create-event)
        for key, itype in (
            ("contact_id", "contact_id"),
            ("email_id", "email_id"),
            ("ext_id", "ext_id"),
            ("phone_id", "phone_id"),
            ("whatsapp_id", "whatsapp_id"),
            ("landline_number_id", "landline_number_id"),
        ):
            if key in identifiers:
                try:
                    contact = self.resolve(str(identifiers[key]), itype)
                except BrevoError:
                    contact = None
                break
        # Whether an unknown identifier auto-creates a contact is undocumented (docs/vendor-behaviour.md): the
        # sandbox stores the event
        # and creates nothing. contact_properties update an existing contact's attributes.
        if contact is not None and event.get("contact_properties"):
            props = self._upper_attrs(event["contact_properties"])
            self._apply_attrs(contact, props, from_csv=False, empty_clears=False)
            self._touch(contact)
        self.events.append(
            {
                "event_name": event["event_name"],
                "identifiers": identifiers,
                "event_date": event.get("event_date"),
                "contact_properties": event.get("contact_properties"),
                "event_properties": event.get("event_properties"),
                "object": event.get("object"),
                "contact_id": contact.id if contact else None,
                "received_at": iso_ms(self._now()),
                "source": source,
                "_visible_at": self.sandbox_clock.now() + self.lag["events"],
            }
        )

    @_locked
    def list_events(
        self,
        *,
        event_names: list[str],
        contact_ids: list[int],
        start: str | None,
        end: str | None,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        """``GET /events``: custom events, newest first, optionally filtered by name, contact and a date window
        (both bounds or neither; ``YYYY-MM-DD`` bounds cover whole days).

        https://developers.brevo.com/reference/get-events
        """
        if (start is None) != (end is None):
            raise InvalidParameter("startDate and endDate must be given together")

        def bound(value: str, field: str, upper: bool) -> int:
            if len(value) == 10:  # a date: the whole day
                value += "T23:59:59.999Z" if upper else "T00:00:00.000Z"
            return parse_datetime_ms(value, field)

        lo = bound(start, "startDate", False) if start else None
        hi = bound(end, "endDate", True) if end else None
        selected = []
        now = self.sandbox_clock.now()
        for event in reversed(self.events):
            if event.get("_visible_at", 0.0) > now:
                continue  # accepted, not yet readable (read lag)
            try:
                when_ms = parse_datetime_ms(str(event.get("event_date") or event["received_at"]), "event_date")
            except BrevoError:
                when_ms = parse_datetime_ms(event["received_at"], "received_at")
            when_norm = iso_ms(when_ms)
            if event_names and event["event_name"] not in event_names:
                continue
            if contact_ids and event.get("contact_id") not in contact_ids:
                continue
            if lo is not None and hi is not None and not lo <= when_ms <= hi:
                continue
            selected.append(
                {
                    "contact_id": event.get("contact_id"),
                    "event_date": when_norm,
                    "event_name": event["event_name"],
                    "object_type": (event.get("object") or {}).get("type"),
                    "event_properties": event.get("event_properties") or {},
                    "contact_properties": event.get("contact_properties") or {},
                }
            )
        return {"events": selected[offset : offset + limit], "count": len(selected)}

    @_locked
    def create_event(self, event: Any) -> None:
        """``POST /events`` (204)."""
        problem = self._validate_event(event)
        if problem:
            raise InvalidParameter(problem)
        self._store_event(event, "single")
        self._bump()

    @_locked
    def create_events_batch(self, body: Any, raw_size: int) -> tuple[int, dict[str, Any]]:
        """``POST /events/batch`` → (status, body): 202 all queued, or 207 with per-index errors.

        https://developers.brevo.com/reference/create-batch-events
        """
        if raw_size > MAX_BATCH_EVENTS_BYTES:
            raise OutOfRange("Batch body exceeds 512 KB; send at most 200 events and 512 KB per request")
        # Accept {"events": [...]} (SDK5) and a bare array (SDK 4.x), docs/vendor-behaviour.md.
        events = body.get("events") if isinstance(body, dict) else body
        if not isinstance(events, list):
            raise InvalidParameter('Body must be {"events": [ ... ]} (or a JSON array of events)')
        if not 1 <= len(events) <= MAX_BATCH_EVENTS:
            raise OutOfRange(f"events must contain between 1 and {MAX_BATCH_EVENTS} events (got {len(events)})")
        inject = self.take_fault("events_partial_207")
        errors: dict[str, list[int]] = {}
        ok = 0
        for index, event in enumerate(events):
            problem = self._validate_event(event)
            if problem is None and inject and index % 2 == 0:
                problem = "Temporary failure: event could not be queued, retry it"
            if problem:
                errors.setdefault(problem, []).append(index)
                continue
            self._store_event(event, "batch")
            ok += 1
        self._bump()
        if not errors:
            message = "Batch accepted. Valid events have been added to the processing queue."
            return 202, {"message": message, "count": ok}
        # BatchEventsResponse (changelog 2026-03-03, SDK5). ⚠ The "status" strings are not documented; chosen here.
        return 207, {
            "status": "partial_success" if ok else "failed",
            "total_events": len(events),
            "successful_events": ok,
            "failed_events": len(events) - ok,
            "errors": [{"eventIndex": idx, "message": msg} for msg, idx in errors.items()],
        }

    @_locked
    def stored_events(self) -> list[dict[str, Any]]:
        """Control plane: every accepted event, in arrival order (readable or not yet)."""
        return [{k: v for k, v in e.items() if k != "_visible_at"} for e in self.events]

    # ---------------------------------------------------------------------------------------------- objects

    def _object_type(self, name: str) -> ObjectType:
        otype = self.object_types.get(name)
        if otype is None:
            raise DocumentNotFound(
                f"Object type {name!r} not found: object types must be created in the Brevo UI first"
            )
        return otype

    @_locked
    def create_object_type(self, name: Any, attributes: Any) -> None:
        """Control plane: create a custom object type (Brevo only allows this in its UI)."""
        if not isinstance(name, str) or not OBJECT_TYPE_RE.match(name):
            raise InvalidParameter("name must be 1-32 lowercase letters, digits or '_'")
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            raise InvalidParameter("attributes must be an array of attribute keys")
        if name in self.object_types:
            self.object_types[name].attributes |= set(attributes)
        else:
            self.object_types[name] = ObjectType(name, attributes)
        self._bump()

    @_locked
    def start_object_upsert(self, object_type: str, body: Any, raw_size: int) -> int:
        """``POST /objects/{type}/batch/upsert`` → processId; records are applied when the process completes."""
        if raw_size > MAX_OBJECT_BODY_BYTES:
            raise OutOfRange("Max request body size is 1 MB")
        self._object_type(object_type)
        if not isinstance(body, dict) or "records" not in body:
            raise MissingParameter("records is required")
        records = body["records"]
        if not isinstance(records, list) or not 1 <= len(records) <= MAX_OBJECT_RECORDS:
            raise OutOfRange("records cannot be empty or more than 1000")
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise InvalidParameter(f"records[{index}] must be an object")
            attrs = record.get("attributes")
            if not isinstance(attrs, dict) or not attrs:
                raise MissingParameter(f"records[{index}].attributes must be an object with at least one attribute")
            if len(attrs) > 500:
                raise OutOfRange(f"records[{index}].attributes has more than 500 attributes")
            idents = record.get("identifiers")
            if idents is not None and not isinstance(idents, dict):
                raise InvalidParameter(f"records[{index}].identifiers must be an object with id or ext_id")
            assocs = record.get("associations") or []
            if not isinstance(assocs, list) or len(assocs) > 10:
                raise OutOfRange(f"records[{index}].associations must be an array of at most 10 items")
            for a_index, assoc in enumerate(assocs):
                where = f"records[{index}].associations[{a_index}]"
                if not isinstance(assoc, dict) or not isinstance(assoc.get("object_type"), str):
                    raise InvalidParameter(f"{where}.object_type is required")
                if assoc.get("action", "link") not in ("link", "unlink"):
                    raise InvalidParameter(f"{where}.action must be link or unlink")
                if not isinstance(assoc.get("records"), list) or not assoc["records"]:
                    raise InvalidParameter(f"{where}.records must be a non-empty array")
        proc = self._new_process("IMPORTUSER", "objects", {"object_type": object_type, "records": records})
        # ⚠ The spec's process name enum has no custom-object value; IMPORTUSER is the closest documented one.
        self._bump()
        return proc.id

    def _resolve_target(self, otype: str, identifiers: Any) -> int | None:
        if not isinstance(identifiers, dict):
            return None
        if otype in ("contact", "contacts"):
            if "id" in identifiers:
                cid = identifiers["id"]
                return cid if isinstance(cid, int) and cid in self.contacts else None
            if "ext_id" in identifiers:
                return self.by_ident["EXT_ID"].get(str(identifiers["ext_id"]))
            return None
        target = self.object_types.get(otype)
        if target is None:
            return None
        if "id" in identifiers:
            rid = identifiers["id"]
            return rid if isinstance(rid, int) and rid in target.records else None
        if "ext_id" in identifiers:
            return target.by_ext.get(str(identifiers["ext_id"]))
        return None

    def _apply_objects(self, proc: Process, payload: dict[str, Any]) -> None:
        otype = self.object_types.get(payload["object_type"])
        if otype is None:
            proc.rejected.append({"index": None, "reason": "object type was deleted", "row": None})
            return
        for index, record in enumerate(payload["records"]):
            now = self._now()
            idents = record.get("identifiers") or {}
            if self.take_fault("object_reject"):
                reason = "record could not be processed (rejected in the background after the 202)"
                proc.rejected.append({"index": index, "reason": reason, "row": record})
                continue
            obj: ObjectRecord | None
            if "id" in idents:
                # id = update only; an unknown id fails asynchronously while HTTP said 202
                # (https://developers.brevo.com/reference/custom-objects/upsertrecords)
                obj = otype.records.get(idents["id"]) if isinstance(idents["id"], int) else None
                if obj is None:
                    reason = f"record id {idents['id']!r} not found"
                    proc.rejected.append({"index": index, "reason": reason, "row": record})
                    continue
            elif "ext_id" in idents:
                ext = str(idents["ext_id"])
                rid = otype.by_ext.get(ext)
                if rid is None:
                    obj = ObjectRecord(otype.next_id, ext, now)
                    otype.next_id += 1
                    otype.records[obj.id] = obj
                    otype.by_ext[ext] = obj.id
                else:
                    obj = otype.records[rid]
            else:
                obj = ObjectRecord(otype.next_id, None, now)
                otype.next_id += 1
                otype.records[obj.id] = obj
            for key, value in record["attributes"].items():
                if key in otype.attributes:  # unknown attribute keys dropped silently (upsertrecords reference)
                    obj.attrs[key] = value
            for assoc in record.get("associations") or []:
                target_type = assoc["object_type"]
                unlink = assoc.get("action", "link") == "unlink"
                for target in assoc["records"]:
                    tid = self._resolve_target(target_type, (target or {}).get("identifiers"))
                    if tid is None:
                        if not unlink:  # unlink is idempotent; link needs both records to exist
                            reason = f"association target not found in {target_type}"
                            proc.rejected.append({"index": index, "reason": reason, "row": target})
                        continue
                    bucket = obj.assoc.setdefault(target_type, set())
                    if unlink:
                        bucket.discard(tid)
                    else:
                        bucket.add(tid)
            obj.updated = now
            proc.applied += 1

    @_locked
    def start_object_delete(self, object_type: str, body: Any) -> int:
        """``POST /objects/{type}/batch/delete`` → processId; the records go when the process completes
        (https://developers.brevo.com/reference/custom-objects/batchdeleteobjectrecords: up to 1000 identifiers,
        ``{"identifiers": {"ids": [...]}}`` or ``{"identifiers": {"ext_ids": [...]}}``; 404 for an unknown type)."""
        self._object_type(object_type)
        idents = body.get("identifiers") if isinstance(body, dict) else None
        if not isinstance(idents, dict) or len([k for k in ("ids", "ext_ids") if k in idents]) != 1:
            raise MissingParameter("identifiers must be an object with exactly one of ids or ext_ids")
        kind = "ids" if "ids" in idents else "ext_ids"
        values = idents[kind]
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_OBJECT_RECORDS:
            raise OutOfRange(f"identifiers.{kind} cannot be empty or more than {MAX_OBJECT_RECORDS}")
        want = int if kind == "ids" else str
        if not all(isinstance(v, want) and not isinstance(v, bool) for v in values):
            raise InvalidParameter(
                f"identifiers.{kind} must be an array of {'integers' if kind == 'ids' else 'strings'}"
            )
        proc = self._new_process("IMPORTUSER", "objects_delete", {"object_type": object_type, kind: list(values)})
        self._bump()
        return proc.id

    def _apply_object_deletes(self, proc: Process, payload: dict[str, Any]) -> None:
        otype = self.object_types.get(payload["object_type"])
        if otype is None:
            proc.rejected.append({"index": None, "reason": "object type was deleted", "row": None})
            return
        rids = list(payload.get("ids") or []) + [otype.by_ext.get(str(e)) for e in payload.get("ext_ids") or []]
        for rid in rids:
            rec = otype.records.pop(rid, None) if rid is not None else None
            if rec is None:
                continue  # already gone: deleting is idempotent
            if rec.ext_id is not None:
                otype.by_ext.pop(rec.ext_id, None)
            proc.applied += 1

    @_locked
    def object_records_page(
        self, object_type: str, limit: int, page_num: int, sort: str, association: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """``GET /objects/{type}/records`` (page-number pagination)."""
        if object_type not in self.object_types:
            # this operation declares no 404 in the spec; the upsert docs call the error "invalid object type"
            raise InvalidParameter(f"invalid object type {object_type!r}: object types are created in the Brevo UI")
        otype = self._object_type(object_type)
        ids = sorted(otype.records, reverse=sort == "desc")
        start = (page_num - 1) * limit
        return [otype.records[rid].to_json(association) for rid in ids[start : start + limit]], len(ids)

    @_locked
    def all_object_records(self, object_type: str) -> list[dict[str, Any]]:
        """Control plane: every record of a type with all its associations."""
        otype = self._object_type(object_type)
        out = []
        for rec in otype.records.values():
            body = rec.to_json(False)
            body["associations"] = {k: sorted(v) for k, v in rec.assoc.items()}
            out.append(body)
        return out

    # ---------------------------------------------------------------------------------------------- account

    def account(self) -> dict[str, Any]:
        """``GET /account``: a realistic (fixed) account body."""
        return {
            "organization_id": "6617c4e7a1b2c3d4e5f60718",
            "user_id": 9123456,
            "enterprise": False,
            "email": ACCOUNT_EMAIL,
            "firstName": "Sandbox",
            "lastName": "Operator",
            "companyName": "Sandbox Co",
            "address": {"street": "1 Loopback Road", "city": "Localhost", "zipCode": "12700", "country": "France"},
            "dateTimePreferences": {"timezone": "Europe/Paris", "timeFormat": "HH:mm", "dateFormat": "dd-mm-yyyy"},
            "plan": [
                {
                    "type": "subscription",
                    "credits": 20000.0,
                    "creditsType": "sendLimit",
                    "startDate": "2026-01-01",
                    "endDate": "2026-12-31",
                }
            ],
            "relay": {
                "enabled": True,
                "data": {"userName": ACCOUNT_EMAIL, "relay": "smtp-relay.brevo.com", "port": 587},
            },
            "marketingAutomation": {"enabled": False},
        }
