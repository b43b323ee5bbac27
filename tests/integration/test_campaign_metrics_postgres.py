"""The reporting table's SQL on a real PostgreSQL server.

No Python Postgres driver is installed here, so the exact statements the store generates (``%s`` placeholders,
as psycopg2 uses) are run through ``psql`` with the parameters rendered as SQL literals. A throwaway cluster is
started in a temp folder on 127.0.0.1 when the PostgreSQL server binaries are present; otherwise the test is
skipped (the CI machine has none unless .ci/run installs them). Set ``CIO_TEST_PG_BIN`` to the folder holding
``initdb``/``pg_ctl``/``psql`` to point at another installation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

import pytest

from airflow_provider_customerio.sql.metrics_store import (
    create_table_sql,
    existing_sql,
    row_params,
    select_sql,
    upsert_sql,
)
from airflow_provider_customerio.sync.campaigns import MetricRow
from tests.postgres_server import PostgresUnavailable, temporary_postgres

Psql = Callable[[str], Any]
pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture(scope="module")
def psql() -> Iterator[Any]:
    try:
        with temporary_postgres() as server:
            yield server.psql
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def render(sql: str, params: Sequence[Any]) -> str:
    parts = sql.split("%s")
    assert len(parts) == len(params) + 1, "placeholder count differs from the parameters"
    return "".join(p + (literal(params[i]) if i < len(params) else "") for i, p in enumerate(parts))


def row(cid: int, day: str, sent: int, name: str = "O'Brien flow") -> MetricRow:
    return MetricRow(
        cid,
        date.fromisoformat(day),
        "campaign:v2:UTC",
        name,
        {"sent": sent, "delivered": sent, "opened": 1, "clicked": 0, "human_opened": None},
    )


def upsert(psql: Psql, rows: list[MetricRow], updated_at: str) -> None:
    sql = upsert_sql("customerio_campaign_metrics", "%s")
    psql("BEGIN; " + "; ".join(render(sql, row_params(r, updated_at)) for r in rows) + "; COMMIT")


def test_store_sql_runs_on_postgres_and_is_idempotent(psql: Psql) -> None:
    psql(create_table_sql("customerio_campaign_metrics"))
    psql(create_table_sql("customerio_campaign_metrics"))  # IF NOT EXISTS
    upsert(psql, [row(1, "2026-11-20", 10), row(1, "2026-11-21", 11), row(2, "2026-11-20", 5)], "t1")
    upsert(psql, [row(1, "2026-11-20", 10), row(1, "2026-11-21", 11), row(2, "2026-11-20", 5)], "t1")
    assert psql("SELECT COUNT(*) FROM customerio_campaign_metrics") == [["3"]]
    upsert(psql, [row(1, "2026-11-21", 14)], "t2")  # a late update
    assert psql("SELECT COUNT(*) FROM customerio_campaign_metrics") == [["3"]]
    got = psql(render(select_sql("customerio_campaign_metrics", "%s", n_campaigns=1), ["2026-11-01", "2026-11-30", 1]))
    assert [(r[0], r[1], r[3], r[5], r[-1]) for r in got] == [
        ("1", "2026-11-20", "O'Brien flow", "10", "t1"),
        ("1", "2026-11-21", "O'Brien flow", "14", "t2"),
    ]
    hashes = psql(
        render(existing_sql("customerio_campaign_metrics", "%s"), [1, "campaign:v2:UTC", "2026-11-21", "2026-11-21"])
    )
    assert hashes == [["2026-11-21", row(1, "2026-11-21", 14).content_hash]]
    types = dict(
        psql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'customerio_campaign_metrics'"
        )
    )
    assert types["date"] == "date" and types["sent"] == "bigint" and types["campaign_id"] == "bigint"
