"""In-memory fakes of the people sync's two ports, and the data the people tests share."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from airflow_provider_customerio.sync.config import parse_config
from airflow_provider_customerio.sync.mapping import BrevoAttribute, Person
from airflow_provider_customerio.sync.people.ports import Change
from airflow_provider_customerio.sync.people.window import RunWindow
from airflow_provider_customerio.sync.processes import ImportReport, ProcessOutcome, ProcessState

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
WINDOW = RunWindow(T0, T0 + timedelta(hours=1))


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def monotonic(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


class FakeSource:
    def __init__(self, people):
        self.people = {p.cio_id: p for p in people}
        self.changes: list[Change] = []
        self.hydrate_calls = 0
        self.full_calls = 0
        self.fail_after: int | None = None

    def iter_changes(self, since, until):
        for ch in sorted(self.changes, key=lambda c: -c.timestamp):
            if since.timestamp() <= ch.timestamp < until.timestamp():
                yield ch

    def hydrate(self, ids):
        assert len(ids) <= 100
        self.hydrate_calls += 1
        return [self.people[i] for i in ids if i in self.people]

    def start_full(self):
        self.full_calls += 1
        return {"export_id": self.full_calls}

    def iter_full(self, token):
        for n, p in enumerate(sorted(self.people.values(), key=lambda p: p.cio_id)):
            if self.fail_after is not None and n >= self.fail_after:
                raise ConnectionError("killed")
            yield p


class FakeSink:
    """Brevo: imports apply when the process is first polled after `polls_needed` polls."""

    def __init__(self, attributes):
        self.attributes = [BrevoAttribute(n, t) for n, t in attributes]
        self.contacts: dict[str, dict] = {}
        self.imports: list[dict] = []
        self.procs: dict[str, dict] = {}
        self.fail_next_processes = 0
        self.invalid_emails: set[str] = set()
        self.polls = 0
        self.deleted: list[tuple] = []
        self.blacklisted: list[tuple] = []
        self.created_attributes: list[tuple] = []
        self.ids = itertools.count(100)
        self.never_finish = False

    def list_attributes(self):
        return list(self.attributes)

    def create_attribute(self, name, type):
        self.created_attributes.append((name, type))
        self.attributes.append(BrevoAttribute(name, type))

    def start_import(self, rows, *, list_ids, email_blacklist):
        pid = str(next(self.ids))
        fail = self.fail_next_processes > 0
        self.fail_next_processes -= 1 if fail else 0
        self.procs[pid] = {
            "rows": [dict(r) for r in rows],
            "lists": list(list_ids),
            "bl": email_blacklist,
            "fail": fail,
            "done": False,
        }
        self.imports.append(self.procs[pid])
        return pid

    def get_process(self, pid):
        self.polls += 1
        p = self.procs[pid]
        if self.never_finish:
            return ProcessState(pid, ProcessOutcome.RUNNING)
        if p["fail"]:
            return ProcessState(pid, ProcessOutcome.FAILED, error="boom")
        rejected = {}
        if not p["done"]:
            for r in p["rows"]:
                if r.get("email") in self.invalid_emails:
                    rejected[r["email"]] = "import_invalid"
                    continue
                key = r.get("email") or r["attributes"]["EXT_ID"]
                c = self.contacts.setdefault(key, {"attributes": {}, "lists": set(), "blacklisted": False})
                c["attributes"].update(r["attributes"])
                c["lists"].update(p["lists"])
                c["blacklisted"] = c["blacklisted"] or p["bl"]
            p["done"] = True
            p["rejected"] = rejected
        return ProcessState(pid, ProcessOutcome.SUCCEEDED, report=ImportReport(rejected=p["rejected"]))

    def _find(self, identifier, id_type):
        for key, c in self.contacts.items():
            if (id_type == "email_id" and key == identifier) or (
                id_type == "ext_id" and c["attributes"].get("EXT_ID") == identifier
            ):
                return key
        return None

    def delete_contact(self, identifier, id_type):
        self.deleted.append((identifier, id_type))
        key = self._find(identifier, id_type)
        return self.contacts.pop(key, None) is not None if key else False

    def blacklist_contact(self, identifier, id_type):
        self.blacklisted.append((identifier, id_type))
        key = self._find(identifier, id_type)
        if key:
            self.contacts[key]["blacklisted"] = True
        return key is not None


def people(n, start=0, **over):
    return [
        Person(
            cio_id=f"c{i:05d}",
            id=str(i),
            email=f"p{i}@example.com",
            attributes={"first_name": f"P{i}", "created_at": "1489014595", "mrr": str(i)},
            **over,
        )
        for i in range(start, start + n)
    ]


CFG = parse_config(
    {
        "connectors": {
            "customerio": {
                "lists": {"all_contacts": 12},
                "field_mapping": {
                    "id": "CIO_ID",
                    "email": "email",
                    "first_name": "FIRSTNAME",
                    "created_at": "SIGNUP_DATE",
                    "mrr": "MONTHLY_REVENUE",
                },
                "people": {"import_batch_bytes": 10000},
            }
        }
    }
).customerio
ATTRS = [("CIO_ID", "text"), ("FIRSTNAME", "text"), ("SIGNUP_DATE", "date"), ("MONTHLY_REVENUE", "float")]


CFG_RAW = {
    "lists": {"all_contacts": 12},
    "field_mapping": {
        "id": "CIO_ID",
        "email": "email",
        "first_name": "FIRSTNAME",
        "created_at": "SIGNUP_DATE",
        "mrr": "MONTHLY_REVENUE",
    },
}
