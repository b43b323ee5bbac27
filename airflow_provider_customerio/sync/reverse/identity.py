"""Which Customer.io person a Brevo contact stands for, and the identity clashes that stop a write."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.sync.ports import RejectSink, SyncState
from airflow_provider_customerio.sync.reverse.mapping import ReverseRecord
from airflow_provider_customerio.sync.reverse.ports import ContactSource

if TYPE_CHECKING:
    from airflow_provider_customerio.store.state import Identity


class IdentityResolver:
    """Finds a contact's ``cio_id`` in the identity map (by Brevo contact id, Customer.io ``id``, email) and ledgers
    a clash (reason ``identity_clash``) when its identifiers point at two people, or the person already stands for
    another Brevo contact that still exists.

    :param state: the sync state (identity map).
    :param source: the Brevo port (asked whether a contact still exists, only on a suspected clash).
    :param ledger: where clashes are rejected (the run's ledger, or the rejects it holds until their cut).
    """

    def __init__(self, state: SyncState, source: ContactSource, ledger: RejectSink) -> None:
        self.state = state
        self.source = source
        self.ledger = ledger
        #: the identity map's entries for the records being resolved (:meth:`resolve_all`), by identifier kind
        self._known: dict[str, dict[Any, Identity]] | None = None

    def resolve_all(
        self, records: Sequence[ReverseRecord], claimed: MutableMapping[str, int]
    ) -> list[str | None | bool]:
        """:meth:`resolve` for each record, the identity map read once for all of them (3 queries per 500 records
        instead of up to 3 per record). Nothing may write the identity map meanwhile (the run commits after)."""
        self._known = self.state.find_identities(
            brevo_ids=[r.contact.id for r in records],
            ext_ids=[r.customer_id for r in records if r.customer_id is not None],
            emails=[r.email for r in records if r.email is not None],
        )
        try:
            return [self.resolve(rec, claimed) for rec in records]
        finally:
            self._known = None

    def _find(self, kind: str, value: Any) -> Identity | None:
        if self._known is not None:
            return self._known[kind].get(value)
        return self.state.find_identity(**{kind: value})

    def resolve(self, rec: ReverseRecord, claimed: MutableMapping[str, int]) -> str | None | bool:
        """The Customer.io ``cio_id`` this contact stands for (``None`` if unknown), or ``False`` when its identity
        clashes (ledgered)."""
        found: dict[str, Any] = {}
        for label, kind, value in (
            ("brevo contact id", "brevo_id", rec.contact.id),
            ("id", "ext_id", rec.customer_id),
            ("email", "email", rec.email),
        ):
            if value is None:
                continue
            ident = self._find(kind, value)
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
