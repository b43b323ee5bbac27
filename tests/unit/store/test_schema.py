"""The store's numbered migrations (``store/schema.py``): a provider-0.1 state file and older stores upgrade in
place without losing state, and concurrent first opens migrate once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from airflow_provider_customerio.store.schema import LATEST
from airflow_provider_customerio.store.state import CIO_TO_BREVO, StateStore
from airflow_provider_customerio.store.sync_store import SyncStore
from tests import store_contract as contract

#: The schema provider 0.1 wrote to $AIRFLOW_HOME/customerio_sync/state.db (sync/state.py and sync/objects.py).
PROVIDER_0_1_SCHEMA = """
CREATE TABLE IF NOT EXISTS content_hash (
    direction TEXT NOT NULL, person_key TEXT NOT NULL, hash TEXT NOT NULL, synced_at REAL NOT NULL,
    PRIMARY KEY (direction, person_key));
CREATE TABLE IF NOT EXISTS identity (
    cio_id TEXT PRIMARY KEY, brevo_id INTEGER, email TEXT, ext_id TEXT, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS identity_email ON identity(email);
CREATE INDEX IF NOT EXISTS identity_ext_id ON identity(ext_id);
CREATE INDEX IF NOT EXISTS identity_brevo_id ON identity(brevo_id);
CREATE TABLE IF NOT EXISTS checkpoint (run_key TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS watermark (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS staged_item (
    run_key TEXT NOT NULL, seq INTEGER NOT NULL, item_key TEXT NOT NULL, kind TEXT NOT NULL, data TEXT,
    PRIMARY KEY (run_key, seq));
CREATE UNIQUE INDEX IF NOT EXISTS staged_item_key ON staged_item(run_key, item_key);
CREATE TABLE IF NOT EXISTS pending_process (
    run_key TEXT NOT NULL, process_id TEXT NOT NULL, attempt INTEGER NOT NULL, options TEXT NOT NULL,
    submitted_at REAL NOT NULL, PRIMARY KEY (run_key, process_id));
CREATE TABLE IF NOT EXISTS pending_row (
    run_key TEXT NOT NULL, process_id TEXT NOT NULL, seq INTEGER NOT NULL, person_key TEXT NOT NULL,
    hash TEXT NOT NULL, row TEXT NOT NULL, PRIMARY KEY (run_key, process_id, seq));
CREATE TABLE IF NOT EXISTS seen (run_key TEXT NOT NULL, person_key TEXT NOT NULL, PRIMARY KEY (run_key, person_key));
CREATE TABLE IF NOT EXISTS object_sync (
    brevo_type TEXT NOT NULL, object_id TEXT NOT NULL, hash TEXT NOT NULL, links TEXT NOT NULL,
    synced_at REAL NOT NULL, PRIMARY KEY (brevo_type, object_id));
CREATE TABLE IF NOT EXISTS object_reverse (
    brevo_type TEXT NOT NULL, object_id TEXT NOT NULL, hash TEXT NOT NULL, synced_at REAL NOT NULL,
    PRIMARY KEY (brevo_type, object_id));
"""


def test_a_provider_0_1_state_file_is_upgraded_in_place_without_losing_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(PROVIDER_0_1_SCHEMA)
    db.execute("INSERT INTO content_hash VALUES ('cio_to_brevo', 'c1', 'h1', 1.0)")
    db.execute("INSERT INTO identity VALUES ('c1', 7, 'a@example.com', '42', 1.0)")
    db.execute("INSERT INTO checkpoint VALUES ('d/r/t', '{\"offset\": 5}', 1.0)")
    db.execute("INSERT INTO staged_item VALUES ('d/r/t', 0, 'c1', 'upsert', NULL)")
    db.execute("INSERT INTO object_sync VALUES ('companies', 'o1', 'h', '{}', 1.0)")
    db.commit()
    db.close()

    store = SyncStore.at(path)
    contract.check_migrated(store.engine)
    st = store.state()
    assert st.get_hash(CIO_TO_BREVO, "c1") == "h1"
    assert st.get_identity("c1").brevo_id == 7
    assert st.get_checkpoint("d/r/t") == {"offset": 5}
    assert st.stage_items("d/r/t", [("c2", "upsert", None)]) == 1 and st.count_staged("d/r/t") == 2
    assert store.objects().get("companies", "o1").hash == "h"
    # the new tables work on the upgraded file
    with store.ledger("d", "r", "t") as led:
        led.reject(record_id="c9", reason="not_found", message="m", stage="hydrate")
    versions = sqlite3.connect(path).execute("SELECT version FROM store_version ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST + 1))


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            StateStore(path).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = sqlite3.connect(path).execute("SELECT version FROM store_version").fetchall()
    assert sorted(v for (v,) in versions) == list(range(1, LATEST + 1))


def test_a_version_2_store_upgrades_to_per_field_state_without_losing_state(tmp_path: Path) -> None:
    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.store.schema import MIGRATIONS, migrate

    path = tmp_path / "v2.db"
    engine = sqlite_engine(path)
    assert migrate(engine, MIGRATIONS[:2]) == 2
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO content_hash VALUES ('cio_to_brevo', 'c1', 'h1', 1.0)")
    db.commit()
    assert "field_state" not in {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()

    with StateStore(path) as st:
        assert st.get_hash(CIO_TO_BREVO, "c1") == "h1"
        st.set_field_digests([("c1", {"PLAN_NAME": "d1", "email": "d2"})])
        st.set_field_digests([("c1", {"PLAN_NAME": "d3"})])  # other fields are kept
        assert st.get_field_digests(["c1", "c2"]) == {"c1": {"PLAN_NAME": "d3", "email": "d2"}}
        st.forget_field_digests(["c1"])
        assert st.get_field_digests(["c1"]) == {}
    versions = sqlite3.connect(path).execute("SELECT version FROM store_version ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST + 1)) and LATEST >= 3


def test_a_store_of_version_5_gets_the_lease_fencing_and_request_digest_columns(tmp_path: Path) -> None:
    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.store.schema import LEASE_FENCING_COLUMNS, MIGRATIONS, migrate

    path = tmp_path / "v5.db"
    engine = sqlite_engine(path)
    migrate(engine, MIGRATIONS[:5])
    with engine.begin() as conn:  # the lease table as version 5 created it
        for name in LEASE_FENCING_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE lease DROP COLUMN {name}")
        conn.exec_driver_sql("INSERT INTO lease VALUES ('people:sync', 'run A of d', 1.0, 2.0)")
        conn.exec_driver_sql("DROP INDEX process_notice_request")  # and process notices as version 5 created them
        conn.exec_driver_sql("ALTER TABLE process_notice DROP COLUMN request_digest")
    engine.dispose()
    store = SyncStore.at(path)
    contract.check_migrated(store.engine)
    lease = store.acquire("people:sync", "run B of d", wait=0)  # the old, expired row is taken over
    assert (lease.fence, len(lease.token)) == (1, 32)
    contract.check_fencing(store)
    store.notices().issue("import", "d1")
    assert len(store.notices().lost_answers("d1", since=0)) == 1


def test_migrations_are_numbered_in_order_and_applied_once(tmp_path: Path) -> None:
    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.store.schema import MIGRATIONS, current_version, migrate

    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))
    assert all(m.description for m in MIGRATIONS)
    engine = sqlite_engine(tmp_path / "m.db")
    with engine.connect() as conn:
        assert current_version(conn) == 0
    assert migrate(engine, MIGRATIONS[:3]) == 3
    assert migrate(engine) == LATEST and migrate(engine) == LATEST
    with engine.connect() as conn:
        assert current_version(conn) == LATEST
        assert conn.exec_driver_sql("SELECT count(*) FROM store_version").scalar() == LATEST
    engine.dispose()


def test_per_field_rows_move_into_one_row_per_person(tmp_path: Path) -> None:
    """A store at version 10 keeps its field digests and own writes (values of every JSON kind) through the
    migration to one row per person; the per-field tables are left empty."""
    import json

    from airflow_provider_customerio.store.engine import sqlite_engine
    from airflow_provider_customerio.store.schema import MIGRATIONS, migrate
    from airflow_provider_customerio.store.state import TO_BREVO, TO_CIO, OwnWrite

    path = tmp_path / "v10.db"
    engine = sqlite_engine(path)
    assert migrate(engine, MIGRATIONS[:10]) == 10
    engine.dispose()
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO field_state VALUES (?, ?, ?, ?)",
        [("c1", "A", "da", 1.0), ("c1", "email", "de", 2.0), ("c2", "A", "d2", 3.0)],
    )
    writes = [(TO_BREVO, "c1", "A", json.dumps({"x": [1, None]}), 10.0), (TO_BREVO, "c1", "B", "null", 20.0)]
    db.executemany("INSERT INTO own_write VALUES (?, ?, ?, ?, ?)", [*writes, (TO_CIO, "c1", "A", '"v"', 5.0)])
    db.commit()
    db.close()
    with StateStore(path) as st:
        assert st.get_field_digests(["c1", "c2", "c3"]) == {"c1": {"A": "da", "email": "de"}, "c2": {"A": "d2"}}
        assert st.get_own_writes(TO_BREVO, ["c1"]) == {
            "c1": {"A": OwnWrite({"x": [1, None]}, 10.0), "B": OwnWrite(None, 20.0)}
        }
        assert st.get_own_writes(TO_CIO, ["c1"]) == {"c1": {"A": OwnWrite("v", 5.0)}}
        assert st.expire_own_writes(TO_BREVO, before=15.0) == 1  # the earliest write of the row was kept
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM field_state").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM own_write").fetchone() == (0,)
