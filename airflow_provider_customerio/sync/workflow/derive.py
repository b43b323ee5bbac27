"""Derive the rows to write: compare each person's state with the token last written to Brevo.

Each state gets a token ``<created>.<at>:<content hash>``: equal to the stored one means unchanged (nothing
written), an older ``(created, at)`` means stale (an older window, e.g. a backfill, never overwrites newer
state), anything else is written. Pure logic, no Airflow and no HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.sync.mapping import ConversionError, normalise_email
from airflow_provider_customerio.sync.workflow.fold import PersonState

#: Hash direction under which the written workflow state is remembered in the sync state store.
WORKFLOW_DIRECTION = "cio_workflow_state"
#: Kind of the staged items of a run.
STAGED_KIND = "workflow_state"


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


class _Changes:
    """The rows to write of one derive, one per Brevo identity (the newer state wins a clash)."""

    def __init__(self, result: DeriveResult) -> None:
        self.result = result
        self.by_identity: dict[str, int] = {}
        self.verdicts: list[str] = []  # "new" or "changed", parallel to result.changes

    def add(self, key: str, token: str, row: dict[str, Any], verdict: str) -> None:
        result = self.result
        ident = _row_identity(row)
        if ident not in self.by_identity:
            self.by_identity[ident] = len(result.changes)
            result.changes.append((key, token, row))
            self.verdicts.append(verdict)
            return
        pos = self.by_identity[ident]
        other_key, other_token, _ = result.changes[pos]
        if (_token_time(token) or (0, 0)) > (_token_time(other_token) or (0, 0)):
            result.changes[pos] = (key, token, row)
            self.verdicts[pos] = verdict
            loser = other_key
        else:
            loser = key
        result.rejected.append(
            Rejected(
                loser,
                "duplicate_in_batch",
                f"another Customer.io person with the same Brevo identifier ({ident}) has a newer state; "
                "only one contact can hold it. Merge the duplicates in Customer.io.",
                {"identity": ident},
            )
        )


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
    changes = _Changes(result)

    def flush(pending: list[tuple[PersonState, str, dict[str, Any]]]) -> None:
        stored = stored_tokens([s.person_key for s, _, _ in pending])
        for state, token, row in pending:
            verdict = compare_token(token, stored.get(state.person_key))
            if verdict == "unchanged":
                result.unchanged += 1
            elif verdict == "stale":
                result.stale += 1
            else:
                changes.add(state.person_key, token, row, verdict)

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
    result.new = changes.verdicts.count("new")
    result.changed = changes.verdicts.count("changed")
    return result
