"""Per-field conflicts of the two-way sync: what of Brevo's changes reaches people Customer.io already knows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_customerio.store.state import CIO_TO_BREVO, TO_CIO, OwnWrite
from airflow_provider_customerio.sync.hashing import field_digest
from airflow_provider_customerio.sync.mapping import (
    MappedRow,
    PersonMapper,
    RejectedPerson,
    row_field_values,
)
from airflow_provider_customerio.sync.ports import SyncState
from airflow_provider_customerio.sync.reverse.mapping import UNSUBSCRIBED, ReverseRecord
from airflow_provider_customerio.sync.reverse.ports import PeopleWriter, Profile
from airflow_provider_customerio.sync.reverse.summary import ReverseSummary
from airflow_provider_customerio.sync.stale import BLACKLIST_FIELD, read_values, settle, with_fields

log = logging.getLogger(__name__)

#: Customer.io profiles read per App API call.
HYDRATE_CHUNK = 100


@dataclass
class Decision:
    """The fields of one contact to write, after comparing them field by field with Customer.io."""

    write: set[str] = field(default_factory=set)
    agreed: dict[str, str] = field(default_factory=dict)
    lost: bool = False
    dropped: bool = False


class ConflictResolver:
    """Decides, field by field, a contact's changes against Customer.io's profile by the conflict policy, and
    records every resolution in the summary (``conflicts``, ``conflict_log``).

    :param state: the sync state (per-field digests, forward hashes, own writes).
    :param writer: the Customer.io port (profiles).
    :param summary: the run's summary (conflicts are counted there).
    :param policy: ``customerio_wins``, ``brevo_wins`` or ``newest_wins``.
    :param forward_mapper: the Customer.io -> Brevo mapper (what Customer.io's profile would make in Brevo).
    :param field_keys: Customer.io attribute -> its key in the per-field sync state.
    :param list_ids: the lists the forward sync adds people to (part of its content hash).
    :param now: wall time in unix seconds; ``settle_s``: seconds an own write decides stale reads.
    """

    def __init__(
        self,
        *,
        state: SyncState,
        writer: PeopleWriter,
        summary: ReverseSummary,
        policy: str,
        forward_mapper: PersonMapper,
        field_keys: Mapping[str, str],
        list_ids: list[int],
        now: Callable[[], float],
        settle_s: float,
    ) -> None:
        self.state = state
        self.writer = writer
        self.summary = summary
        self.policy = policy
        self.forward_mapper = forward_mapper
        self.field_keys = field_keys
        self.list_ids = list_ids
        self.now = now
        self.settle_s = settle_s

    def decide_fields(self, candidates: list[tuple[ReverseRecord, str, set[str]]]) -> dict[int, Decision]:
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
        out: dict[int, Decision] = {}
        if not candidates:
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
                    out[rec.contact.id] = Decision(lost=True, dropped=True)
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
    ) -> Decision:
        mapped = self.forward_mapper.map(profile.person)
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
        d = Decision()
        for name in sorted(changed):
            key = self.field_keys.get(name)
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
        sources = self.forward_mapper.field_sources

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
                "brevo_modified_at": iso_ms(rec.contact.modified_at),
                "customerio_changed_at": iso_ms(changed_at * 1000) if changed_at is not None else None,
                "customerio_deleted": deleted,
            }
        )
        log.info(
            "Conflict on %s / Brevo contact %s, field %s: %s -> %s wins", cid, rec.contact.id, name, self.policy, winner
        )


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
