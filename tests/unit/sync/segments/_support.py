"""In-memory stand-ins for the two vendors of a segment mirror run, and a ledger sink.

The ports are small stateful stand-ins (not mocks of Airflow): they keep contacts and lists, apply imports and
list changes like Brevo does, and count every write so "zero writes" is checkable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.config import (
    MappedField,
    SegmentSettings,
)
from airflow_provider_customerio.sync.processes import ImportReport, ProcessOutcome, ProcessState
from airflow_provider_customerio.sync.segments.mirror import SegmentMirror
from airflow_provider_customerio.sync.segments.model import (
    MAX_HYDRATE,
    MAX_LIST_CHANGE,
    SegmentMirrorError,
)
from airflow_provider_customerio.sync.segments.ports import ContactWrite, ListChange


class FakeCustomerIO:
    """Segments with states and members; people with attributes."""

    def __init__(self) -> None:
        self.segments: dict[int, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.hydrate_calls: list[list[str]] = []
        self.membership_reads: list[int] = []

    def person(self, n: int, *, email: bool = True, id: bool = True, **attrs: str) -> dict[str, Any]:
        ident = {"cio_id": f"c{n}", "id": f"u{n}" if id else None, "email": f"p{n}@example.com" if email else None}
        self.people[ident["cio_id"]] = {"first_name": f"First{n}", "plan": "pro", **attrs}
        return ident

    def segment(self, segment_id: int, members: list[dict[str, Any]] | None, state: str = "finished") -> None:
        self.segments[segment_id] = {"state": state, "name": f"Segment {segment_id}", "members": members}

    # port
    def segment_state(self, segment_id: int) -> tuple[str, str]:
        if segment_id not in self.segments:
            raise SegmentMirrorError(f"Customer.io segment {segment_id} does not exist")
        seg = self.segments[segment_id]
        return seg["state"], seg["name"]

    def iter_members(self, segment_id: int) -> Iterator[Mapping[str, Any]]:
        self.membership_reads.append(segment_id)
        yield from self.segments[segment_id]["members"] or []  # null arrays for an empty segment

    def people_attributes(self, cio_ids: Sequence[str]) -> list[dict[str, Any]]:
        assert len(cio_ids) <= MAX_HYDRATE
        self.hydrate_calls.append(list(cio_ids))
        out = []
        for cio_id in cio_ids:
            if cio_id in self.people:
                attrs = dict(self.people[cio_id].items())
                out.append({"id": None, "identifiers": {"cio_id": cio_id}, "attributes": attrs})
        return out


class FakeBrevo:
    """Contacts, lists and attributes with Brevo's import and list-membership semantics."""

    def __init__(self, attributes: Sequence[str] = ("FIRSTNAME", "LASTNAME", "PLAN_NAME", "EXT_ID")) -> None:
        self.lists: dict[int, str] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.attributes = [{"name": a, "category": "normal", "type": "text"} for a in attributes]
        self.writes: list[tuple[str, Any]] = []
        self.next_id = 1
        self.import_report: dict[str, Any] = {}
        self.import_succeeds = True  # False: every import process ends in failure
        self.ignore_rows_with: str | None = None  # emails containing this are dropped by an import
        self.clock = 0  # logical clock: every contact change bumps it, like Brevo's modifiedAt
        self.reads: list[tuple[int, str | None]] = []
        self.bump_on_import = True
        self.refuse_ext_ids: set[str] = set()

    def add_contact(self, email: str | None, ext_id: str | None, lists: Sequence[int] = (), **attrs: Any) -> int:
        cid = self.next_id
        self.next_id += 1
        attributes = dict(attrs)
        if ext_id is not None:
            attributes["EXT_ID"] = ext_id
        self.clock += 1
        self.contacts[cid] = {
            "id": cid,
            "email": email,
            "attributes": attributes,
            "listIds": list(lists),
            "modified": self.clock,
        }
        return cid

    def members(self, list_id: int) -> set[str]:
        return {
            c["email"] or f"ext:{c['attributes'].get('EXT_ID')}"
            for c in self.contacts.values()
            if list_id in c["listIds"]
        }

    # port
    def lists_(self) -> list[tuple[int, str]]:
        return list(self.lists.items())

    def create_list(self, name: str, folder_id: int) -> int:
        self.writes.append(("create_list", name))
        new_id = max([0, *self.lists]) + 100
        self.lists[new_id] = name
        return new_id

    def list_attributes(self) -> list[dict[str, Any]]:
        return self.attributes

    def clock_mark(self) -> str:
        return str(self.clock)

    def iter_list_contacts(self, list_id: int, modified_since: str | None = None) -> Iterator[Mapping[str, Any]]:
        if list_id not in self.lists:
            raise AssertionError(f"list {list_id} read but does not exist")
        self.reads.append((list_id, modified_since))
        for c in list(self.contacts.values()):
            if list_id in c["listIds"] and (modified_since is None or c["modified"] > int(modified_since)):
                yield {**c, "attributes": dict(c["attributes"])}

    def start_import(self, rows: Sequence[Mapping[str, Any]], list_id: int) -> str:
        """Applies the rows at once (Brevo applies them before the process ends); the process id."""
        self.writes.append(("import", len(rows)))
        for row in rows:
            if self.ignore_rows_with and self.ignore_rows_with in row["email"]:
                continue
            found = next((c for c in self.contacts.values() if (c["email"] or "").lower() == row["email"]), None)
            if found is None:
                cid = self.add_contact(row["email"], None)
                found = self.contacts[cid]
            found["attributes"].update(row.get("attributes") or {})
            if list_id not in found["listIds"]:
                found["listIds"].append(list_id)
            if self.bump_on_import:
                self.clock += 1
                found["modified"] = self.clock
        return str(len(self.writes))

    def wait_import(self, process_id: str) -> ProcessState:
        if not self.import_succeeds:
            return ProcessState(process_id, ProcessOutcome.FAILED, status="cancelled")
        report = ImportReport(counts=dict(self.import_report))
        return ProcessState(process_id, ProcessOutcome.SUCCEEDED, report=report, status="completed")

    def upsert_by_ext_id(self, ext_id: str, attributes: Mapping[str, Any], list_id: int) -> ContactWrite:
        self.writes.append(("upsert_ext_id", ext_id))
        if ext_id in self.refuse_ext_ids:
            return ContactWrite(calls=1, error="duplicate_parameter")
        found = next((c for c in self.contacts.values() if c["attributes"].get("EXT_ID") == ext_id), None)
        calls = 1
        if found is None:
            found = self.contacts[self.add_contact(None, ext_id)]
            calls = 2
        found["attributes"].update(attributes)
        if list_id not in found["listIds"]:
            found["listIds"].append(list_id)
        return ContactWrite(calls=calls)

    def remove_from_list(self, list_id: int, *, contact_ids: Sequence[int]) -> ListChange:
        assert 1 <= len(contact_ids) <= MAX_LIST_CHANGE
        self.writes.append(("remove", len(contact_ids)))
        change = ListChange()
        for cid in contact_ids:
            c = self.contacts.get(cid)
            if c is not None and list_id in c["listIds"]:
                c["listIds"].remove(list_id)
                change.success.append(cid)
            else:
                change.failure.append(cid)
        return change

    def update_attributes(self, identifier: str | int, identifier_type: str, attributes: Mapping[str, Any]) -> None:
        self.writes.append(("update", identifier_type))
        for c in self.contacts.values():
            key = c["id"] if identifier_type == "contact_id" else c["attributes"].get("EXT_ID")
            if key == identifier:
                c["attributes"].update(attributes)


class _TargetPort:
    """FakeBrevo exposes ``lists_`` to keep the ``lists`` dict attribute; adapt the name."""

    def __init__(self, fake: FakeBrevo) -> None:
        self.fake = fake

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, "lists_" if name == "lists" else name)


class Ledger:
    def __init__(self) -> None:
        self.rows: list[tuple[dict[str, Any], str, str]] = []

    def __call__(self, record: Mapping[str, Any], reason: str, message: str) -> None:
        self.rows.append((dict(record), reason, message))

    @property
    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.rows]


FIELD_MAPPING = (
    MappedField("email", "email"),
    MappedField("first_name", "FIRSTNAME"),
    MappedField("plan", "PLAN_NAME"),
)


def make_mirror(
    cio: FakeCustomerIO, brevo: FakeBrevo, ledger: Ledger | None = None, **settings_kw: Any
) -> SegmentMirror:
    return SegmentMirror(
        cio,
        _TargetPort(brevo),
        SegmentSettings(**settings_kw),
        reject=ledger if ledger is not None else Ledger(),
        field_mapping=FIELD_MAPPING,
        state=StateStore(":memory:"),
        run_key="dag/run/segment_42",
    )
