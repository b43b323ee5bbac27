"""Workflow state: where each person stands in their Customer.io journeys, mirrored into Brevo attributes.

Pure logic, no Airflow and no HTTP. Two steps, each resumable:

1. **Derive** (:func:`derive_changes`): fold the deliveries of ``/v1/messages`` (each with ``metrics``
   ``{metric: unix ts}``) and, when present, the stored reporting-webhook events (``{event_id, object_type,
   metric, timestamp, data{delivery_id, identifiers, campaign_id, action_id, ...}}``) into one
   :class:`PersonState` per person: the person's last message (latest ``created``), its campaign and action, and
   its latest state with that state's time. Each state gets a token ``<created>.<at>:<content hash>``, compared
   with the token last written to Brevo: equal means unchanged (nothing written), an older ``(created, at)``
   means stale (an older window, e.g. a backfill, never overwrites newer state), anything else is written.
2. **Write** (:class:`WorkflowStateWriter`): pack the staged rows into Brevo import batches, submit, wait for
   each process and only then record the written tokens. A killed task resumes: submitted imports are
   recorded before waiting, and a re-submitted import is an upsert.

Every person read ends in Brevo, as unchanged, or in the rejected-records ledger with its reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_customerio.sync.batching import Batch, Oversize, Packer
from airflow_provider_customerio.sync.mapping import ConversionError, normalise_email
from airflow_provider_customerio.sync.ports import RejectSink

#: Hash direction under which the written workflow state is remembered in the sync state store.
WORKFLOW_DIRECTION = "cio_workflow_state"
#: Kind of the staged items of a run.
STAGED_KIND = "workflow_state"

#: The state fields and the Brevo attribute each is written to by default.
DEFAULT_ATTRIBUTES: Mapping[str, str] = {
    "campaign": "CIO_LAST_CAMPAIGN",
    "campaign_id": "CIO_LAST_CAMPAIGN_ID",
    "action": "CIO_LAST_ACTION",
    "status": "CIO_LAST_MESSAGE_STATUS",
    "at": "CIO_LAST_MESSAGE_AT",
}
#: Brevo attribute types used when the attributes are created.
ATTRIBUTE_TYPES: Mapping[str, str] = {
    "campaign": "text",
    "campaign_id": "text",
    "action": "text",
    "status": "text",
    "at": "text",
}

#: Progress of a message, used only to order two states reached in the same second.
STATUS_ORDER: tuple[str, ...] = (
    "created",
    "drafted",
    "attempted",
    "deferred",
    "sent",
    "delivered",
    "opened",
    "human_opened",
    "clicked",
    "human_clicked",
    "converted",
    "replied",
    "suppressed",
    "undeliverable",
    "dropped",
    "failed",
    "bounced",
    "spammed",
    "unsubscribed",
    "topic_unsubscribed",
)
_RANK = {name: i for i, name in enumerate(STATUS_ORDER)}
#: Webhook ``object_type`` values that describe a message (``customer`` events do not).
MESSAGE_OBJECT_TYPES = frozenset({"email", "push", "in_app", "sms", "slack", "webhook", "whatsapp"})
#: Brevo import bodies may be 10 MB; stay well below.
IMPORT_MAX_BYTES = 4_000_000
IMPORT_MAX_ROWS = 50_000
#: A failed import is submitted again this many times before its rows go to the ledger.
IMPORT_ATTEMPTS = 2
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class WorkflowStateError(ValueError):
    """The workflow-state settings or inputs are invalid; the message names the field and the fix."""


# --------------------------------------------------------------------------------------------- settings
def attribute_names(overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The Brevo attribute of each state field: defaults, overridden by ``overrides``; a ``None``/empty value
    turns a field off. Names must be upper-case Brevo names and distinct.

    :raises WorkflowStateError: an unknown field, a bad or repeated name.
    """
    names = dict(DEFAULT_ATTRIBUTES)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_ATTRIBUTES:
            raise WorkflowStateError(
                f"attribute_names.{key}: unknown state field; use one of {', '.join(DEFAULT_ATTRIBUTES)}."
            )
        if value in (None, ""):
            names.pop(key, None)
            continue
        if not isinstance(value, str) or not value or set(value) - _NAME_CHARS or value[0].isdigit():
            suggestion = "".join(c if c.isalnum() else "_" for c in str(value)).upper().strip("_") or "CIO_NAME"
            raise WorkflowStateError(
                f"attribute_names.{key}: {value!r} is not a Brevo attribute name; Brevo names are upper-case "
                f"letters, digits and '_'. Write {suggestion!r}."
            )
        names[key] = value
    seen: dict[str, str] = {}
    for key, value in names.items():
        if value in seen:
            raise WorkflowStateError(
                f"attribute_names.{key}: {value} is already used for {seen[value]}; give each field its own name."
            )
        seen[value] = key
    if not names:
        raise WorkflowStateError("attribute_names: every field is turned off; keep at least one attribute.")
    return names


def missing_attributes(names: Mapping[str, str], existing: Iterable[str]) -> list[tuple[str, str]]:
    """``(attribute, brevo type)`` of the configured attributes that Brevo does not have (Brevo would silently
    drop their values on import)."""
    have = {str(n).upper() for n in existing}
    return [(attr, ATTRIBUTE_TYPES[key]) for key, attr in names.items() if attr.upper() not in have]


# --------------------------------------------------------------------------------------------- folding
def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass
class _Delivery:
    delivery_id: str
    cio_id: str | None = None
    id: str | None = None
    email: str | None = None
    parent: tuple[str, str] | None = None  # (kind, id): ("campaign", "3"), ("newsletter", "5"), ...
    action_id: str | None = None
    created: int | None = None
    metrics: dict[str, int] = field(default_factory=dict)

    def merge_identity(self, identifiers: Mapping[str, Any]) -> None:
        self.cio_id = self.cio_id or _text(identifiers.get("cio_id"))
        self.id = self.id or _text(identifiers.get("id"))
        self.email = self.email or _text(identifiers.get("email"))

    def merge_metric(self, metric: str, ts: int) -> None:
        # the time a metric was first reached, as the messages feed reports it (a second open keeps the first)
        old = self.metrics.get(metric)
        if old is None or ts < old:
            self.metrics[metric] = ts

    @property
    def person_key(self) -> str | None:
        if self.cio_id:
            return self.cio_id
        if self.id:
            return f"id:{self.id}"
        if self.email:
            return f"email:{self.email.lower()}"
        return None

    @property
    def started(self) -> int | None:
        if self.created is not None:
            return self.created
        return min(self.metrics.values()) if self.metrics else None

    def latest_state(self) -> tuple[str, int] | None:
        items = [(m, t) for m, t in self.metrics.items() if m != "created"] or list(self.metrics.items())
        if not items:
            return None
        return max(items, key=lambda mt: (mt[1], _RANK.get(mt[0], -1), mt[0]))


def _parent(source: Mapping[str, Any]) -> tuple[str, str] | None:
    for kind in ("campaign", "newsletter", "broadcast", "transactional_message"):
        value = _text(source.get(f"{kind}_id"))
        if value is not None:
            return kind, value
    return None


@dataclass(frozen=True)
class PersonState:
    """A person's position: their last message and its latest state.

    :param person_key: ``cio_id`` (or ``id:<id>`` / ``email:<email>`` when Customer.io gave no cio_id).
    :param parent_kind: ``campaign``, ``newsletter``, ``broadcast`` or ``transactional_message``.
    :param parent_id: that object's id.
    :param action_id: the campaign action that sent the message.
    :param status: the latest metric reached (sent, delivered, opened, clicked, bounced, ...).
    :param at: unix seconds when ``status`` was reached.
    :param created: unix seconds when the message was created.
    """

    person_key: str
    cio_id: str | None
    id: str | None
    email: str | None
    delivery_id: str
    parent_kind: str | None
    parent_id: str | None
    action_id: str | None
    status: str
    at: int
    created: int

    def values(self, campaign_names: Mapping[str, str]) -> dict[str, str]:
        """Field -> attribute value (text)."""
        if self.parent_kind == "campaign" and self.parent_id is not None:
            name = campaign_names.get(self.parent_id) or f"campaign {self.parent_id}"
            ref = self.parent_id
        elif self.parent_kind is not None:
            name = f"{self.parent_kind.replace('_', ' ')} {self.parent_id}"
            ref = f"{self.parent_kind}:{self.parent_id}"
        else:
            name, ref = "", ""
        at = datetime.fromtimestamp(self.at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"campaign": name, "campaign_id": ref, "action": self.action_id or "", "status": self.status, "at": at}


class StateBuilder:
    """Folds deliveries and webhook events into one :class:`PersonState` per person.

    Memory holds one small record per delivery of the window (not the messages themselves).
    """

    def __init__(self) -> None:
        self._deliveries: dict[str, _Delivery] = {}
        self.messages_read = 0
        self.events_read = 0
        self.events_ignored = 0
        self.unidentified: list[dict[str, Any]] = []

    def _delivery(self, delivery_id: str) -> _Delivery:
        d = self._deliveries.get(delivery_id)
        if d is None:
            d = self._deliveries[delivery_id] = _Delivery(delivery_id)
        return d

    def add_message(self, message: Mapping[str, Any]) -> None:
        """One ``/v1/messages`` item."""
        self.messages_read += 1
        delivery_id = _text(message.get("id"))
        if delivery_id is None:
            self.unidentified.append({"source": "message", "item": {k: message.get(k) for k in ("created",)}})
            return
        d = self._delivery(delivery_id)
        idents = message.get("customer_identifiers")
        d.merge_identity(idents if isinstance(idents, Mapping) else {})
        if d.id is None:
            d.id = _text(message.get("customer_id"))
        d.parent = d.parent or _parent(message)
        d.action_id = d.action_id or _text(message.get("action_id"))
        d.created = _int(message.get("created")) if d.created is None else d.created
        metrics = message.get("metrics")
        if isinstance(metrics, Mapping):
            for metric, ts in metrics.items():
                t = _int(ts)
                if t is not None:
                    d.merge_metric(str(metric), t)

    def add_event(self, event: Mapping[str, Any]) -> None:
        """One stored reporting-webhook event (https://docs.customer.io/api/webhooks/). ``customer`` events carry
        no message state and are ignored (counted)."""
        self.events_read += 1
        raw_data = event.get("data")
        data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
        delivery_id = _text(data.get("delivery_id"))
        metric = _text(event.get("metric"))
        ts = _int(event.get("timestamp"))
        if event.get("object_type") not in MESSAGE_OBJECT_TYPES or delivery_id is None or metric is None or ts is None:
            self.events_ignored += 1
            return
        d = self._delivery(delivery_id)
        idents = data.get("identifiers")
        d.merge_identity(idents if isinstance(idents, Mapping) else {})
        if d.id is None:
            d.id = _text(data.get("customer_id"))
        d.parent = d.parent or _parent(data)
        d.action_id = d.action_id or _text(data.get("action_id"))
        d.merge_metric(metric, ts)

    def states(self) -> Iterator[PersonState]:
        """The last message's state of every person, ordered by person key."""
        # a delivery known only by id or email (e.g. a webhook event of a workspace without cio_id in its
        # identifiers) belongs to the person another delivery links to that id or email
        alias: dict[str, str] = {}
        for d in self._deliveries.values():
            if d.cio_id:
                if d.id:
                    alias.setdefault(f"id:{d.id}", d.cio_id)
                if d.email:
                    alias.setdefault(f"email:{d.email.lower()}", d.cio_id)
        best: dict[str, _Delivery] = {}
        for d in self._deliveries.values():
            key = d.person_key
            if key is not None and not d.cio_id:
                key = alias.get(key) or (alias.get(f"email:{d.email.lower()}") if d.email else None) or key
            started = d.started
            if key is None or started is None or d.latest_state() is None:
                if key is None:
                    self.unidentified.append({"source": "delivery", "delivery_id": d.delivery_id})
                continue
            cur = best.get(key)
            if cur is None or (started, d.delivery_id) > (cur.started or 0, cur.delivery_id):
                # identifiers seen on any delivery of the person complete the chosen one
                if cur is not None:
                    d.merge_identity({"cio_id": cur.cio_id, "id": cur.id, "email": cur.email})
                best[key] = d
            else:
                cur.merge_identity({"cio_id": d.cio_id, "id": d.id, "email": d.email})
        for key in sorted(best):
            d = best[key]
            status, at = d.latest_state() or ("", 0)
            yield PersonState(
                person_key=key,
                cio_id=d.cio_id,
                id=d.id,
                email=d.email,
                delivery_id=d.delivery_id,
                parent_kind=d.parent[0] if d.parent else None,
                parent_id=d.parent[1] if d.parent else None,
                action_id=d.action_id,
                status=status,
                at=at,
                created=d.started or at,
            )


# ------------------------------------------------------------------------------------------ tokens/rows
def state_token(state: PersonState, row: Mapping[str, Any]) -> str:
    """``<created>.<at>:<hash of the row>``: orders states in time and detects content changes."""
    digest = hashlib.sha256(json.dumps(row, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()
    return f"{state.created:012d}.{state.at:012d}:{digest[:24]}"


def _token_time(token: str) -> tuple[int, int] | None:
    try:
        created, at = token.split(":", 1)[0].split(".", 1)
        return int(created), int(at)
    except ValueError:
        return None


def compare_token(new: str, stored: str | None) -> str:
    """``new``, ``unchanged``, ``stale`` (older than what Brevo already has) or ``changed``."""
    if stored is None:
        return "new"
    if stored == new:
        return "unchanged"
    old_t, new_t = _token_time(stored), _token_time(new)
    if old_t is not None and new_t is not None and new_t < old_t:
        return "stale"
    return "changed"


@dataclass(frozen=True)
class Rejected:
    """A person that cannot be written, with the ledger reason."""

    person_key: str
    reason: str
    message: str
    identifiers: Mapping[str, Any] = field(default_factory=dict)


def to_import_row(
    state: PersonState, names: Mapping[str, str], campaign_names: Mapping[str, str]
) -> dict[str, Any] | Rejected:
    """The Brevo import row (``{"email", "attributes"}``; people without an email are keyed by ``EXT_ID`` =
    their Customer.io ``id``, as the people sync writes it)."""
    idents = {"cio_id": state.cio_id, "id": state.id, "email": state.email}
    values = state.values(campaign_names)
    attrs: dict[str, Any] = {names[k]: values[k] for k in names}
    if state.email:
        try:
            email = normalise_email(state.email)
        except ConversionError as exc:
            return Rejected(state.person_key, "invalid_email", f"{exc}: fix the email in Customer.io", idents)
        return {"email": email, "attributes": attrs}
    if state.id:
        return {"attributes": {**attrs, "EXT_ID": state.id}}
    return Rejected(
        state.person_key,
        "missing_identifier",
        "the person has neither an email nor an id, so no Brevo contact can be addressed",
        idents,
    )


def _row_identity(row: Mapping[str, Any]) -> str:
    if row.get("email"):
        return f"email:{row['email']}"
    return f"ext_id:{(row.get('attributes') or {}).get('EXT_ID')}"


@dataclass
class DeriveResult:
    """Outcome of :func:`derive_changes`."""

    people: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    #: ``(person_key, token, row)`` to write.
    changes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "people": self.people,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "rejected": len(self.rejected),
            "to_write": len(self.changes),
        }


def derive_changes(
    states: Iterable[PersonState],
    *,
    names: Mapping[str, str],
    campaign_names: Mapping[str, str],
    stored_tokens: Callable[[Sequence[str]], Mapping[str, str]],
    chunk: int = 1000,
) -> DeriveResult:
    """Compare each state with the token last written and keep the ones to write.

    Two people addressing the same Brevo contact (same email) in one run: the newer state is written, the other
    goes to the ledger (``duplicate_in_batch``).
    """
    result = DeriveResult()
    by_identity: dict[str, int] = {}
    verdicts: list[str] = []  # "new" or "changed", parallel to result.changes

    def flush(pending: list[tuple[PersonState, str, dict[str, Any]]]) -> None:
        stored = stored_tokens([s.person_key for s, _, _ in pending])
        for state, token, row in pending:
            verdict = compare_token(token, stored.get(state.person_key))
            if verdict == "unchanged":
                result.unchanged += 1
                continue
            if verdict == "stale":
                result.stale += 1
                continue
            ident = _row_identity(row)
            if ident in by_identity:
                pos = by_identity[ident]
                other_key, other_token, _ = result.changes[pos]
                if (_token_time(token) or (0, 0)) > (_token_time(other_token) or (0, 0)):
                    result.changes[pos] = (state.person_key, token, row)
                    verdicts[pos] = verdict
                    loser = other_key
                else:
                    loser = state.person_key
                result.rejected.append(
                    Rejected(
                        loser,
                        "duplicate_in_batch",
                        f"another Customer.io person with the same Brevo identifier ({ident}) has a newer state; "
                        "only one contact can hold it. Merge the duplicates in Customer.io.",
                        {"identity": ident},
                    )
                )
                continue
            by_identity[ident] = len(result.changes)
            result.changes.append((state.person_key, token, row))
            verdicts.append(verdict)

    pending: list[tuple[PersonState, str, dict[str, Any]]] = []
    for state in states:
        result.people += 1
        row = to_import_row(state, names, campaign_names)
        if isinstance(row, Rejected):
            result.rejected.append(row)
            continue
        pending.append((state, state_token(state, row), row))
        if len(pending) >= chunk:
            flush(pending)
            pending = []
    if pending:
        flush(pending)
    result.new = verdicts.count("new")
    result.changed = verdicts.count("changed")
    return result


# ---------------------------------------------------------------------------------------------- writing
class StatePort(Protocol):
    """The parts of ``sync.state.StateStore`` the writer uses."""

    def iter_staged(
        self, run_key: str, from_seq: int = 0, kind: str | None = None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]: ...
    def get_checkpoint(self, run_key: str) -> dict[str, Any] | None: ...
    def save_checkpoint(self, run_key: str, data: Mapping[str, Any]) -> None: ...
    def add_pending(
        self,
        run_key: str,
        process_id: str,
        rows: Iterable[tuple[str, str, Mapping[str, Any]]],
        *,
        attempt: int = 1,
        options: Mapping[str, Any] | None = None,
    ) -> None: ...
    def pending_processes(self, run_key: str) -> list[Any]: ...
    def iter_pending_rows(self, run_key: str, process_id: str) -> Iterator[Any]: ...
    def drop_pending(self, run_key: str, process_id: str) -> None: ...
    def set_hashes(self, direction: str, items: Iterable[tuple[str, str]]) -> None: ...
    def clear_run(self, run_key: str) -> None: ...
    def transaction(self) -> Any: ...
    def check_lease(self) -> None: ...


class ImportSink(Protocol):
    """Brevo imports: ``submit`` returns a process id; ``wait`` returns the finished process dict (``status``
    ``completed`` or ``failed``; ``info.import`` counts)."""

    def submit(self, rows: list[dict[str, Any]]) -> str: ...
    def wait(self, process_id: str) -> Mapping[str, Any]: ...


def import_problem_count(process: Mapping[str, Any]) -> int:
    """Rows Brevo reported as invalid or duplicate in a finished import (``info.import`` counts; a URL to a
    report, as some SDKs type it, counts as one problem)."""
    info = ((process.get("info") or {}).get("import") or {}) if isinstance(process.get("info"), Mapping) else {}
    total = 0
    for value in info.values():
        if isinstance(value, bool) or value in (None, "", 0):
            continue
        total += value if isinstance(value, int) else 1
    return total


@dataclass
class WriteResult:
    """Counts of :meth:`WorkflowStateWriter.run`."""

    written: int = 0
    imports: int = 0
    resubmitted: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class WorkflowStateWriter:
    """Writes a run's staged rows to Brevo in import batches and records what was written.

    :param state: the sync state store (staging, pending imports, tokens).
    :param port: Brevo imports.
    :param run_key: the run's key (shared by the derive and write tasks).
    :param rejects: the ledger.
    :param dry_run: submit nothing: count the staged rows (``planned``, with up to 50 example keys in
        ``planned_keys``) and drop the run's staging.
    """

    def __init__(
        self,
        state: StatePort,
        port: ImportSink,
        *,
        run_key: str,
        rejects: RejectSink,
        max_bytes: int = IMPORT_MAX_BYTES,
        max_rows: int = IMPORT_MAX_ROWS,
        dry_run: bool = False,
    ) -> None:
        self.state = state
        self.port = port
        self.run_key = run_key
        self.rejects = rejects
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.result = WriteResult()
        self.dry_run = dry_run
        self.planned = 0
        self.planned_keys: list[str] = []

    def run(self) -> WriteResult:
        if self.dry_run:
            for _seq, key, _kind, data in self.state.iter_staged(self.run_key, kind=STAGED_KIND):
                if data:
                    self.planned += 1
                    if len(self.planned_keys) < 50:
                        self.planned_keys.append(key)
            self.state.clear_run(self.run_key)
            return self.result
        # 1. imports submitted by an earlier, killed attempt
        for pending in self.state.pending_processes(self.run_key):
            self._settle(str(pending.process_id), int(pending.attempt))
        # 2. the staged rows not yet submitted
        checkpoint = self.state.get_checkpoint(self.run_key) or {}
        next_seq = int(checkpoint.get("next_seq", 0))
        # jsonBody is a list of rows: "[", "]" and ", " between rows (requests' json= encoding)
        packer: Packer[tuple[int, str, str, dict[str, Any]]] = Packer(
            max_bytes=self.max_bytes,
            max_count=self.max_rows,
            overhead_bytes=2,
            separator_bytes=2,
            size_of=lambda item: len(json.dumps(item[3]).encode("utf-8")),
        )
        for seq, key, _kind, data in self.state.iter_staged(self.run_key, from_seq=next_seq, kind=STAGED_KIND):
            if not data:
                continue
            for out in packer.add((seq, key, str(data["token"]), dict(data["row"]))):
                self._handle(out)
        for out in packer.flush():
            self._handle(out)
        self.state.clear_run(self.run_key)
        return self.result

    def _handle(
        self, out: Batch[tuple[int, str, str, dict[str, Any]]] | Oversize[tuple[int, str, str, dict[str, Any]]]
    ) -> None:
        if isinstance(out, Oversize):
            seq, key, _token, row = out.item
            self.result.rejected += 1
            self.rejects.reject(
                record_id=key, reason=out.reason, message=out.message, stage="pack", identifiers=_row_identifiers(row)
            )
            self.state.save_checkpoint(self.run_key, {"next_seq": seq + 1})
            return
        items = out.items
        self._submit([(key, token, row) for _seq, key, token, row in items], attempt=1, next_seq=items[-1][0] + 1)

    def _submit(self, rows: list[tuple[str, str, dict[str, Any]]], *, attempt: int, next_seq: int | None) -> None:
        self.state.check_lease()  # a stalled try whose lease was taken over sends nothing (store/fencing.py)
        process_id = str(self.port.submit([row for _, _, row in rows]))
        self.result.imports += 1
        with self.state.transaction():  # the pending import and the checkpoint past its rows, together
            self.state.add_pending(self.run_key, process_id, rows, attempt=attempt)
            if next_seq is not None:
                self.state.save_checkpoint(self.run_key, {"next_seq": next_seq})
        self._settle(process_id, attempt)

    def _settle(self, process_id: str, attempt: int) -> None:
        process = self.port.wait(process_id)
        rows = [(r.person_key, r.hash, dict(r.row)) for r in self.state.iter_pending_rows(self.run_key, process_id)]
        status = str(process.get("status", ""))
        if process.get("succeeded"):
            problems = import_problem_count(process)
            if problems:
                # Brevo reports counts, not which rows: none of the batch is marked written (all are re-sent on
                # the next run) and each row is in the ledger, so nothing is silently lost.
                for key, _token, row in rows:
                    self.result.rejected += 1
                    self.rejects.reject(
                        record_id=key,
                        reason="import_unverified",
                        message=f"Brevo import {process_id} reported {problems} invalid or duplicate rows out of "
                        f"{len(rows)} without naming them; this row may not be written and is re-sent "
                        "on the next run",
                        stage="import",
                        identifiers=_row_identifiers(row),
                        detail={"process_id": process_id, "info": process.get("info")},
                    )
            else:
                self.state.set_hashes(WORKFLOW_DIRECTION, [(key, token) for key, token, _ in rows])
                self.result.written += len(rows)
            self.state.drop_pending(self.run_key, process_id)
            return
        # failed or cancelled
        self.state.drop_pending(self.run_key, process_id)
        if attempt < IMPORT_ATTEMPTS and rows:
            self.result.resubmitted += 1
            self._submit(rows, attempt=attempt + 1, next_seq=None)
            return
        for key, _token, row in rows:
            self.result.rejected += 1
            self.rejects.reject(
                record_id=key,
                reason="import_failed",
                message=f"Brevo import {process_id} ended '{status}' ({process.get('error') or 'no reason given'}) "
                f"after {attempt} attempts; the row is re-sent on the next run",
                stage="import",
                identifiers=_row_identifiers(row),
                detail={"process_id": process_id},
            )


def _row_identifiers(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if row.get("email"):
        out["email"] = row["email"]
    ext = (row.get("attributes") or {}).get("EXT_ID")
    if ext:
        out["ext_id"] = ext
    return out


__all__ = [
    "ATTRIBUTE_TYPES",
    "DEFAULT_ATTRIBUTES",
    "STAGED_KIND",
    "WORKFLOW_DIRECTION",
    "DeriveResult",
    "ImportSink",
    "PersonState",
    "Rejected",
    "StateBuilder",
    "WorkflowStateError",
    "WorkflowStateWriter",
    "WriteResult",
    "attribute_names",
    "compare_token",
    "derive_changes",
    "import_problem_count",
    "missing_attributes",
    "state_token",
    "to_import_row",
]
