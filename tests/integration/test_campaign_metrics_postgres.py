"""The reporting table (``store/reporting.py``) on a real PostgreSQL server, through SQLAlchemy engines.

A throwaway cluster is started in a temp folder on 127.0.0.1 when the PostgreSQL server binaries are present;
otherwise the test is skipped (the CI machine has none unless .ci/run installs them). Set ``CIO_TEST_PG_BIN`` to the
folder holding ``initdb``/``pg_ctl``/``psql`` to point at another installation. Both drivers the store supports on
PostgreSQL run it: psycopg2 (the store's ``execute_values`` fast path) and the portable Core path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_customerio.store.reporting import MetricsStore, metrics_table
from airflow_provider_customerio.store.status import StatusQueries
from airflow_provider_customerio.sync.campaigns import MetricRow
from tests.postgres_server import PostgresUnavailable, temporary_postgres

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    try:
        with temporary_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["psycopg2", "portable"])
def engine(pg: Any, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    db = f"metrics_{request.param}_{request.node.name[:20].lower().replace('[', '_').replace(']', '')}"
    pg.psql(f"CREATE DATABASE {db}")
    eng = sa.create_engine(pg.url(db))
    if request.param == "portable":  # the store's psycopg2 fast path keys on the driver name: take it away
        eng.dialect.driver = "psycopg2-portable"
    yield eng
    eng.dispose()


def row(cid: int, day: str, sent: int, name: str = "O'Brien flow") -> MetricRow:
    return MetricRow(
        cid,
        date.fromisoformat(day),
        "campaign:v2:UTC",
        name,
        {"sent": sent, "delivered": sent, "opened": 1, "clicked": 0, "human_opened": None},
    )


def test_the_reporting_table_runs_on_postgres_and_is_idempotent(engine: sa.Engine) -> None:
    store = MetricsStore(engine)
    store.ensure_table()
    store.ensure_table()  # there already
    rows = [row(1, "2026-11-20", 10), row(1, "2026-11-21", 11), row(2, "2026-11-20", 5)]
    store.upsert(rows, updated_at="t1")
    store.upsert(rows, updated_at="t1")
    assert store.count() == 3
    store.upsert([row(1, "2026-11-21", 14)], updated_at="t2")  # a late update
    assert store.count() == 3
    got = store.fetch("2026-11-01", "2026-11-30", [1])
    assert [(r["campaign_id"], r["date"], r["name"], r["sent"], r["updated_at"]) for r in got] == [
        (1, "2026-11-20", "O'Brien flow", 10, "t1"),
        (1, "2026-11-21", "O'Brien flow", 14, "t2"),
    ]
    hashes = store.existing_hashes(1, "campaign:v2:UTC", "2026-11-21", "2026-11-21")
    assert hashes == {"2026-11-21": row(1, "2026-11-21", 14).content_hash}
    with engine.connect() as conn:
        types = dict(
            conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'customerio_campaign_metrics'"
                )
            ).all()
        )
    assert types["date"] == "date" and types["sent"] == "bigint" and types["campaign_id"] == "bigint"


def test_a_table_of_the_users_name_made_by_another_task_is_used(engine: sa.Engine) -> None:
    metrics_table("cio_metrics").create(engine)  # another task made it first
    store = MetricsStore(engine, table="cio_metrics")
    store.ensure_table()
    store.upsert([row(7, "2026-11-20", 1)], updated_at="t")
    assert store.count() == 1 and sa.inspect(engine).has_table("cio_metrics")


def test_a_mixed_case_table_name_is_the_table_earlier_versions_made(engine: sa.Engine) -> None:
    """Earlier versions wrote the configured name into their SQL unquoted, so PostgreSQL folded ``CioMetrics`` to
    ``ciometrics``: an upgraded deployment goes on with that table (its rows, the user's reports on it) instead of
    creating a second, quoted ``"CioMetrics"`` beside it."""
    from airflow_provider_customerio.sync.campaigns import METRIC_COLUMNS

    metrics = ", ".join(f"{m} BIGINT" for m in METRIC_COLUMNS)
    with engine.begin() as conn:  # the DDL and the row as the f-string SQL of earlier versions made them
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS CioMetrics (campaign_id BIGINT NOT NULL, date DATE NOT NULL, "
                f"source VARCHAR(64) NOT NULL, name VARCHAR(1024), {metrics}, row_hash VARCHAR(64) NOT NULL, "
                "updated_at VARCHAR(40) NOT NULL, PRIMARY KEY (campaign_id, date, source))"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO CioMetrics (campaign_id, date, source, name, row_hash, updated_at) "
                "VALUES (1, '2026-11-19', 'campaign:v2:UTC', 'old', 'h', 't0')"
            )
        )
    store = MetricsStore(engine, table="CioMetrics")
    store.ensure_table()
    store.upsert([row(1, "2026-11-20", 10)], updated_at="t1")
    assert [(r["date"], r["updated_at"]) for r in store.fetch("2026-11-01", "2026-11-30")] == [
        ("2026-11-19", "t0"),
        ("2026-11-20", "t1"),
    ]
    assert [t for t in sa.inspect(engine).get_table_names() if t.lower() == "ciometrics"] == ["ciometrics"]
    status_rows = StatusQueries(engine).metrics_rows(date(2026, 11, 1), date(2026, 11, 30), table="CioMetrics")
    assert [r["date"] for r in status_rows] == ["2026-11-19", "2026-11-20"]  # the status page reads it too
