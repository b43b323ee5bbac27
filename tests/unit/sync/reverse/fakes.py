"""In-memory ports and helpers of the reverse sync's unit tests (no Airflow, no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore
from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.mapping import (
    BrevoAttribute,
    MappedRow,
    Person,
    PersonMapper,
    row_field_digests,
)
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.reverse.ports import (
    BatchError,
    BrevoContact,
    Profile,
)
from airflow_provider_customerio.sync.reverse.run import ReverseSync

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)
MS0 = int(T0.timestamp() * 1000)

ATTRIBUTES = [
    BrevoAttribute("FIRSTNAME", "text"),
    BrevoAttribute("PLAN_NAME", "text"),
    BrevoAttribute("SIGNUP_DATE", "date"),
    BrevoAttribute("MONTHLY_REVENUE", "float"),
    BrevoAttribute("VIP", "boolean"),
    BrevoAttribute("TIER", "category", enumeration={"gold": 1, "silver": 2}),
    BrevoAttribute("CIO_ID", "text"),
    BrevoAttribute("SMS", "text"),
    BrevoAttribute("EXT_ID", "text"),
]
MAPPING = {
    "id": "CIO_ID",
    "email": "email",
    "first_name": "FIRSTNAME",
    "plan": "PLAN_NAME",
    "created_at": "SIGNUP_DATE",
    "mrr": "MONTHLY_REVENUE",
    "vip": "VIP",
    "tier": "TIER",
    "phone": "SMS",
}


def make_config(policy: str = "customerio_wins", **people: Any) -> Any:
    return parse_config(
        {
            "connectors": {
                "customerio": {
                    "lists": {"all_contacts": 12},
                    "field_mapping": MAPPING,
                    "people": {"reject_threshold": 1.0, **people},
                    "reverse": {"conflict_policy": policy},
                }
            }
        }
    ).customerio


def contact(
    cid: int, *, email: str | None = None, minutes: float = 5, blacklisted: bool = False, **attrs: Any
) -> BrevoContact:
    return BrevoContact(
        id=cid, email=email, attributes=attrs, email_blacklisted=blacklisted, modified_at=MS0 + int(minutes * 60_000)
    )


class FakeBrevo:
    def __init__(self, contacts: list[BrevoContact]) -> None:
        self.contacts = contacts
        self.existing: set[int] = {c.id for c in contacts}
        self.reads = 0

    def list_attributes(self) -> list[BrevoAttribute]:
        return ATTRIBUTES

    def iter_modified(self, since: datetime | None) -> Iterator[BrevoContact]:
        self.reads += 1
        mark = int(since.timestamp() * 1000) if since else None
        for c in sorted(self.contacts, key=lambda c: c.id):
            if mark is None or c.modified_at >= mark:
                yield c

    def contact_exists(self, contact_id: int) -> bool:
        return contact_id in self.existing


class FakeCIO:
    def __init__(self, people: dict[str, Profile] | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.script: list[list[BatchError]] = []  # errors of the next sends, in order
        self.people = people or {}
        self.profile_calls = 0

    def send_batch(self, operations: Sequence[Any]) -> list[BatchError]:
        self.batches.append([dict(o) for o in operations])
        return self.script.pop(0) if self.script else []

    def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
        self.profile_calls += 1
        return [self.people[c] for c in cio_ids if c in self.people]

    @property
    def ops(self) -> list[dict[str, Any]]:
        return [op for b in self.batches for op in b]


def run(
    state: StateStore,
    contacts: list[BrevoContact],
    tmp_path: Path,
    *,
    cio: FakeCIO | None = None,
    policy: str = "customerio_wins",
    window: RunWindow | None = RunWindow(T0, T1),
    run_key: str = "d/r/t",
    also_in_brevo: set[int] = frozenset(),
    **kw: Any,
) -> tuple[Any, FakeCIO, list[dict[str, Any]]]:
    cio = cio or FakeCIO()
    brevo = FakeBrevo(contacts)
    brevo.existing |= also_in_brevo
    path = tmp_path / f"{run_key.replace('/', '_')}.jsonl"
    cp = ReverseSync.load_checkpoint(state, run_key)  # as the operator does: a resumed run cuts the ledger back
    with Ledger(path, truncate_to=cp["ledger_offset"] if cp else None) as ledger:
        summary = ReverseSync(
            config=make_config(policy), source=brevo, writer=cio, state=state, ledger=ledger, run_key=run_key, **kw
        ).run(window=window)
    return summary, cio, read_ledger(path)


def synced(state: StateStore, **attrs: Any) -> tuple[Person, dict[str, Any]]:
    """A person the Customer.io -> Brevo sync wrote (hash, identity and per-field digests, as it commits them)."""
    person = Person(cio_id="c1", id="u1", email="a@x.io", attributes=attrs)
    row = PersonMapper(make_config().field_mapping, ATTRIBUTES).map(person)
    assert isinstance(row, MappedRow)
    state.set_hashes(CIO_TO_BREVO, [("c1", row.content_hash([12]))])
    state.set_field_digests([("c1", row_field_digests(row.row))])
    state.upsert_identity("c1", email="a@x.io", ext_id="u1")
    return person, dict(row.row["attributes"])


def cio_now(times: dict[str, int] | None = None, **attrs: Any) -> FakeCIO:
    person = Person(cio_id="c1", id="u1", email="a@x.io", attributes=attrs)
    stamps = times or {}
    return FakeCIO({"c1": Profile(person, max(stamps.values()) if stamps else None, field_times=stamps)})
