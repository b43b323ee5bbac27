"""The sync store's tables and their numbered migrations.

Every table of the provider's lasting state is declared here, on SQLAlchemy Core, portable across PostgreSQL,
MySQL and SQLite (keys are ``VARCHAR(191)`` so MySQL can index them in utf8mb4), the webhook inbox's two tables
(:mod:`.inbox`) among them.

Schema versions: ``store_version`` holds one row per applied migration. :func:`migrate` applies the missing
ones in order, in one transaction, under a lock (PostgreSQL advisory lock, SQLite ``BEGIN IMMEDIATE``, MySQL
``GET_LOCK``), so two processes starting at once never race. Version 1 is the layout of provider 0.1's SQLite
``state.db`` (``content_hash`` ... ``seen``, ``object_sync``, ``object_reverse``): a store written by 0.1 is
upgraded in place and keeps its state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

KEY = 191  # indexable VARCHAR length on every supported database

metadata = sa.MetaData()

# ---------------------------------------------------------------------------- version 1 (provider 0.1 layout)
content_hash = sa.Table(
    "content_hash",
    metadata,
    sa.Column("direction", sa.String(32), primary_key=True),
    sa.Column("person_key", sa.String(KEY), primary_key=True),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("synced_at", sa.Float, nullable=False),
)
identity = sa.Table(
    "identity",
    metadata,
    sa.Column("cio_id", sa.String(KEY), primary_key=True),
    sa.Column("brevo_id", sa.BigInteger, nullable=True),
    sa.Column("email", sa.String(KEY), nullable=True),
    sa.Column("ext_id", sa.String(KEY), nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("identity_email", "email"),
    sa.Index("identity_ext_id", "ext_id"),
    sa.Index("identity_brevo_id", "brevo_id"),
)
checkpoint = sa.Table(
    "checkpoint",
    metadata,
    sa.Column("run_key", sa.String(KEY), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
watermark = sa.Table(
    "watermark",
    metadata,
    sa.Column("name", sa.String(KEY), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
staged_item = sa.Table(
    "staged_item",
    metadata,
    sa.Column("run_key", sa.String(KEY), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("item_key", sa.String(KEY), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("data", sa.Text, nullable=True),
    sa.Index("staged_item_key", "run_key", "item_key", unique=True),
)
pending_process = sa.Table(
    "pending_process",
    metadata,
    sa.Column("run_key", sa.String(KEY), primary_key=True),
    sa.Column("process_id", sa.String(64), primary_key=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.Float, nullable=False),
)
pending_row = sa.Table(
    "pending_row",
    metadata,
    sa.Column("run_key", sa.String(KEY), primary_key=True),
    sa.Column("process_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("person_key", sa.String(KEY), nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("row", sa.Text, nullable=False),
)
seen = sa.Table(
    "seen",
    metadata,
    sa.Column("run_key", sa.String(KEY), primary_key=True),
    sa.Column("person_key", sa.String(KEY), primary_key=True),
)
object_sync = sa.Table(
    "object_sync",
    metadata,
    sa.Column("brevo_type", sa.String(KEY), primary_key=True),
    sa.Column("object_id", sa.String(KEY), primary_key=True),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("links", sa.Text, nullable=False),
    sa.Column("synced_at", sa.Float, nullable=False),
)
object_reverse = sa.Table(
    "object_reverse",
    metadata,
    sa.Column("brevo_type", sa.String(KEY), primary_key=True),
    sa.Column("object_id", sa.String(KEY), primary_key=True),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("synced_at", sa.Float, nullable=False),
)
V1_TABLES = (
    content_hash,
    identity,
    checkpoint,
    watermark,
    staged_item,
    pending_process,
    pending_row,
    seen,
    object_sync,
    object_reverse,
)

# ------------------------------------------------------------------------------------------------ version 2
rejected_record = sa.Table(
    "rejected_record",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("ledger_key", sa.String(KEY), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("dag_id", sa.String(KEY), nullable=False),
    sa.Column("run_id", sa.String(KEY), nullable=False),
    sa.Column("task_id", sa.String(KEY), nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("record_id", sa.String(KEY), nullable=True),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("identifiers", sa.Text, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("rejected_record_ledger", "ledger_key", "seq", unique=True),
    sa.Index("rejected_record_run", "dag_id", "run_id"),
    sa.Index("rejected_record_reason", "reason", "id"),
)
lease = sa.Table(
    "lease",
    metadata,
    sa.Column("name", sa.String(KEY), primary_key=True),
    sa.Column("holder", sa.String(KEY), nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    # the try holding the lease and its fencing token (added by the lease-fencing migration; see store.fencing)
    sa.Column("task", sa.String(KEY), nullable=True),
    sa.Column("try_number", sa.Integer, nullable=True),
    sa.Column("token", sa.String(64), nullable=True),
    sa.Column("fence", sa.BigInteger, nullable=True),
)
#: The columns of ``lease`` added by the lease-fencing migration (a store migrated before has a lease without them).
LEASE_FENCING_COLUMNS = ("task", "try_number", "token", "fence")
report = sa.Table(
    "report",
    metadata,
    sa.Column("name", sa.String(KEY), primary_key=True),
    sa.Column("media_type", sa.String(64), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
run_summary = sa.Table(
    "run_summary",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("capability", sa.String(64), nullable=False),
    sa.Column("dag_id", sa.String(KEY), nullable=False),
    sa.Column("run_id", sa.String(KEY), nullable=False),
    sa.Column("task_id", sa.String(KEY), nullable=False),
    sa.Column("finished_at", sa.Float, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Index("run_summary_capability", "capability", "finished_at"),
)
V2_TABLES = (rejected_record, lease, report, run_summary)

# ---------------------------------------------------------------------------- version 3
#: The value both sides last agreed on, per person and per field (a digest of the field's canonical Brevo form,
#: keyed by the Brevo attribute name, ``email`` for the email): written by whichever direction synced the field,
#: read by the two-way sync to tell a one-sided edit (flows) from an edit on both sides (a conflict).
field_state = sa.Table(
    "field_state",
    metadata,
    sa.Column("cio_id", sa.String(KEY), primary_key=True),
    sa.Column("field", sa.String(KEY), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("synced_at", sa.Float, nullable=False),
)
V3_TABLES = (field_state,)

# ------------------------------------------------------------------------------------------------ version 4
#: Counters that outlive a process (the webhook receiver's refusals and duplicates), added to in batches.
counter = sa.Table(
    "counter",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(KEY), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
#: The status page counts rejects per DAG and reason (a covering index: no table read for the counts).
rejected_record_dag_reason = sa.Index("rejected_record_dag_reason", rejected_record.c.dag_id, rejected_record.c.reason)

# ------------------------------------------------------------------------------------------------ version 5
#: Brevo process-completion notices. An import sent with ``notifyUrl=<base>/brevo/processes/<token>`` gets a row
#: here before the request goes out (keyed by the token's SHA-256, so the table never holds a usable token); the
#: process id is bound once Brevo answers 202, and the api-server's notice route stamps ``notified_at`` when Brevo
#: calls back. The waits read this table instead of polling ``GET /processes/{id}`` (Brevo's 100 requests/hour
#: budget): https://developers.brevo.com/reference/import-contacts ("calls the notify URL ... on completion").
process_notice = sa.Table(
    "process_notice",
    metadata,
    sa.Column("token_digest", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("process_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("notified_at", sa.Float, nullable=True),
    sa.Column("body", sa.Text, nullable=True),
    # what the request asked (SHA-256 of the import's content; added by the request-digest migration): a retry
    # whose earlier request's answer was lost finds that request's process through its notice
    sa.Column("request_digest", sa.String(64), nullable=True),
    sa.Index("process_notice_process", "process_id"),
    sa.Index("process_notice_request", "request_digest"),
)
V5_TABLES = (process_notice,)

# ---------------------------------------------------------------------------- own writes (two-way stale reads)
#: The writes this provider made and has not yet seen in a read of the vendor it wrote to, per direction
#: (``to_cio``: the reverse sync's Track writes; ``to_brevo``: the people sync's imports), person and field (the
#: per-field keys of ``field_state``): the value written (JSON, canonical Brevo form) and when it was sent. Both
#: vendors apply writes asynchronously, so a read younger than the write may still show the old value; the other
#: direction's sync takes such a value for the stale read it is, not for a change (sync/stale.py). A row goes once a
#: read shows the value (or a later change), or after the settle time.
own_write = sa.Table(
    "own_write",
    metadata,
    sa.Column("direction", sa.String(32), primary_key=True),
    sa.Column("cio_id", sa.String(KEY), primary_key=True),
    sa.Column("field", sa.String(KEY), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("written_at", sa.Float, nullable=False),
    sa.Index("own_write_written_at", "direction", "written_at"),
)
OWN_WRITE_TABLES = (own_write,)

# ------------------------------------------------------------------------------------------ Brevo import slots
#: Brevo imports in flight per account, across every task and machine: at most N rows (slots ``0..N-1``) per
#: account. Brevo's help centre ("Best practices for importing contacts", https://help.brevo.com): "Do not import
#: multiple files at the same time. Wait for your current import to finish before starting a new one." ``account``
#: is a SHA-256 of the base URL and API key (never the key itself); a slot is taken before
#: ``POST /contacts/import``, bound to the process id Brevo returns, and released once that process is known
#: finished. Its holder renews ``expires_at`` while it waits; a dead holder's slot lapses.
import_slot = sa.Table(
    "import_slot",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("holder", sa.String(KEY), nullable=False),
    sa.Column("process_id", sa.String(64), nullable=True),
    sa.Column("taken_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
IMPORT_SLOT_TABLES = (import_slot,)

# ------------------------------------------------------------------------- Brevo's hourly budget per account
#: Brevo's "all other endpoints" (``/processes``, ``/objects``, ``/account``) allow 100, 200 or 600 calls per hour
#: per *account* by plan (https://developers.brevo.com/docs/api-limits), so every task and machine spends one budget.
#: At most ``limit`` rows per account (slots ``0..limit-1``); ``used_at`` is the last call a slot carried (seconds
#: since the epoch), and a slot carries its next call no sooner than ``window_s`` later, so no sliding window holds
#: more than ``limit`` calls (:mod:`.budget`). ``seq`` counts the slot's uses: a reservation is a conditional
#: ``UPDATE`` on it, which only one of two concurrent reservers wins. ``account`` as in :data:`import_slot`.
request_budget = sa.Table(
    "request_budget",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("used_at", sa.Float, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)
REQUEST_BUDGET_TABLES = (request_budget,)

# ---------------------------------------------------------------------------------------------- webhook inbox
#: The event store and outbox of the event forwarding (:mod:`.inbox`): one row per event to forward to Brevo, keyed
#: by the source's event id (the dedupe index), moving pending -> in_flight -> sent | rejected | skipped. Before it
#: joined the migrations the inbox created these two tables itself (``create_all``); its migration adopts them.
webhook_event = sa.Table(
    "customerio_webhook_events",
    metadata,
    sa.Column("event_id", sa.String(KEY), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("event_ts", sa.BigInteger, nullable=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("batch_id", sa.String(64), nullable=True),
    sa.Column("outbound", sa.Text, nullable=True),
    sa.Column("status_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_customerio_webhook_events_status", "status", "received_at"),
)
#: Named values of the inbox (the end of the last activity window read).
webhook_meta = sa.Table(
    "customerio_webhook_events_meta",
    metadata,
    sa.Column("name", sa.String(KEY), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
WEBHOOK_INBOX_TABLES = (webhook_event, webhook_meta)

# ------------------------------------------------------------------------------- per-person field state
#: The per-field state of ``field_state`` and ``own_write``, one row per person instead of one per person and
#: field: a first sync wrote ~11 rows per person to each (two thirds of the store's rows and most of its time on
#: both databases). ``digests`` is a JSON object ``{field: digest}``; ``writes`` is ``{field: [value, written_at]}``
#: and ``oldest`` the earliest ``written_at`` in it (never later than the true one: expiry finds every row due).
#: Writes merge per field in the database (PostgreSQL ``jsonb ||``, SQLite ``json_patch``, MySQL
#: ``JSON_MERGE_PATCH``), so two writers of one person's fields never lose one another's.
field_digest_set = sa.Table(
    "field_digest_set",
    metadata,
    sa.Column("cio_id", sa.String(KEY), primary_key=True),
    sa.Column("digests", sa.Text, nullable=False),
    sa.Column("synced_at", sa.Float, nullable=False),
)
own_write_set = sa.Table(
    "own_write_set",
    metadata,
    sa.Column("direction", sa.String(32), primary_key=True),
    sa.Column("cio_id", sa.String(KEY), primary_key=True),
    sa.Column("writes", sa.Text, nullable=False),
    sa.Column("oldest", sa.Float, nullable=False),
    sa.Index("own_write_set_oldest", "direction", "oldest"),
)
PER_PERSON_TABLES = (field_digest_set, own_write_set)

store_version = sa.Table(
    "store_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(KEY), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    """One schema step: applied once, in order, in the migrating transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _create(*tables: sa.Table) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        for t in tables:
            t.create(conn, checkfirst=True)

    return run


def _v4(conn: Connection) -> None:
    counter.create(conn, checkfirst=True)
    rejected_record_dag_reason.create(conn, checkfirst=True)


def _add_missing_columns(conn: Connection, table: sa.Table, names: tuple[str, ...]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each of ``names`` the stored table lacks (nullable columns only)."""
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    quote = conn.dialect.identifier_preparer.quote
    for name in names:
        if name not in present:
            column = sa.schema.CreateColumn(table.c[name]).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {column}"))


def _notice_request_digest(conn: Connection) -> None:
    """Add the request digest of process notices (a store created by this version already has it)."""
    _add_missing_columns(conn, process_notice, ("request_digest",))
    if "process_notice_request" not in {i["name"] for i in sa.inspect(conn).get_indexes(process_notice.name)}:
        next(i for i in process_notice.indexes if i.name == "process_notice_request").create(conn)


def _lease_fencing(conn: Connection) -> None:
    """Add the lease's try and fencing token (a store created by this version already has them)."""
    _add_missing_columns(conn, lease, LEASE_FENCING_COLUMNS)


def _grouped(conn: Connection, query: sa.Select[Any], width: int) -> Iterator[dict[tuple[Any, ...], list[Any]]]:
    """The rows of ``query`` (ordered by its first ``width`` columns, streamed) grouped by those columns, in pages
    of at most about 5,000 groups (memory stays flat on a large store)."""
    page: dict[tuple[Any, ...], list[Any]] = {}
    for row in conn.execute(query.execution_options(yield_per=5000)):
        key = tuple(row[:width])
        if key not in page and len(page) >= 5000:
            yield page
            page = {}
        page.setdefault(key, []).append(tuple(row[width:]))
    if page:
        yield page


def _per_person_field_state(conn: Connection) -> None:
    """Create the per-person tables and move the per-field rows into them (read in key order, streamed)."""
    import json

    _create(*PER_PERSON_TABLES)(conn)
    f, w = field_state, own_write
    q = sa.select(f.c.cio_id, f.c.field, f.c.digest, f.c.synced_at).order_by(f.c.cio_id)
    for page in _grouped(conn, q, 1):
        rows = [
            {"cio_id": c, "digests": json.dumps({n: d for n, d, _ in v}), "synced_at": max(at for *_, at in v)}
            for (c,), v in page.items()
        ]
        conn.execute(field_digest_set.insert(), rows)
    q2 = sa.select(w.c.direction, w.c.cio_id, w.c.field, w.c.value, w.c.written_at).order_by(w.c.direction, w.c.cio_id)
    for page in _grouped(conn, q2, 2):
        rows = [
            {
                "direction": d,
                "cio_id": c,
                "writes": json.dumps({n: [json.loads(value), at] for n, value, at in v}),
                "oldest": min(at for *_, at in v),
            }
            for (d, c), v in page.items()
        ]
        conn.execute(own_write_set.insert(), rows)
    conn.execute(f.delete())
    conn.execute(w.delete())


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "sync state of provider 0.1 (hashes, identities, checkpoints, staging, objects)", _create(*V1_TABLES)),
    Migration(2, "rejected records, leases, reports, run summaries", _create(*V2_TABLES)),
    Migration(3, "per-field last-synced values of the two-way sync", _create(*V3_TABLES)),
    Migration(4, "counters; rejected records indexed by DAG and reason (status page)", _v4),
    Migration(5, "Brevo process-completion notices (notifyUrl callbacks)", _create(*V5_TABLES)),
    Migration(6, "own writes not yet read back (two-way: stale reads are not changes)", _create(*OWN_WRITE_TABLES)),
    Migration(7, "lease fencing: the try holding a lease and its fencing token", _lease_fencing),
    Migration(
        8, "process notices: the digest of the request (a lost answer's process found again)", _notice_request_digest
    ),
    Migration(9, "Brevo import slots: imports in flight per account", _create(*IMPORT_SLOT_TABLES)),
    Migration(
        10,
        "webhook inbox: events to forward and their watermarks (adopted where created before)",
        _create(*WEBHOOK_INBOX_TABLES),
    ),
    Migration(11, "Brevo's hourly budget of other endpoints, per account (plan-wide)", _create(*REQUEST_BUDGET_TABLES)),
    Migration(
        12,
        "per-person field state: field digests and own writes in one row per person (moved from the per-field rows)",
        _per_person_field_state,
    ),
)
LATEST = MIGRATIONS[-1].version

_LOCK_ID = 0x63696F5F73796E63  # "cio_sync": the PostgreSQL advisory lock of migrations


def current_version(conn: Connection) -> int:
    """The highest applied version (0 for an empty database)."""
    if not sa.inspect(conn).has_table(store_version.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(store_version.c.version))).scalar() or 0)


def migrate(engine: Engine, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the missing migrations in one transaction; return the version reached."""
    with engine.begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        elif dialect == "mysql":
            conn.execute(sa.text("SELECT GET_LOCK('customerio_sync_store_migrate', 60)"))
        store_version.create(conn, checkfirst=True)
        version = current_version(conn)
        for m in migrations:
            if m.version <= version:
                continue
            m.apply(conn)
            conn.execute(
                store_version.insert().values(version=m.version, description=m.description, applied_at=time.time())
            )
            version = m.version
        if dialect == "mysql":
            conn.execute(sa.text("SELECT RELEASE_LOCK('customerio_sync_store_migrate')"))
    return version


__all__ = [
    "LATEST",
    "MIGRATIONS",
    "Migration",
    "content_hash",
    "counter",
    "current_version",
    "import_slot",
    "metadata",
    "migrate",
    "own_write",
    "own_write_set",
    "field_digest_set",
    "process_notice",
    "request_budget",
    "webhook_event",
    "webhook_meta",
]
