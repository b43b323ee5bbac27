"""What the distributed test does, and how it reads the result: shared by the cluster run and the single-machine
reference run (``reference_run.py``), so that both do exactly the same steps against two sandboxes seeded alike.

* :func:`plan` -- the steps: signed webhooks to the receiver, one run of every example DAG (people first, so the
  later DAGs find contacts), a marketer's edits in Brevo before the reverse sync;
* :func:`provider_config` -- the example config with the demo's choices (segments mirrored, objects on);
* :func:`end_state` -- the vendors' end state through the sandbox's control plane (Brevo contacts with their
  attributes and lists, events, custom objects; Customer.io's counts and people with their attributes) and the
  sync store's (sync state, rejected records, run summaries, campaign metrics), with what differs between two
  equal runs (ids of runs and of Brevo contacts, times of writing) taken out.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
import yaml

from tests.distributed import REPO_ROOT

#: Small world: a few hundred people keep the test within minutes on two cores.
PEOPLE = 300
SEED = 42
#: Webhooks sent to the receiver: originals plus at-least-once redeliveries (duplicates must not reach Brevo twice).
WEBHOOKS = {"count": 20, "duplicates": 4, "seed": 7}
#: (dag id, run conf, logical date before the current hour); the order of ``scripts/demo.py``.
DAG_RUNS: list[tuple[str, dict[str, Any], timedelta]] = [
    ("customerio_connection_check", {}, timedelta(0)),
    ("customerio_people_to_brevo", {"mode": "full"}, timedelta(hours=1)),
    ("customerio_segments_to_brevo_lists", {}, timedelta(days=1)),
    ("customerio_events_to_brevo", {}, timedelta(minutes=5)),
    ("customerio_campaign_metrics", {}, timedelta(days=1)),
    ("customerio_workflow_state_to_brevo", {}, timedelta(days=1)),
    ("customerio_objects_to_brevo", {}, timedelta(days=1)),
    ("brevo_people_to_customerio", {"mode": "full"}, timedelta(hours=1)),
]
BREVO_EDITS = 5
#: Columns of a metrics row that say when or by which run it was written: they differ between two equal runs.
_WRITE_COLUMNS = {"updated_at", "created_at", "written_at", "inserted_at", "run_id", "dag_run_id", "try_number"}


def plan(now: datetime | None = None) -> dict[str, Any]:
    """The steps, with the logical dates fixed once for both runs (JSON-serialisable)."""
    hour = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)
    steps: list[dict[str, Any]] = [{"webhooks": WEBHOOKS}]
    dag_ids = {p.stem for p in (REPO_ROOT / "dags").glob("*.py")}
    listed = {dag_id for dag_id, _, _ in DAG_RUNS}
    missing = dag_ids - listed
    assert not missing, f"example DAGs not in the distributed test's plan: {sorted(missing)}; add them to DAG_RUNS"
    for dag_id, conf, offset in DAG_RUNS:
        if dag_id == "brevo_people_to_customerio":
            steps.append({"edit_brevo": BREVO_EDITS})
        steps.append({"dag_id": dag_id, "conf": conf, "logical_date": (hour - offset).isoformat()})
    return {"people": PEOPLE, "seed": SEED, "seed_now": int(hour.timestamp()) - 1800, "steps": steps}


def seed_sandbox(info: dict[str, Any], the_plan: dict[str, Any]) -> None:
    """Seed both vendors of a sandbox deterministically (same seed and clock anchor: same world)."""
    resp = requests.post(
        f"{info['control_url']}/seed",
        json={"people": the_plan["people"], "seed": the_plan["seed"], "now": the_plan["seed_now"]},
        timeout=120,
    )
    resp.raise_for_status()


def provider_config(info: dict[str, Any]) -> str:
    """The example ``customerio_config.yaml`` with the demo's choices: the sandbox's finished dynamic segments
    mirrored into Brevo lists, objects on, the Brevo attributes the mapping needs created."""
    config = yaml.safe_load((REPO_ROOT / "dags" / "customerio_config.yaml").read_text())
    cio = config["connectors"]["customerio"]
    cio["sync"]["objects"] = True
    cio["people"]["create_missing_attributes"] = True
    segments = requests.get(
        f"{info['app_url']}/v1/segments", headers={"Authorization": f"Bearer {info['app_api_key']}"}, timeout=30
    ).json()["segments"]
    finished = [s for s in segments if s.get("state") == "finished" and s.get("type") == "dynamic"]
    list_ids = list(cio["lists"].values())
    cio["segments"]["mirror"] = {
        str(s["id"]): list_ids[min(i + 1, len(list_ids) - 1)] for i, s in enumerate(finished[:2])
    }
    return yaml.safe_dump(config, sort_keys=False)


def edit_in_brevo(info: dict[str, Any], count: int) -> int:
    """A marketer edits a few contacts in Brevo (the first ``count``, oldest first), for the reverse sync to carry
    back: as ``make demo`` does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cio_demo", REPO_ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return len(demo.edit_in_brevo(info, count))


def send_webhooks(info: dict[str, Any], url: str, signing_key: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Have the sandbox send signed Customer.io reporting webhooks to the receiver at ``url``; its report."""
    resp = requests.post(
        f"{info['control_url']}/webhooks/emit", json={"url": url, "signing_key": signing_key, **spec}, timeout=300
    )
    resp.raise_for_status()
    return resp.json()


# ------------------------------------------------------------------------------------------------- end state
#: What differs between two equal runs: when an event was sent or received, Brevo's internal contact id, and the id
#: the sandbox derives from the time of sending (``trigger_event_id``).
_VOLATILE_EVENT_KEYS = ("event_date", "received_at", "contact_id")
_VOLATILE_EVENT_PROPERTIES = ("trigger_event_id", "timestamp")


def _contact_key(contact: dict[str, Any]) -> str:
    """A contact's identity that does not depend on the order Brevo created contacts in (its id does)."""
    attrs = contact.get("attributes") or {}
    if attrs.get("EXT_ID"):  # the sync's identity of a person, present whether or not the email was written
        return f"EXT_ID:{attrs['EXT_ID']}"
    if contact.get("email"):
        return str(contact["email"])
    for name in ("CIO_ID", "SMS"):
        if attrs.get(name):
            return f"{name}:{attrs[name]}"
    return f"brevo id {contact['id']}"


def _event(event: dict[str, Any]) -> str:
    out = {k: v for k, v in event.items() if k not in _VOLATILE_EVENT_KEYS}
    if isinstance(out.get("event_properties"), dict):
        props = out["event_properties"]
        out["event_properties"] = {k: v for k, v in props.items() if k not in _VOLATILE_EVENT_PROPERTIES}
    return _canon(out)


def _control(info: dict[str, Any], path: str) -> Any:
    resp = requests.get(f"{info['control_url']}{path}", timeout=120)
    resp.raise_for_status()
    return resp.json()


def brevo_processes(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Brevo process of the sandbox, with its control-plane view (kind, polls)."""
    found: list[dict[str, Any]] = []
    pid = 1
    while True:
        resp = requests.get(f"{info['control_url']}/brevo/processes/{pid}", timeout=60)
        if resp.status_code == 404:
            return found
        resp.raise_for_status()
        found.append(resp.json())
        pid += 1


def notices_received(store_url: str, process_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The Brevo process notices the api-server recorded in the shared PostgreSQL store, for ``process_ids``."""
    import sqlalchemy as sa

    from airflow_provider_customerio.store.sync_store import SyncStore

    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        return SyncStore(engine).notices().received(process_ids)
    finally:
        engine.dispose()


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def end_state(info: dict[str, Any], store_url: str | None) -> dict[str, Any]:
    """The vendors' end state, comparable between two runs of the same plan on sandboxes seeded alike."""
    contacts = _control(info, "/brevo/contacts")["contacts"]
    by_id = {c["id"]: _contact_key(c) for c in contacts}
    people = {
        by_id[c["id"]]: {
            "attributes": c["attributes"],
            "emailBlacklisted": c["emailBlacklisted"],
            "listIds": c["listIds"],
        }
        for c in contacts
    }
    lists: dict[int, list[str]] = {}
    for c in contacts:
        for list_id in c["listIds"]:
            lists.setdefault(list_id, []).append(by_id[c["id"]])
    events = _control(info, "/brevo/events")["events"]
    event_keys = Counter(_event(e) for e in events)
    objects = []
    for rec in _control(info, "/brevo/objects/companies/records")["records"]:
        rec = dict(rec)
        rec["associations"] = {
            kind: sorted(by_id.get(i, f"contact {i}") for i in ids) for kind, ids in rec.get("associations", {}).items()
        }
        rec.pop("id", None)
        if isinstance(rec.get("identifiers"), dict):  # Brevo's record id depends on creation order; ext_id stays
            rec["identifiers"] = {k: v for k, v in rec["identifiers"].items() if k != "id"}
        for key in [k for k in rec if k.lower().endswith(("createdat", "updatedat", "modifiedat"))]:
            rec.pop(key)
        objects.append(_canon(rec))
    summary = _control(info, "/state/customerio/summary")
    return {
        "brevo_contacts": people,
        "brevo_list_members": {k: sorted(v) for k, v in lists.items()},
        "brevo_events": dict(event_keys),
        "brevo_objects": sorted(objects),
        "customerio": {k: summary[k] for k in ("people", "deleted_people", "events", "objects")},
        "customerio_people": customerio_people(info),
        "metrics_rows": metrics_rows(store_url),
        **store_state(store_url, by_id),
    }


def customerio_people(info: dict[str, Any]) -> dict[str, Any]:
    """Customer.io's live people with their attributes and subscription, keyed by email (else their id)."""
    out: dict[str, Any] = {}
    for p in _control(info, "/state/customerio/people?limit=1000")["people"]:
        ids = p.get("identifiers") or {}
        key = str(ids.get("email") or ids.get("id") or ids.get("cio_id"))
        out[key] = {"attributes": p["attributes"], "unsubscribed": p["unsubscribed"]}
    return out


#: The sync store's lasting sync state: table -> the columns compared (ids of runs and times of writing left out).
SYNC_STATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "content_hash": ("direction", "person_key", "hash"),
    "identity": ("cio_id", "brevo_id", "email", "ext_id"),
    "field_digest_set": ("cio_id", "digests"),
    "watermark": ("name", "value"),
    "object_sync": ("brevo_type", "object_id", "hash", "links"),
    "object_reverse": ("brevo_type", "object_id", "hash"),
    "customerio_webhook_events": ("event_id", "status", "reason"),
}
#: Per-run tables: a finished run leaves nothing there (their row counts are compared).
RUN_TABLES = ("checkpoint", "staged_item", "pending_process", "pending_row", "seen", "lease")


def store_state(store_url: str | None, brevo_ids: dict[Any, str]) -> dict[str, Any]:
    """The sync state in the store (:data:`SYNC_STATE_COLUMNS`, Brevo contact ids as contact keys), the rows left
    in per-run tables, the rejected-records ledger as ``(dag, task, record, reason)`` counts, and which tasks
    recorded a run summary."""
    if not store_url:
        return {"sync_state": "no store", "ledger": "no store", "summaries": "no store"}
    import sqlalchemy as sa

    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    state: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            meta = sa.MetaData()
            table = lambda name: sa.Table(name, meta, autoload_with=conn)
            for name, cols in SYNC_STATE_COLUMNS.items():
                t = table(name)
                rows = [_comparable(name, cols, r, brevo_ids) for r in conn.execute(sa.select(*(t.c[c] for c in cols)))]
                state[name] = sorted(_canon(r) for r in rows)
            for name in RUN_TABLES:
                state[f"{name} rows"] = int(conn.execute(sa.select(sa.func.count()).select_from(table(name))).scalar())
            t = table("rejected_record")
            ledger = Counter(
                " ".join(str(v) for v in r)
                for r in conn.execute(sa.select(t.c.dag_id, t.c.task_id, t.c.record_id, t.c.reason))
            )
            t = table("run_summary")
            summaries = Counter(" ".join(r) for r in conn.execute(sa.select(t.c.capability, t.c.dag_id, t.c.task_id)))
    finally:
        engine.dispose()
    return {"sync_state": state, "ledger": dict(ledger), "summaries": dict(summaries)}


def _comparable(table: str, cols: tuple[str, ...], row: Any, brevo_ids: dict[Any, str]) -> list[Any]:
    """A row of the sync state as two equal runs have it alike: a Brevo contact id (it depends on the order contacts
    were created in) as the contact's key; the value of a ``*.last_sync`` watermark (when the run ended) and the
    reason of a sent webhook event (how its sending was confirmed) and the measured duration of the last export (the
    incremental plan's cost estimate) left out."""
    out = []
    for col, value in zip(cols, row):
        if col == "brevo_id" and value is not None:
            value = brevo_ids.get(int(value), f"brevo id {value} (no such contact)")
        elif table == "watermark" and col == "value" and str(row[0]).endswith(".last_sync"):
            value = "(when the run ended)" if value else value
        elif table == "watermark" and col == "value" and str(row[0]).endswith(".export_cost") and value:
            value = {k: v for k, v in json.loads(value).items() if k != "seconds"}  # how long the export took
        elif table == "field_digest_set" and col == "digests":
            value = sorted(json.loads(value).items())  # PostgreSQL's jsonb reorders keys
        elif table == "customerio_webhook_events" and col == "reason" and row[1] == "sent":
            value = None  # how a sent event was confirmed (its answer, or GET /events after a lost answer)
        out.append(value)
    return out


def import_digests(info: dict[str, Any]) -> Counter[str]:
    """How many times Brevo was asked each import (by the digest of its payload)."""
    return Counter(p["sandbox"]["digest"] for p in brevo_processes(info) if p["sandbox"]["kind"] == "import")


def metrics_rows(store_url: str | None) -> dict[str, list[tuple[str, ...]]] | str:
    """The campaign-metrics rows of the sync store, per table whose name holds ``metrics`` (without the columns
    that record when or by which run a row was written), or why there are none."""
    if not store_url:
        return "no store"
    import sqlalchemy as sa

    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.connect() as conn:
            names = [n for n in sa.inspect(conn).get_table_names() if "metric" in n]
            if not names:
                return "no metrics table in the sync store"
            out = {}
            for name in sorted(names):
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                cols = [c for c in table.c if c.name not in _WRITE_COLUMNS]
                rows = conn.execute(sa.select(*cols)).all()
                out[name] = sorted(tuple(str(v) for v in r) for r in rows)
            return out
    finally:
        engine.dispose()


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Readable differences between two end states (empty when equal)."""
    out = []
    for part in want:
        a, b = got.get(part), want[part]
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            missing = sorted(set(b) - set(a), key=str)
            extra = sorted(set(a) - set(b), key=str)
            changed = sorted((k for k in set(a) & set(b) if a[k] != b[k]), key=str)
            out.append(
                f"{part}: {len(a)} vs {len(b)} in the single-machine run; missing {len(missing)} {missing[:5]}, "
                f"extra {len(extra)} {extra[:5]}, different {len(changed)}"
                + (f" e.g. {changed[0]!r}: {a[changed[0]]!r} != {b[changed[0]]!r}" if changed else "")
            )
        elif isinstance(a, list) and isinstance(b, list):
            out.append(
                f"{part}: {len(a)} items vs {len(b)} in the single-machine run; first differing: "
                f"{next(((x, y) for x, y in zip(a, b) if x != y), (a[len(b) :][:1], b[len(a) :][:1]))}"
            )
        else:
            out.append(f"{part}: {a!r} != {b!r} (single-machine run)")
    return out


def duplicated_events(state: dict[str, Any]) -> dict[str, int]:
    """Events Brevo received more than once."""
    return {k: n for k, n in state["brevo_events"].items() if n > 1}
