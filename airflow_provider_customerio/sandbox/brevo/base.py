"""The base of the sandbox's Brevo state: lifecycle, seed fixture, clock, read lag and the shared helpers.

The API areas are mixins over :class:`BrevoBase` (:mod:`.contacts`, :mod:`.lists`, :mod:`.processes`, :mod:`.events`,
:mod:`.objects`); :class:`~.state.BrevoState` puts them together.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_customerio.sandbox.brevo.errors import (
    DocumentNotFound,
    DuplicateParameter,
    InvalidParameter,
)
from airflow_provider_customerio.sandbox.brevo.models import (
    ACCOUNT_EMAIL,
    DATE_RE,
    DEFAULT_IMPORT_QUEUE_S,
    DEFAULT_IMPORT_RATE_PER_S,
    DUPLICATE_NAMES,
    IDENTITY_ATTRS,
    PHONE_IDENTITIES,
    SEED_ATTRIBUTES,
    SEED_LISTS,
    SEED_OBJECT_TYPES,
    STANDARD_ATTRIBUTES,
    Attribute,
    Contact,
    ContactList,
    ObjectType,
    Process,
    is_number,
    is_valid_email,
    iso_ms,
    parse_datetime_ms,
    phone_key,
)
from airflow_provider_customerio.sandbox.clock import SandboxClock
from airflow_provider_customerio.sandbox.faults import STATE_KINDS, FaultInjector
from airflow_provider_customerio.sandbox.notify import Notifier

CLEAR = object()  # sentinel: the caller asked to empty an attribute
_T = TypeVar("_T")
#: The account's time zone (``GET /account`` ``dateTimePreferences.timezone``) by default: west of UTC, where a
#: filter time read in the account's zone instead of UTC starts *later* and misses contacts (the unkind reading).
DEFAULT_ACCOUNT_TIMEZONE = "America/Los_Angeles"
#: How a filter time without an offset (``modifiedSince=2026-01-31T13:45:00.000``) is read: ``account`` (in the
#: account's time zone, the default) or ``utc``.
NAIVE_TIME_READINGS = ("account", "utc")


def locked(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Run a state method under the state's lock, then publish the contacts it touched (read lag)."""

    @functools.wraps(fn)
    def wrapper(self: BrevoBase, *args: Any, **kwargs: Any) -> _T:
        with self.lock:
            result = fn(self, *args, **kwargs)
            if self._dirty:
                self._publish_dirty()
            return result

    return wrapper


# --------------------------------------------------------------------------------------------------------------


class BrevoBase:
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
        self.notifier = Notifier(tick=self.run_due, clock=self.sandbox_clock.now)
        self.reset()

    # ---------------------------------------------------------------------------------------------- lifecycle

    @locked
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
        #: ``rate_per_s`` a number (the default): a process runs in the background on the sandbox clock,
        #: ``queue_s`` queued then ``rows / rate_per_s`` seconds; with ``serial`` (the default) an account's imports
        #: run one after the other, a later one ``queued`` until the one before it has ended. ``rate_per_s`` None: a
        #: process completes after ``polls_to_complete`` polls, every import in parallel.
        self.process_settings: dict[str, Any] = {
            "polls_to_complete": 2,
            "running_status": "processing",
            "rate_per_s": DEFAULT_IMPORT_RATE_PER_S,
            "queue_s": DEFAULT_IMPORT_QUEUE_S,
            "serial": True,
        }
        #: Read lag in sandbox-clock seconds: ``events`` (GET /events), ``contacts`` (contact reads).
        self.lag: dict[str, float] = {"events": 0.0, "contacts": 0.0}
        self._published: dict[int, tuple[dict[str, Any], int, int]] = {}  # cid -> (json, created, modified)
        self._pending_reads: list[tuple[float, int, tuple[dict[str, Any], int, int] | None]] = []
        self._dirty = set()
        self._background = 0  # processes running in the background (processing-rate mode)
        self._imports_free_at = 0.0  # serial mode: sandbox time the account's last import ended
        self._query_cache: tuple[Any, list[int]] | None = None
        self.account_settings: dict[str, str] = {"timezone": DEFAULT_ACCOUNT_TIMEZONE, "naive_times": "account"}

    @locked
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

    @locked
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

    @locked
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
            return True, CLEAR
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
            if stored is CLEAR:
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

    # ---------------------------------------------------------------------------------------------- account

    @locked
    def set_account_settings(self, spec: Any) -> dict[str, str]:
        """``{"timezone": "<IANA name>", "naive_times": "account"|"utc"}`` (either key); InvalidParameter names the
        field and the fix."""
        if not isinstance(spec, dict):
            raise InvalidParameter('account settings must be a JSON object, e.g. {"timezone": "Etc/GMT+8"}')
        out = dict(self.account_settings)
        for key, value in spec.items():
            if key == "timezone":
                try:
                    zoneinfo.ZoneInfo(str(value))
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    raise InvalidParameter(
                        f"timezone: {value!r} is not an IANA time zone; use e.g. America/Los_Angeles or Etc/GMT+8"
                    ) from None
                out["timezone"] = str(value)
            elif key == "naive_times":
                if value not in NAIVE_TIME_READINGS:
                    raise InvalidParameter(f"naive_times: {value!r} must be one of {', '.join(NAIVE_TIME_READINGS)}")
                out["naive_times"] = str(value)
            else:
                raise InvalidParameter(f"{key}: unknown account setting; known: timezone, naive_times")
        self.account_settings = out
        return dict(out)

    def filter_time_ms(self, value: str, field: str) -> int:
        """A time filter (``modifiedSince``, ``createdSince``, ``startDate``...) as epoch ms. Brevo documents "a
        given UTC date-time (YYYY-MM-DDTHH:mm:ss.SSSZ). Prefer to pass your timezone in date-time format for
        accurate result" (https://developers.brevo.com/reference/get-contacts): a time without an offset is read
        in the account's time zone unless ``naive_times`` is ``utc`` (docs/vendor-behaviour.md)."""
        settings = self.account_settings
        naive = zoneinfo.ZoneInfo(settings["timezone"]) if settings["naive_times"] == "account" else None
        return parse_datetime_ms(value, field, naive)

    def account(self) -> dict[str, Any]:
        """``GET /account``: a realistic (fixed) account body; the time zone is :attr:`account_settings`'."""
        return {
            "organization_id": "6617c4e7a1b2c3d4e5f60718",
            "user_id": 9123456,
            "enterprise": False,
            "email": ACCOUNT_EMAIL,
            "firstName": "Sandbox",
            "lastName": "Operator",
            "companyName": "Sandbox Co",
            "address": {"street": "1 Loopback Road", "city": "Localhost", "zipCode": "12700", "country": "France"},
            "dateTimePreferences": {
                "timezone": self.account_settings["timezone"],
                "timeFormat": "HH:mm",
                "dateFormat": "dd-mm-yyyy",
            },
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

    if TYPE_CHECKING:  # defined by the API-area mixins (see state.py); declared for the type checker

        def run_due(self) -> list[int]: ...

        def resolve(self, identifier: str, identifier_type: str | None, *, for_get: bool = False) -> Contact: ...

        def _new_process(self, name: str, kind: str, payload: dict[str, Any]) -> Process: ...

        def _apply_objects(self, proc: Process, payload: dict[str, Any]) -> None: ...

        def _apply_object_deletes(self, proc: Process, payload: dict[str, Any]) -> None: ...
