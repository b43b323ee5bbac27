"""Contacts sync Brevo -> Customer.io (the reverse direction), and the echo suppression of the two-way sync.

The orchestration talks to two ports, :class:`ContactSource` (Brevo, read only) and :class:`PeopleWriter`
(Customer.io: Track v2 batches, plus App API profiles for conflict detection). The operator adapts the hooks to
them; tests use in-memory fakes. No Airflow and no HTTP imports here.

Flow of one run (checkpointed in the state store under ``dag_id/run_id/task_id`` after every batch):

1. Read the contacts Brevo changed in the window (``modifiedSince`` = window start, oldest first; the window's end
   is enforced here on ``modifiedAt``, since Brevo has no ``modifiedBefore``). A contact changed again after the
   window's end is left to the next run, which will read it. The read starts :data:`READ_OVERLAP` before the
   window: a contact Brevo lists only after the previous run read (its reads lag its writes) is caught by the next
   run; the contacts that run already settled come back **unchanged** (their snapshots match) and are not written
   twice. ``modifiedSince`` always carries an explicit offset (docs/vendor-behaviour.md).
2. Map each contact back through the inverse of ``field_mapping`` to Customer.io conventions: dates become unix
   timestamps (midnight UTC), numbers stay numbers, booleans booleans, category values their labels, and a
   blacklisted email becomes ``unsubscribed: true`` (a Brevo re-subscription is never propagated: consent only
   ratchets one way).
3. Decide, per contact:

   * **echo**: what Brevo holds is exactly what the Customer.io -> Brevo sync last wrote for that person (same
     content hash as ``cio_to_brevo`` in :mod:`.state`): nothing is written;
   * **unchanged**: the mapped fields equal the snapshot this direction last wrote (``brevo_to_cio``), e.g. a
     ``modifiedAt`` bump from a mere list touch (docs/vendor-behaviour.md): nothing is written;
   * **identity clash**: the contact's identifiers point at two different Customer.io people, or the person
     already stands for another Brevo contact: ledger (reason ``identity_clash``) with both identities, no write,
     no retry;
   * **per field** (people both sides synced before): against the value both sides last agreed on (per-field
     digests in the sync state, written by whichever direction synced the field), a field Brevo changed and
     Customer.io did not flows; a field both hold the same value of is recorded as agreed; a field **both** changed
     since is a **conflict** of that field alone, resolved by ``connectors.customerio.reverse.conflict_policy``.
     **Default ``customerio_wins``**: Brevo's value of that field is not written, and the next Customer.io ->
     Brevo run carries Customer.io's value over; ``brevo_wins``: Brevo's value is written; ``newest_wins``: the
     later of Brevo's ``modifiedAt`` and the field's Customer.io ``timestamps`` entry wins (whole seconds: a tie
     goes to Customer.io). A Customer.io value that can never reach Brevo (a ledgered value reject such as
     ``invalid_phone``) is no change on Customer.io's side and never makes a conflict. A person deleted from
     Customer.io is never re-created from Brevo, whatever the policy. Every conflict is counted and listed in the
     summary (``conflicts``, ``conflict_log``: field, both times, winner);
   * otherwise only the **changed fields** are written (a per-field snapshot is kept), so an unrelated Brevo edit
     does not overwrite Customer.io's precise timestamps with Brevo's day-precision dates.

4. Write with Track v2 ``/api/v2/batch``, packed just under 500 KB with no operation over 32 KB. People are
   identified by their Customer.io ``id`` when Brevo knows it (``EXT_ID``, or the attribute mapped from ``id``),
   else by ``cio_id`` from the identity map, else by email, else by phone; a changed email is written to a
   person named by ``cio_id`` when known (Customer.io refuses an email change addressed by ``id``).
   **Attributes are written without a ``timestamp``**, i.e. with the current time: Customer.io silently drops
   attribute updates older than the latest edit (https://docs.customer.io/api/track/#operation/identify,
   "timestamp"), so a backfill with historical timestamps would look successful and do
   nothing. A 207 answer's per-operation errors (``batch_index``) go to the ledger with the vendor's reason;
   transient ones (reason ``internal``) are re-sent up to ``max_attempts`` times first.
5. Commit per written person: the ``brevo_to_cio`` snapshot, the ``cio_to_brevo`` hash of what Brevo now holds
   (so the forward sync does not echo the write back), and the identity map (with the Brevo contact id).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

from airflow_provider_customerio.store.state import BREVO_TO_CIO, CIO_TO_BREVO, TO_BREVO, TO_CIO, OwnWrite
from airflow_provider_customerio.sync._time import parse_iso
from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer, json_size
from airflow_provider_customerio.sync.config import CustomerIOConfig, MappedField
from airflow_provider_customerio.sync.mapping import (
    EMAIL_FIELD,
    EXT_ID_ATTRIBUTE,
    BrevoAttribute,
    ConversionError,
    MappedRow,
    MappingError,
    Person,
    PersonMapper,
    RejectedPerson,
    ValueProblem,
    check_mapping,
    content_hash,
    convert,
    field_digest,
    normalise_email,
    row_field_values,
    to_bool,
    to_float,
    to_text,
)
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.ports import RunLedger, SyncState
from airflow_provider_customerio.sync.stale import (
    BLACKLIST_FIELD,
    DEFAULT_SETTLE_S,
    read_values,
    settle,
    split_fields,
    with_fields,
)
from airflow_provider_customerio.sync.summary import SyncSummary, check_threshold

log = logging.getLogger(__name__)

CONFLICT_POLICIES = ("customerio_wins", "brevo_wins", "newest_wins")
DEFAULT_CONFLICT_POLICY = "customerio_wins"
#: Track v2 limits (documented): body < 500 KB, one operation <= 32 KB.
TRACK_BATCH_LIMIT_BYTES = 500 * 1024
TRACK_OPERATION_LIMIT_BYTES = 32 * 1024
#: "just under" the limit: room for the envelope and for any difference in JSON spacing.
TRACK_BATCH_BUDGET_BYTES = TRACK_BATCH_LIMIT_BYTES - 2 * 1024
TRACK_BATCH_OVERHEAD_BYTES = len('{"batch":[]}')
#: Operations per batch: Customer.io documents no count limit; bytes are the real bound.
TRACK_BATCH_MAX_OPS = 5000
#: Contacts decided together (Brevo is read 1000 per page regardless). Decided operations accumulate until the next
#: page would overflow a batch; then they are sent and the run is checkpointed.
PAGE_SIZE = 50
HYDRATE_CHUNK = 100
#: 207 per-operation reasons that mean "try again" (the vendor applied nothing for that operation).
TRANSIENT_REASONS = frozenset({"internal", "timeout", "unavailable", "temporary", "rate_limited"})
#: Name of the pseudo-field that carries Brevo's email blacklist into Customer.io.
UNSUBSCRIBED = "unsubscribed"
WATERMARK = "brevo_to_cio:window_end"
#: How far before its window a run reads Brevo: one earlier run's worth of contacts that Brevo listed late (read
#: lag) or stamped by a coarser clock. Re-read contacts are compared, not re-written (step 3, "unchanged").
READ_OVERLAP = timedelta(minutes=10)
MAX_CONFLICTS_LISTED = 50


class ReverseSyncError(RuntimeError):
    """A reverse sync run cannot go on; the message says why and what to do."""


# ------------------------------------------------------------------------------------------ records and ports


@dataclass(frozen=True)
class BrevoContact:
    """A Brevo contact as listed by ``GET /contacts``.

    :param id: Brevo's numeric contact id.
    :param email: the contact's email, if any.
    :param attributes: attribute name (upper case) -> value, as Brevo returns them.
    :param email_blacklisted: the contact is blacklisted for email.
    :param modified_at: ``modifiedAt`` as epoch milliseconds (UTC).
    """

    id: int
    email: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    email_blacklisted: bool = False
    modified_at: int = 0

    @property
    def ext_id(self) -> str | None:
        value = self.attributes.get(EXT_ID_ATTRIBUTE)
        return str(value) if value not in (None, "") else None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> BrevoContact:
        """Build from a ``GET /contacts`` item; raises :class:`ReverseSyncError` naming a missing field."""
        if "id" not in item:
            raise ReverseSyncError(f"Brevo returned a contact without `id`: {str(dict(item))[:200]}")
        attrs = {str(k).upper(): v for k, v in (item.get("attributes") or {}).items()}
        if item.get("ext_id") not in (None, "") and EXT_ID_ATTRIBUTE not in attrs:
            attrs[EXT_ID_ATTRIBUTE] = item["ext_id"]
        modified = item.get("modifiedAt") or item.get("createdAt")
        return cls(
            id=int(item["id"]),
            email=item.get("email") or None,
            attributes=attrs,
            email_blacklisted=bool(item.get("emailBlacklisted")),
            modified_at=parse_ms(modified) if modified else 0,
        )


class ContactSource(Protocol):
    """Brevo side (read only)."""

    def list_attributes(self) -> list[BrevoAttribute]: ...

    def iter_modified(self, since: datetime | None) -> Iterator[BrevoContact]:
        """Contacts modified at or after ``since`` (every contact when ``None``), in a stable order (oldest
        created first), reading ``limit=1000`` pages with offsets."""
        ...

    def contact_exists(self, contact_id: int) -> bool:
        """Whether Brevo still has the contact (checked only on a suspected identity clash)."""
        ...


@dataclass(frozen=True)
class BatchError:
    """One rejected operation of a Track v2 batch (from a 207 answer)."""

    index: int
    reason: str
    message: str
    field: str = ""


@dataclass(frozen=True)
class Profile:
    """A Customer.io person as the App API returns it, with the time of its latest attribute change.

    :param person: the profile, built as the Customer.io -> Brevo sync builds it.
    :param changed_at: latest attribute ``timestamps`` value (unix seconds), ``None`` when not reported.
    :param field_times: attribute -> time of its latest change (unix seconds), from the profile's ``timestamps``.
    """

    person: Person
    changed_at: int | None = None
    field_times: Mapping[str, int] = field(default_factory=dict)


class PeopleWriter(Protocol):
    """Customer.io side: Track v2 writes; profiles (App API) to detect conflicts."""

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[BatchError]:
        """``POST /api/v2/batch``; returns the rejected operations (empty when all were applied)."""
        ...

    def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
        """Profiles of up to 100 people by ``cio_id`` (unknown or deleted ids are left out)."""
        ...


# ------------------------------------------------------------------------------------------ conversions


def parse_ms(value: Any) -> int:
    """Epoch milliseconds of Brevo's ``YYYY-MM-DDTHH:mm:ss.SSSZ`` (or any ISO date-time; naive = UTC)."""
    if isinstance(value, (int, float)):
        return int(value)
    try:
        dt = parse_iso(str(value))
    except ValueError:
        raise ReverseSyncError(f"Brevo returned modifiedAt = {value!r}, which is not an ISO date-time") from None
    return int(round(dt.timestamp() * 1000))


def format_brevo_time(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:mm:ss.SSSZ`` (UTC), the form ``modifiedSince`` takes."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def to_unix_timestamp(value: Any) -> int:
    """A Brevo date (``YYYY-MM-DD``, or an ISO date-time) as Customer.io's unix timestamp (seconds; a bare date is
    midnight UTC)."""
    if isinstance(value, bool):
        raise ConversionError("invalid_date", f"`{value}` is not a date")
    if isinstance(value, (int, float)):
        num = float(value)
        return int(num / 1000 if abs(num) >= 1e11 else num)
    text = str(value).strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())
        dt = parse_iso(text)
    except ValueError:
        raise ConversionError("invalid_date", f"`{value}` is not a date (YYYY-MM-DD)") from None
    return int(dt.timestamp())


def to_customerio(value: Any, attribute: BrevoAttribute) -> Any:
    """Convert one Brevo value to Customer.io's conventions, by the Brevo attribute's declared type."""
    typ = attribute.type.lower()
    if typ == "date":
        return to_unix_timestamp(value)
    if typ in ("float", "number"):
        num = to_float(value)
        return int(num) if num.is_integer() and abs(num) < 2**53 else num
    if typ == "boolean":
        return to_bool(value)
    if attribute.enumeration:
        for label, val in attribute.enumeration.items():
            if val == value or str(val) == str(value) or label == value:
                return label
        raise ConversionError(
            "invalid_category", f"`{value}` is none of the options {', '.join(attribute.enumeration)}"
        )
    if typ == "multiple-choice" and isinstance(value, list):
        return [to_text(v) for v in value]
    return to_text(value)


def _digest(value: Any) -> str:
    return content_hash(value)[:10]


# ------------------------------------------------------------------------------------------ mapping


@dataclass(frozen=True)
class ReverseRecord:
    """One Brevo contact mapped to Customer.io.

    :param customer_id: the Customer.io ``id`` known to Brevo (``EXT_ID``, else the attribute mapped from ``id``).
    :param attributes: Customer.io attribute -> value (identifier ``id`` excluded).
    :param forward_hash: the hash the Customer.io -> Brevo sync would have stored had it written exactly what Brevo
        now holds (see :meth:`MappedRow.content_hash`): equal to the stored ``cio_to_brevo`` hash means "echo".
    :param brevo_fields: Brevo's values in their canonical Brevo form, by per-field key (Brevo attribute name,
        ``email``): compared with the per-field last-synced digests and with Customer.io's values.
    """

    contact: BrevoContact
    customer_id: str | None
    email: str | None
    phone: str | None
    attributes: Mapping[str, Any]
    forward_hash: str
    problems: tuple[ValueProblem, ...] = ()
    brevo_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Key of this contact in the ``brevo_to_cio`` hashes."""
        return f"brevo:{self.contact.id}"

    @property
    def identities(self) -> dict[str, Any]:
        return {"brevo_contact_id": self.contact.id, "email": self.email, "id": self.customer_id, "phone": self.phone}

    def snapshot(self) -> Snapshot:
        fields = {name: _digest(value) for name, value in self.attributes.items()}
        return Snapshot(
            overall=content_hash({"id": self.customer_id, "email": self.email, "phone": self.phone, "fields": fields}),
            fields=fields,
        )


@dataclass(frozen=True)
class Snapshot:
    """What this direction last wrote for a contact: an overall hash plus one digest per field (stored in the
    ``brevo_to_cio`` hash column as ``overall|name=digest,...``)."""

    overall: str
    fields: Mapping[str, str]

    def encode(self) -> str:
        return self.overall + "|" + ",".join(f"{k}={v}" for k, v in sorted(self.fields.items()))

    @classmethod
    def decode(cls, text: str | None) -> Snapshot | None:
        if not text or "|" not in text:
            return None
        overall, _, rest = text.partition("|")
        fields: dict[str, str] = {}
        for part in rest.split(","):
            name, sep, digest = part.rpartition("=")
            if sep:
                fields[name] = digest
        return cls(overall, fields)

    def changed(self, other: Snapshot | None) -> set[str]:
        """Fields of ``self`` whose value differs from ``other`` (all of them without ``other``)."""
        if other is None:
            return set(self.fields)
        return {k for k, v in self.fields.items() if other.fields.get(k) != v}


class ReverseMapper:
    """The inverse of ``field_mapping``: Brevo contact -> Customer.io attributes.

    :param field_mapping: the configured mapping (Customer.io attribute -> Brevo attribute).
    :param attributes: Brevo's attribute list (types drive the conversion).
    :param list_ids: the lists the forward sync adds people to (part of its content hash).
    """

    def __init__(
        self, field_mapping: Sequence[MappedField], attributes: Iterable[BrevoAttribute], list_ids: Sequence[int] = ()
    ) -> None:
        by_name = {a.name.upper(): a for a in attributes}
        self.fields: list[tuple[MappedField, BrevoAttribute | None]] = []
        for f in field_mapping:
            if f.is_email:
                self.fields.append((f, None))
                continue
            attr = by_name.get(f.target.upper())
            if attr is None:
                raise MappingError(
                    f"Brevo has no attribute {f.target} (mapped from Customer.io `{f.source}` in "
                    "connectors.customerio.field_mapping). Create it in Brevo (Contacts > Settings > Contact "
                    "attributes) or remove the entry."
                )
            self.fields.append((f, attr))
        self.email_source = next((f.source for f in field_mapping if f.is_email), None)
        self.id_targets = [f.target.upper() for f in field_mapping if f.source == "id" and not f.is_email]
        self.phone_target = next((f.target.upper() for f in field_mapping if f.source == "phone"), "SMS")
        self.list_ids = list(list_ids)
        #: Customer.io attribute -> its key in the per-field sync state
        self.field_keys: dict[str, str] = {
            f.source: (EMAIL_FIELD if attr is None else attr.name) for f, attr in self.fields if f.source != "id"
        }

    def map(self, contact: BrevoContact) -> ReverseRecord:
        """Map one contact. Values that cannot be converted are left out and reported in ``problems``."""
        email: str | None = None
        if contact.email:
            try:
                email = normalise_email(contact.email)
            except ConversionError:
                email = None
        customer_id = contact.ext_id
        if customer_id is None:
            for target in self.id_targets:
                value = contact.attributes.get(target)
                if value not in (None, ""):
                    customer_id = str(value)
                    break
        phone_raw = contact.attributes.get(self.phone_target)
        phone = str(phone_raw).strip() if phone_raw not in (None, "") else None

        attrs: dict[str, Any] = {}
        fwd_attrs: dict[str, Any] = {}
        problems: list[ValueProblem] = []
        for f, attr in self.fields:
            if attr is None:
                if email is not None:
                    attrs[f.source] = email
                continue
            value = contact.attributes.get(attr.name)
            if value is None or value == "":
                continue
            try:  # what the forward sync would have sent for this value (its canonical Brevo form)
                fwd_attrs[attr.name] = convert(value, attr)
            except ConversionError:
                pass
            if f.source == "id":
                continue  # an identifier, never written as an attribute
            try:
                attrs[f.source] = to_customerio(value, attr)
            except ConversionError as exc:
                problems.append(ValueProblem(f.target, f.source, exc.reason, str(exc)))
        if contact.email_blacklisted:
            attrs[UNSUBSCRIBED] = True
        if contact.ext_id is not None:
            fwd_attrs[EXT_ID_ATTRIBUTE] = contact.ext_id
        row: dict[str, Any] = {"attributes": fwd_attrs}
        if email is not None:
            row["email"] = email
        forward = MappedRow(
            cio_id="", ext_id=contact.ext_id, email=email, row=row, blacklisted=contact.email_blacklisted
        ).content_hash(self.list_ids)
        return ReverseRecord(
            contact=contact,
            customer_id=customer_id,
            email=email,
            phone=phone,
            attributes=attrs,
            forward_hash=forward,
            problems=tuple(problems),
            brevo_fields=row_field_values(row),
        )


# ------------------------------------------------------------------------------------------ summary


@dataclass
class ReverseSummary(SyncSummary):
    """:class:`SyncSummary` plus the reverse direction's counters: echoes suppressed, Track batches sent and the
    conflict resolutions (``conflicts`` by winner, ``conflict_log`` one entry per resolution, capped in XCom)."""

    direction: str = BREVO_TO_CIO
    echoes: int = 0
    batches: int = 0
    unsubscribed: int = 0
    suppressed: int = 0
    conflict_policy: str = DEFAULT_CONFLICT_POLICY
    conflicts: Counter[str] = field(default_factory=Counter)
    conflict_log: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ReverseSummary:
        s = super().from_state(data)
        assert isinstance(s, ReverseSummary)
        s.conflicts = Counter(data.get("conflicts") or {})
        s.conflict_log = list(data.get("conflict_log") or [])
        return s

    def to_xcom(self) -> dict[str, Any]:
        out = super().to_xcom()
        out.update(
            {
                "echoes": self.echoes,
                "batches": self.batches,
                "unsubscribed": self.unsubscribed,
                "suppressed": self.suppressed,
                "conflict_policy": self.conflict_policy,
                "conflicts": dict(self.conflicts),
                "conflict_log": self.conflict_log[:MAX_CONFLICTS_LISTED],
            }
        )
        if self.dry_run:
            out["plan"]["conflicts"] = self.conflict_log[:MAX_CONFLICTS_LISTED]
        return out


# ------------------------------------------------------------------------------------------ the run


@dataclass
class _Pending:
    """A decided write waiting for its batch."""

    record: ReverseRecord
    cio_id: str | None
    op: dict[str, Any]
    attempts: int = 0
    #: per-field digests both sides hold once the operation is applied
    agreed: dict[str, str] = field(default_factory=dict)
    #: a field of this contact lost a conflict: its snapshot is not committed (re-decided until settled)
    lost: bool = False


@dataclass
class _Decision:
    """The fields of one contact to write, after comparing them field by field with Customer.io."""

    write: set[str] = field(default_factory=set)
    agreed: dict[str, str] = field(default_factory=dict)
    lost: bool = False
    dropped: bool = False


class ReverseSync:
    """One contacts sync run Brevo -> Customer.io.

    :param config: the ``connectors.customerio`` configuration.
    :param source: the Brevo port.
    :param writer: the Customer.io port.
    :param state: the state store shared with the Customer.io -> Brevo sync (same file!).
    :param ledger: this run's ledger.
    :param run_key: ``dag_id/run_id/task_id``; keys the checkpoint.
    :param conflict_policy: overrides ``connectors.customerio.reverse.conflict_policy``.
    :param max_attempts: sends of an operation that keeps failing transiently before it is ledgered.
    :param page_size: contacts decided together; their operations are sent (and the run checkpointed) once
        the next page would overflow the batch budget.
    :param batch_budget_bytes: byte budget of one Track batch (default: just under 500 KB).
    :param settle_s: seconds an own write decides stale reads before it expires (:mod:`.stale`).
    :param now: wall time in unix seconds (tests pass a fake); the times of own writes.
    """

    def __init__(
        self,
        *,
        config: CustomerIOConfig,
        source: ContactSource,
        writer: PeopleWriter,
        state: SyncState,
        ledger: RunLedger,
        run_key: str,
        conflict_policy: str | None = None,
        max_attempts: int = 3,
        page_size: int = PAGE_SIZE,
        batch_budget_bytes: int = TRACK_BATCH_BUDGET_BYTES,
        read_overlap: timedelta = READ_OVERLAP,
        settle_s: float = DEFAULT_SETTLE_S,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.settle_s = settle_s
        self.now = now or time.time
        policy = conflict_policy or config.reverse.conflict_policy or DEFAULT_CONFLICT_POLICY
        if policy not in CONFLICT_POLICIES:
            raise ReverseSyncError(
                f"conflict_policy `{policy}` is unknown: set connectors.customerio.reverse.conflict_policy (or the "
                f"param) to one of {', '.join(CONFLICT_POLICIES)}."
            )
        if not 1 <= page_size <= 100_000:
            raise ReverseSyncError(f"page_size must be between 1 and 100000, got {page_size}")
        self.config = config
        self.source = source
        self.writer = writer
        self.state = state
        self.ledger = ledger
        self.run_key = run_key
        self.policy = policy
        self.max_attempts = max(1, max_attempts)
        self.read_overlap = max(timedelta(0), read_overlap)
        self.page_size = page_size
        self.batch_budget_bytes = min(batch_budget_bytes, TRACK_BATCH_LIMIT_BYTES)
        all_contacts = config.lists.get("all_contacts")
        self.list_ids: list[int] = [all_contacts] if all_contacts else []
        self.summary = ReverseSummary(conflict_policy=policy)
        self._checkpoint: dict[str, Any] = {}
        self._forward_mapper: PersonMapper | None = None
        #: cio_id -> Brevo contact id of the people decided since the last batch (the identity map has the rest)
        self._claimed: dict[str, int] = {}
        self._email_key = "email"
        self._field_keys: dict[str, str] = {}

    # -------------------------------------------------------------- checkpoint

    @staticmethod
    def load_checkpoint(state: SyncState, run_key: str) -> dict[str, Any] | None:
        """The checkpoint of an unfinished run with this key (the operator truncates the ledger to its
        ``ledger_offset`` before resuming)."""
        return state.get_checkpoint(run_key)

    def _save(self, **changes: Any) -> None:
        self._checkpoint.update(changes)
        self._checkpoint["ledger_offset"] = self.ledger.flush()
        self._checkpoint["summary"] = self.summary.to_state()
        self.state.save_checkpoint(self.run_key, self._checkpoint)

    # -------------------------------------------------------------- entry point

    def run(self, *, window: RunWindow | None, dry_run: bool = False) -> ReverseSummary:
        """Run (or resume) the sync over ``window`` (``None``: every contact, a full pass) and return the summary.

        :raises RejectThresholdExceeded: more records rejected than ``people.reject_threshold`` allows.
        """
        mode = "incremental" if window is not None else "full"
        cp = self.state.get_checkpoint(self.run_key)
        if cp and cp.get("mode") == mode and not dry_run:
            self._checkpoint = cp
            self.summary = ReverseSummary.from_state(cp.get("summary") or {})
            log.info("Resuming %s after %s contacts", self.run_key, cp.get("position"))
        else:
            if cp:
                self.state.clear_run(self.run_key)
            self._checkpoint = {"mode": mode, "position": 0}
            self.summary = ReverseSummary(mode=mode, dry_run=dry_run, conflict_policy=self.policy)
        s = self.summary
        s.ledger = self.ledger.key
        if window is not None:
            s.window_start, s.window_end = window.start.isoformat(), window.end.isoformat()
        attributes = self.source.list_attributes()
        mapper = self._mapper(attributes)
        if not dry_run:
            self.state.expire_own_writes(TO_BREVO, self.now() - self.settle_s)
        end_ms = int(window.end.timestamp() * 1000) if window is not None else None
        read_from = window.start - self.read_overlap if window is not None else None
        start_ms = int(read_from.timestamp() * 1000) if read_from is not None else None

        position = int(self._checkpoint.get("position", 0))
        page: list[BrevoContact] = []
        carry: list[_Pending] = []  # decided operations not sent yet, packed into the next batch(es)
        carry_bytes = 0
        raw = 0
        for contact in self.source.iter_modified(read_from):
            raw += 1
            if raw <= position:
                continue
            if end_ms is not None and contact.modified_at >= end_ms:
                continue  # changed again after the window: the next run reads it
            if start_ms is not None and contact.modified_at < start_ms:
                continue
            page.append(contact)
            if len(page) >= self.page_size:
                decided = self._process_page(page, mapper, dry_run)
                page = []
                added = sum(_op_size(p) for p in decided)
                carry.extend(decided)
                carry_bytes += added
                if carry_bytes + added > self.batch_budget_bytes:
                    # the next page would not fit: send now, then checkpoint (everything decided is settled)
                    self._flush(carry, dry_run)
                    carry, carry_bytes = [], 0
                    if not dry_run:
                        self._save(position=raw)
        if page:
            carry.extend(self._process_page(page, mapper, dry_run))
        self._flush(carry, dry_run)
        s.finish()
        if not dry_run:
            self._save(position=raw)
            if window is not None:
                self.state.set_watermark(WATERMARK, window.end.isoformat())
            self.state.clear_run(self.run_key)
        self.ledger.flush()
        s.rejected = self.ledger.record_rejects
        s.value_rejects = self.ledger.total - self.ledger.record_rejects
        s.rejects_by_reason = Counter(self.ledger.counts)
        log.info("Brevo -> Customer.io: %s", s.to_xcom())
        check_threshold(
            rejected=s.rejected,
            read=s.read,
            threshold=self.config.people.reject_threshold,
            ledger_path=self.ledger.location,
        )
        return s

    # -------------------------------------------------------------- setup

    def _mapper(self, attributes: list[BrevoAttribute]) -> ReverseMapper:
        missing = check_mapping(self.config.field_mapping, attributes)
        if missing:
            names = ", ".join(f"{f.target} (from `{f.source}`)" for f in missing)
            raise MappingError(
                f"Brevo has no attribute {names}: the reverse sync cannot read what is not there. Create the "
                "attribute(s) in Brevo, run the Customer.io -> Brevo sync with "
                "connectors.customerio.people.create_missing_attributes: true, or remove the entries from "
                "connectors.customerio.field_mapping."
            )
        self._forward_mapper = PersonMapper(self.config.field_mapping, attributes)
        mapper = ReverseMapper(self.config.field_mapping, attributes, self.list_ids)
        self._email_key = mapper.email_source or "email"
        self._field_keys = mapper.field_keys
        return mapper

    # -------------------------------------------------------------- one page

    def _process_page(self, contacts: list[BrevoContact], mapper: ReverseMapper, dry_run: bool) -> list[_Pending]:
        """Decide one page: commit echoes, ledger clashes and problems, resolve conflicts; return the writes."""
        s = self.summary
        records = [mapper.map(c) for c in contacts]
        s.read += len(records)
        snapshots = self.state.get_hashes(BREVO_TO_CIO, [r.key for r in records])
        resolved: list[tuple[ReverseRecord, str | None]] = []
        for rec in records:
            cio_id = self._resolve_identity(rec, self._claimed)
            if cio_id is False:
                continue
            resolved.append((rec, cio_id))  # type: ignore[arg-type]
        resolved = self._settle_stale(resolved, mapper, dry_run)
        known = [cid for _, cid in resolved if cid]
        forward_hashes = self.state.get_hashes(CIO_TO_BREVO, known) if known else {}

        decided: list[tuple[ReverseRecord, str | None, set[str]]] = []
        echo_commits: list[tuple[ReverseRecord, str]] = []
        for rec, cio_id in resolved:
            if cio_id and forward_hashes.get(cio_id) == rec.forward_hash:
                s.echoes += 1
                s.unchanged += 1
                echo_commits.append((rec, cio_id))
                continue
            current = rec.snapshot()
            previous = Snapshot.decode(snapshots.get(rec.key))
            if previous is not None and previous.overall == current.overall:
                s.unchanged += 1
                continue
            changed = current.changed(previous)
            decided.append((rec, cio_id, changed))
        if echo_commits and not dry_run:
            with self.state.transaction():
                self.state.set_hashes(BREVO_TO_CIO, [(r.key, r.snapshot().encode()) for r, _ in echo_commits])
                self.state.set_field_digests(
                    (cid, {k: field_digest(v) for k, v in r.brevo_fields.items()}) for r, cid in echo_commits
                )
                for rec, cid in echo_commits:
                    self.state.upsert_identity(cid, brevo_id=rec.contact.id)

        decisions = self._decide_fields([(rec, cid, changed) for rec, cid, changed in decided if cid])
        pending: list[_Pending] = []
        for rec, cio_id, changed in decided:
            decision = decisions.get(rec.contact.id)
            if decision is None:  # a person both sides never synced: every changed field flows
                decision = _Decision(write=set(changed), agreed=self._agreed(rec, changed))
            if decision.dropped:
                continue
            op = self._operation(rec, cio_id, decision.write)
            if op is None:
                continue
            if decision.lost and "attributes" not in op:
                s.unchanged += 1  # every changed field lost its conflict: nothing to write, decided again next run
                continue
            for problem in rec.problems:
                self.ledger.reject(
                    record_id=rec.key,
                    reason=problem.reason,
                    stage="map",
                    message=f"{problem.source} -> {problem.target}: {problem.message}; the contact "
                    "was synced without this value",
                    identifiers=rec.identities,
                    detail={"attribute": problem.source},
                )
            item = _Pending(rec, cio_id, op, agreed=decision.agreed, lost=decision.lost)
            if "attributes" not in op:
                # nothing to write (e.g. only the identifier changed, or both sides agree): remember the new state
                if not dry_run:
                    self._commit([item])
                s.unchanged += 1
                continue
            pending.append(item)
            if self.config.reverse.suppress_unsubscribed and UNSUBSCRIBED in op.get("attributes", {}):
                # opt-in: the blacklisted contact is also suppressed in Customer.io (deleted, identifier blocked)
                suppress = {"type": "person", "action": "suppress", "identifiers": dict(op["identifiers"])}
                pending.append(_Pending(rec, cio_id, suppress, lost=decision.lost))
        return pending

    def _settle_stale(
        self, resolved: list[tuple[ReverseRecord, str | None]], mapper: ReverseMapper, dry_run: bool
    ) -> list[tuple[ReverseRecord, str | None]]:
        """The records with the people sync's own writes in place of the values Brevo read stale: a contact whose
        ``modifiedAt`` is not later than an import that wrote a field, and that shows another value, was read
        before Brevo applied the import; that value is no Brevo change (:mod:`.stale`)."""
        cids = [cid for _, cid in resolved if cid]
        own = self.state.get_own_writes(TO_BREVO, cids) if cids else {}
        if not own:
            return resolved
        out: list[tuple[ReverseRecord, str | None]] = []
        settled: list[tuple[str, str]] = []
        for rec, cid in resolved:
            writes = own.get(cid) if cid else None
            if not writes:
                out.append((rec, cid))
                continue
            modified = rec.contact.modified_at / 1000 if rec.contact.modified_at else None
            times = dict.fromkeys(writes, modified)  # Brevo has one time per contact
            values = {**rec.brevo_fields, BLACKLIST_FIELD: rec.contact.email_blacklisted}
            result = settle(values, writes, times.get, now=self.now(), settle_s=self.settle_s)
            settled.extend((str(cid), key) for key in result.settled)
            if result.corrections:
                self.summary.stale_reads += len(result.corrections)
                log.info(
                    "Brevo contact %s read before the import that wrote %s; kept Customer.io's value (a stale read)",
                    rec.contact.id,
                    ", ".join(sorted(result.corrections)),
                )
                rec = mapper.map(_with_brevo_fields(rec.contact, result.corrections))
            out.append((rec, cid))
        if settled and not dry_run:
            self.state.forget_own_writes(TO_BREVO, settled)
        return out

    def _agreed(self, rec: ReverseRecord, names: Iterable[str]) -> dict[str, str]:
        """Per-field digests of Brevo's values of ``names`` (what both sides hold once they are written)."""
        out: dict[str, str] = {}
        for name in names:
            key = self._field_keys.get(name)
            if key is not None and key in rec.brevo_fields:
                out[key] = field_digest(rec.brevo_fields[key])
        return out

    def _flush(self, pending: list[_Pending], dry_run: bool) -> None:
        self._claimed = {}  # from here on the identity map knows who stands for whom (memory stays flat)
        if dry_run:
            writes = [p for p in pending if "attributes" in p.op]
            self.summary.updated += len(writes)  # dry run: "would write"
            # Track identify is an upsert: a contact no Customer.io person stands for yet would be created
            creates = [p.record.key for p in writes if p.cio_id is None]
            updates = [p.cio_id for p in writes if p.cio_id is not None]
            self.summary.plan_add("creates", len(creates), items=creates)
            self.summary.plan_add("updates", len(updates), items=updates)
            unsubscribes = [p.cio_id or p.record.key for p in writes if UNSUBSCRIBED in p.op["attributes"]]
            self.summary.plan_add("unsubscribes", len(unsubscribes), items=unsubscribes)
            suppressions = [p.cio_id or p.record.key for p in pending if p.op.get("action") == "suppress"]
            self.summary.plan_add("suppressions", len(suppressions), items=suppressions)
        elif pending:
            self._write(pending)

    def _resolve_identity(self, rec: ReverseRecord, claimed: dict[str, int]) -> str | None | bool:
        """The Customer.io ``cio_id`` this contact stands for (``None`` if unknown), or ``False`` when its identity
        clashes (ledgered)."""
        found: dict[str, Any] = {}
        for label, kwargs in (
            ("brevo contact id", {"brevo_id": rec.contact.id}),
            ("id", {"ext_id": rec.customer_id}),
            ("email", {"email": rec.email}),
        ):
            if next(iter(kwargs.values())) is None:
                continue
            ident = self.state.find_identity(**kwargs)
            if ident is not None:
                found.setdefault(ident.cio_id, (label, ident))
        if len(found) > 1:
            others = [
                {
                    "cio_id": cid,
                    "matched_by": label,
                    "email": ident.email,
                    "id": ident.ext_id,
                    "brevo_contact_id": ident.brevo_id,
                }
                for cid, (label, ident) in found.items()
            ]
            listing = ", ".join(f"{o['cio_id']} by {o['matched_by']}" for o in others)
            self._clash(rec, f"its identifiers belong to different Customer.io people ({listing})", others)
            return False
        if not found:
            return None
        cio_id, (label, ident) = next(iter(found.items()))
        owner = claimed.get(cio_id)
        if owner is None and ident.brevo_id is not None and ident.brevo_id != rec.contact.id:
            # the person stood for another contact; a clash only if that contact still exists in Brevo
            owner = ident.brevo_id if self.source.contact_exists(ident.brevo_id) else None
        if owner is not None and owner != rec.contact.id:
            self._clash(
                rec,
                f"Customer.io person {cio_id} (matched by {label}) already stands for Brevo contact {owner}",
                [{"cio_id": cio_id, "email": ident.email, "id": ident.ext_id, "brevo_contact_id": owner}],
            )
            return False
        if ident.ext_id and rec.customer_id and ident.ext_id != rec.customer_id:
            self._clash(
                rec,
                f"Customer.io person {cio_id} (matched by {label}) has id {ident.ext_id!r}, but the "
                f"Brevo contact carries id {rec.customer_id!r}",
                [{"cio_id": cio_id, "email": ident.email, "id": ident.ext_id, "brevo_contact_id": ident.brevo_id}],
            )
            return False
        claimed[cio_id] = rec.contact.id
        return cio_id

    def _clash(self, rec: ReverseRecord, why: str, other: list[dict[str, Any]]) -> None:
        self.ledger.reject(
            record_id=rec.key,
            reason="identity_clash",
            stage="identify",
            message=f"identity clash: {why}. Nothing was written; it is not retried until the contact changes again. "
            "Fix: merge the duplicate people in Customer.io, or correct the email / EXT_ID in Brevo.",
            identifiers=rec.identities,
            detail={"brevo": rec.identities, "customerio": other},
        )

    # -------------------------------------------------------------- conflicts

    def _decide_fields(self, candidates: list[tuple[ReverseRecord, str, set[str]]]) -> dict[int, _Decision]:
        """Decide, field by field, what of Brevo's changes reaches people Customer.io already knows.

        Per field, against the value both sides last agreed on (the per-field digests of the sync state, written by
        whichever direction synced the field):

        * Brevo changed it, Customer.io did not: it flows (written);
        * both sides hold the same value already: nothing to write, the agreement is recorded;
        * both sides changed it since they last agreed: a **conflict**, decided by the policy for this field alone
          (Customer.io's time is the field's own ``timestamps`` entry). Customer.io's winning value reaches Brevo
          with the next Customer.io -> Brevo run;
        * a Customer.io value that cannot reach Brevo (a value the people sync ledgers, e.g. ``invalid_phone``) is
          not a change on Customer.io's side: it never makes a conflict.

        A person synced before the per-field state existed has no digests yet: a field is then in conflict only if
        Customer.io's profile has a change that has not reached Brevo (the person-level hash) and Customer.io's
        value of that field differs from Brevo's. Costs one App API call per 100 such people. A person deleted
        from Customer.io is never re-created from Brevo (GDPR; docs/vendor-behaviour.md).
        """
        out: dict[int, _Decision] = {}
        if not candidates or self._forward_mapper is None:
            return out
        cids = [cid for _, cid, _ in candidates]
        forward_hashes = self.state.get_hashes(CIO_TO_BREVO, cids)
        baselines = self.state.get_field_digests(cids)
        # without a record of what both sides synced there is nothing to tell a Customer.io change by
        candidates = [c for c in candidates if c[1] in forward_hashes or c[1] in baselines]
        for i in range(0, len(candidates), HYDRATE_CHUNK):
            chunk = candidates[i : i + HYDRATE_CHUNK]
            profiles = {p.person.cio_id: p for p in self.writer.profiles([cid for _, cid, _ in chunk])}
            own = self.state.get_own_writes(TO_CIO, [cid for _, cid, _ in chunk])
            for rec, cid, changed in chunk:
                profile = profiles.get(cid)
                if profile is None:  # deleted in Customer.io: never re-created from Brevo
                    self._log_conflict(rec, cid, None, "customerio", None, deleted=True)
                    out[rec.contact.id] = _Decision(lost=True, dropped=True)
                    continue
                out[rec.contact.id] = self._decide_person(
                    rec, cid, changed, profile, baselines.get(cid), forward_hashes.get(cid), own.get(cid)
                )
        return out

    def _decide_person(
        self,
        rec: ReverseRecord,
        cid: str,
        changed: set[str],
        profile: Profile,
        base: Mapping[str, str] | None,
        forward_hash: str | None,
        own: Mapping[str, OwnWrite] | None = None,
    ) -> _Decision:
        assert self._forward_mapper is not None
        mapped = self._forward_mapper.map(profile.person)
        if own and not isinstance(mapped, RejectedPerson):
            mapped = self._settle_profile(mapped, profile, own)
        if isinstance(mapped, RejectedPerson):  # Customer.io's side cannot reach Brevo at all
            cio_values: dict[str, Any] = {}
            blocked: set[str] = set()
            person_changed = False
        else:
            cio_values = row_field_values(mapped.row)
            blocked = {p.target for p in mapped.problems}
            person_changed = mapped.content_hash(self.list_ids) != forward_hash
        d = _Decision()
        for name in sorted(changed):
            key = self._field_keys.get(name)
            if key is None or key not in rec.brevo_fields:
                d.write.add(name)  # consent (``unsubscribed``) always flows, and ratchets one way
                continue
            brevo_digest = field_digest(rec.brevo_fields[key])
            cio_value = cio_values.get(key)
            cio_digest = field_digest(cio_value) if cio_value is not None and key not in blocked else None
            if cio_digest == brevo_digest:
                d.agreed[key] = brevo_digest  # both sides hold the value already
                continue
            if base is not None:
                if base.get(key) == brevo_digest:
                    continue  # Brevo did not change this field since both sides agreed on it
                cio_changed = cio_digest is not None and cio_digest != base.get(key)
            else:
                cio_changed = cio_digest is not None and person_changed
            winner = self._winner(rec, profile, name) if cio_changed else "brevo"
            if cio_changed:
                self._log_conflict(rec, cid, name, winner, profile.field_times.get(name, profile.changed_at))
            if winner == "brevo":
                d.write.add(name)
                d.agreed[key] = brevo_digest
            else:
                d.lost = True
        return d

    def _settle_profile(self, mapped: MappedRow, profile: Profile, own: Mapping[str, OwnWrite]) -> MappedRow:
        """A Customer.io profile read older than this sync's own write of a field shows that field as written: the
        old value is no Customer.io change, so it makes no conflict (:mod:`.stale`; forgotten by the people sync)."""
        sources = self._forward_mapper.field_sources if self._forward_mapper is not None else {}

        def read_time(key: str) -> float | None:
            source = UNSUBSCRIBED if key == BLACKLIST_FIELD else sources.get(key)
            return profile.field_times.get(source) if source is not None else None

        result = settle(read_values(mapped), own, read_time, now=self.now(), settle_s=self.settle_s)
        return with_fields(mapped, result.corrections)

    def _winner(self, rec: ReverseRecord, profile: Profile, name: str) -> str:
        changed_at = profile.field_times.get(name, profile.changed_at)
        if self.policy == "brevo_wins":
            return "brevo"
        if self.policy == "customerio_wins" or changed_at is None:
            return "customerio"
        # Customer.io reports whole seconds: its change counts as made at the end of that second, so a tie within
        # the second goes to Customer.io (the default winner).
        return "brevo" if rec.contact.modified_at > changed_at * 1000 + 999 else "customerio"

    def _log_conflict(
        self,
        rec: ReverseRecord,
        cid: str,
        name: str | None,
        winner: str,
        changed_at: int | None,
        *,
        deleted: bool = False,
    ) -> None:
        self.summary.conflicts[winner] += 1
        self.summary.conflict_log.append(
            {
                "cio_id": cid,
                "brevo_contact_id": rec.contact.id,
                "field": name,
                "policy": self.policy,
                "winner": winner,
                "brevo_modified_at": _iso_ms(rec.contact.modified_at),
                "customerio_changed_at": _iso_ms(changed_at * 1000) if changed_at is not None else None,
                "customerio_deleted": deleted,
            }
        )
        log.info(
            "Conflict on %s / Brevo contact %s, field %s: %s -> %s wins", cid, rec.contact.id, name, self.policy, winner
        )

    # -------------------------------------------------------------- writing

    def _operation(self, rec: ReverseRecord, cio_id: str | None, changed: set[str]) -> dict[str, Any] | None:
        if cio_id and self._email_key in changed:
            identifiers = {"cio_id": cio_id}  # Customer.io changes an email only for a person named by cio_id
        elif rec.customer_id:
            identifiers = {"id": rec.customer_id}
        elif cio_id:
            identifiers = {"cio_id": cio_id}
        elif rec.email:
            identifiers = {"email": rec.email}
        elif rec.phone:
            identifiers = {"phone": rec.phone}
        else:
            self.ledger.reject(
                record_id=rec.key,
                reason="missing_identifier",
                stage="map",
                message="the Brevo contact has no EXT_ID, no known Customer.io person, no valid email "
                "and no SMS number: Customer.io cannot identify it. Add one in Brevo.",
                identifiers=rec.identities,
            )
            return None
        op: dict[str, Any] = {"type": "person", "action": "identify", "identifiers": identifiers}
        attrs = {k: v for k, v in rec.attributes.items() if k in changed}
        if attrs:
            op["attributes"] = attrs  # no "timestamp": Customer.io stamps the current time (backfill safety)
        return op

    def _new_packer(self) -> Packer[_Pending]:
        return Packer(
            max_bytes=self.batch_budget_bytes,
            max_count=TRACK_BATCH_MAX_OPS,
            size_of=lambda p: json_size(p.op, compact=True),
            overhead_bytes=TRACK_BATCH_OVERHEAD_BYTES,
            separator_bytes=1,
            max_item_bytes=TRACK_OPERATION_LIMIT_BYTES,
        )

    def _write(self, pending: list[_Pending]) -> None:
        queue = pending
        while queue:
            retry: list[_Pending] = []
            packer = self._new_packer()
            outputs: list[Batch[_Pending] | Oversize[_Pending]] = []
            for item in queue:
                outputs.extend(packer.add(item))
            outputs.extend(packer.flush())
            for out in outputs:
                if isinstance(out, Oversize):
                    self.ledger.reject(
                        record_id=out.item.record.key,
                        reason=out.reason,
                        stage="pack",
                        message=f"{out.message} (Track v2 operation limit); trim the contact's attributes in Brevo",
                        identifiers=out.item.record.identities,
                    )
                    continue
                retry.extend(self._send(out.items))
            queue = retry

    def _send(self, items: list[_Pending]) -> list[_Pending]:
        """Send one batch; commit what was applied, ledger the permanent rejects, return the ones to re-send."""
        sent_at = self.now()  # before the batch: Customer.io applies it later (the people sync's stale-read check)
        self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
        errors = self.writer.send_batch([p.op for p in items])
        self.summary.batches += 1
        by_index = {e.index: e for e in errors}
        ok: list[_Pending] = []
        retry: list[_Pending] = []
        for i, item in enumerate(items):
            err = by_index.get(i)
            if err is None:
                ok.append(item)
                continue
            item.attempts += 1
            if err.reason in TRANSIENT_REASONS and item.attempts < self.max_attempts:
                retry.append(item)
                continue
            self.ledger.reject(
                record_id=item.record.key,
                reason="vendor_rejected",
                stage="track_batch",
                message=f"Customer.io rejected the operation: {err.reason}"
                f"{' on ' + err.field if err.field else ''}: {err.message}"
                + (f" (after {item.attempts} attempts)" if err.reason in TRANSIENT_REASONS else ""),
                identifiers=item.record.identities,
                detail={"vendor_reason": err.reason, "field": err.field, "identifiers": item.op.get("identifiers")},
            )
        unknown = [e for e in errors if not 0 <= e.index < len(items)]
        for e in unknown:
            self.summary.notes.append(f"Track batch error without a valid batch_index: {e.reason}: {e.message}")
        self._commit(ok, written_at=sent_at)
        if retry:
            log.warning("Track batch: %d operation(s) failed transiently; re-sending them", len(retry))
        return retry

    def _commit(self, items: list[_Pending], written_at: float | None = None) -> None:
        s = self.summary
        with self.state.transaction():
            if written_at is not None:
                self.state.record_own_writes(TO_CIO, self._own_writes(items), written_at)
            self.state.set_hashes(
                BREVO_TO_CIO, [(p.record.key, p.record.snapshot().encode()) for p in items if not p.lost]
            )
            forward = [(p.cio_id, p.record.forward_hash) for p in items if p.cio_id]
            if forward:
                self.state.set_hashes(CIO_TO_BREVO, forward)
            self.state.set_field_digests((p.cio_id, p.agreed) for p in items if p.cio_id and p.agreed)
            for p in items:
                if "attributes" in p.op:
                    s.updated += 1  # Track identify is an upsert: it does not say whether it created the person
                    if UNSUBSCRIBED in p.op["attributes"]:
                        s.unsubscribed += 1
                elif p.op.get("action") == "suppress":
                    s.suppressed += 1
                if p.cio_id:
                    self.state.upsert_identity(
                        p.cio_id, brevo_id=p.record.contact.id, email=p.record.email, ext_id=p.record.customer_id
                    )

    def _own_writes(self, items: list[_Pending]) -> list[tuple[str, str, Any]]:
        """``(cio_id, field, value)`` of the fields the applied operations wrote (Brevo's canonical values)."""
        out: list[tuple[str, str, Any]] = []
        for p in items:
            if not p.cio_id or p.op.get("action") != "identify":
                continue
            for name in p.op.get("attributes") or {}:
                if name == UNSUBSCRIBED:
                    out.append((p.cio_id, BLACKLIST_FIELD, True))
                    continue
                key = self._field_keys.get(name)
                if key is not None and key in p.record.brevo_fields:
                    out.append((p.cio_id, key, p.record.brevo_fields[key]))
        return out


def _with_brevo_fields(contact: BrevoContact, values: Mapping[str, Any]) -> BrevoContact:
    """``contact`` with the fields of ``values`` (per-field keys, canonical Brevo form) set to them."""
    attrs, email, blacklisted = split_fields(values, contact.attributes, contact.email, contact.email_blacklisted)
    return dataclasses.replace(contact, attributes=attrs, email=email, email_blacklisted=blacklisted)


def _op_size(p: _Pending) -> int:
    return json_size(p.op, compact=True) + 1


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


__all__ = [
    "CONFLICT_POLICIES",
    "DEFAULT_CONFLICT_POLICY",
    "BatchError",
    "BrevoContact",
    "ContactSource",
    "PeopleWriter",
    "Profile",
    "ReverseMapper",
    "ReverseRecord",
    "ReverseSummary",
    "ReverseSync",
    "ReverseSyncError",
    "Snapshot",
    "format_brevo_time",
    "parse_ms",
    "to_customerio",
    "to_unix_timestamp",
]
