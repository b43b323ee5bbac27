"""Campaign metrics against the sandbox: real hook, real HTTP, the real operators and store.

The seeded world has 3 campaigns with daily metrics for the last 14 UTC days. The expected values are read from
the sandbox's own state (an oracle independent of the provider code). Late-arriving opens are simulated by
changing that state, as the vendor's numbers change after the fact.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_customerio.operators.campaigns import (
    CustomerIOCampaignMetricsOperator,
    CustomerIOCampaignReportOperator,
    CustomerIOListCampaignsOperator,
)
from airflow_provider_customerio.store.ledger import read_ledger
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.campaigns import CampaignMetricsError

pytestmark = pytest.mark.integration
UTC = timezone.utc


def midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


class World:
    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_conn: Any) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        sandbox.set_airflow_env(monkeypatch)
        sandbox.seed(people=0, campaigns=3, days=14, seed=5)
        self.cio = sandbox.server.ctx.cio
        self.db = tmp_path / "reporting.db"
        airflow_conn("reporting_db", conn_type="sqlite", host=str(self.db))
        cfg = tmp_path / "customerio_config.yaml"
        cfg.write_text(
            json.dumps(
                {
                    "connectors": {
                        "customerio": {
                            "campaigns": {
                                "lookback_days": 2,
                                "sql_conn_id": "reporting_db",
                                "table": "cio_campaign_metrics",
                            }
                        }
                    }
                }
            )
        )
        monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
        self.today = datetime.now(UTC).date()

    def context(self, day: date, run_id: str = "run") -> dict[str, Any]:
        return {
            "data_interval_start": midnight(day),
            "data_interval_end": midnight(day + timedelta(days=1)),
            "run_id": run_id,
        }

    def list_campaigns(self, **kwargs: Any) -> list[dict[str, Any]]:
        return CustomerIOListCampaignsOperator(task_id="list_campaigns", **kwargs).execute(context={})

    def load(self, day: date, campaigns: list[dict[str, Any]] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        out = []
        for c in campaigns if campaigns is not None else self.list_campaigns():
            op = CustomerIOCampaignMetricsOperator(
                task_id="load_metrics", campaign=c, state_path=str(self.tmp_path / "state.db"), **kwargs
            )
            out.append(op.execute(context=self.context(day, run_id=f"run_{day}")))
        return out

    def table(self) -> dict[tuple[int, str], dict[str, Any]]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM cio_campaign_metrics ORDER BY campaign_id, date").fetchall()
        return {(r["campaign_id"], r["date"]): dict(r) for r in rows}

    def truth(self, campaign_id: int, day: date, metric: str) -> int:
        return self.cio.campaign_daily[campaign_id][int(midnight(day).timestamp())][metric]


@pytest.fixture
def world(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_conn: Any) -> World:
    return World(sandbox, tmp_path, monkeypatch, airflow_conn)


def test_metrics_for_a_window_match_the_vendor_and_a_rerun_changes_nothing(world: World) -> None:
    day = world.today - timedelta(days=3)
    results = world.load(day)
    assert [(r["campaign_id"], r["inserted"], r["updated"]) for r in results] == [(1, 3, 0), (2, 3, 0), (3, 3, 0)]
    table = world.table()
    assert len(table) == 9  # 3 campaigns x (the day + 2 lookback days)
    for cid in (1, 2, 3):
        for d in (day - timedelta(days=2), day - timedelta(days=1), day):
            row = table[(cid, d.isoformat())]
            for metric in ("sent", "delivered", "opened", "clicked", "converted", "bounced", "unsubscribed", "spammed"):
                assert row[metric] == world.truth(cid, d, metric), (cid, d, metric)
            assert row["source"] == "campaign:v2:UTC" and row["name"].startswith(("Onboarding", "Weekly"))
            assert row["human_opened"] is None  # not in the series: NULL, not a made-up 0
    calls = world.sandbox.requests(vendor="app", path_contains="/metrics")
    first = int(midnight(day - timedelta(days=2)).timestamp())
    assert [(c["path"], parse_qs(c["query"])) for c in calls] == [
        (
            f"/app/v1/campaigns/{cid}/metrics",
            {"version": ["2"], "res": ["days"], "start": [str(first)], "end": [str(first + 3 * 86400 - 1)]},
        )
        for cid in (1, 2, 3)
    ]

    again = world.load(day)
    assert [(r["inserted"], r["updated"], r["unchanged"]) for r in again] == [(0, 0, 3)] * 3
    assert world.table() == table  # same rows, same updated_at: nothing was rewritten


def test_a_late_update_within_the_lookback_is_picked_up_and_nothing_else_moves(world: World) -> None:
    day = world.today - timedelta(days=4)
    world.load(day)
    before = world.table()
    late, outside = day - timedelta(days=1), day - timedelta(days=2)
    world.cio.campaign_daily[2][int(midnight(late).timestamp())]["opened"] += 17  # opens counted late
    results = world.load(day + timedelta(days=1))  # next run: its lookback covers `late` but not `outside`
    world.cio.campaign_daily[2][int(midnight(outside).timestamp())]["opened"] += 5  # too old to be re-read
    after = world.table()
    assert {r["campaign_id"]: (r["inserted"], r["updated"]) for r in results} == {1: (1, 0), 2: (1, 1), 3: (1, 0)}
    assert after[(2, late.isoformat())]["opened"] == before[(2, late.isoformat())]["opened"] + 17
    assert after[(2, outside.isoformat())] == before[(2, outside.isoformat())]
    assert len(after) == len(before) + 3
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {(2, late.isoformat())}


def test_three_consecutive_days_fill_each_day_exactly_once(world: World) -> None:
    first = world.today - timedelta(days=8)
    for i in range(3):  # like three backfill runs: each reads its day and the 2 days before
        world.load(first + timedelta(days=i))
    table = world.table()
    expected_days = {(first + timedelta(days=k)).isoformat() for k in range(-2, 3)}
    assert len(table) == 3 * 5 and {d for _, d in table} == expected_days
    for i in range(3):  # re-running the whole backfill changes nothing
        assert all(r["inserted"] == r["updated"] == 0 for r in world.load(first + timedelta(days=i)))
    assert world.table() == table


def test_campaign_ids_select_and_unknown_ids_are_a_clear_error(world: World) -> None:
    assert world.list_campaigns(campaign_ids=[3, 1]) == [
        {"id": 3, "name": "Onboarding flow 3"},
        {"id": 1, "name": "Onboarding flow 1"},
    ]
    with pytest.raises(CampaignMetricsError, match=r"campaign_ids: \[42\] do not exist"):
        world.list_campaigns(campaign_ids=[1, 42])


def test_a_campaign_deleted_after_listing_is_ledgered_not_fatal(world: World) -> None:
    campaigns = world.list_campaigns()
    del world.cio.campaigns[2]
    results = world.load(world.today - timedelta(days=2), campaigns)
    assert [r["rejected"] for r in results] == [0, 1, 0]
    lines = read_ledger(world.tmp_path / "state.db", results[1]["ledger"])
    assert [(line["reason"], line["record_id"]) for line in lines] == [("not_found", "2")]


def test_version_1_reads_eastern_days_into_their_own_source(world: World) -> None:
    results = world.load(world.today - timedelta(days=2), metrics_version=1)
    assert {r["source"] for r in results} == {"campaign:v1:EST"}
    assert sum(r["inserted"] for r in results) == 9
    calls = world.sandbox.requests(vendor="app", path_contains="/metrics")
    queries = [parse_qs(c["query"]) for c in calls]
    assert len(queries) == 3 and all(q["period"] == ["days"] and "version" not in q for q in queries)


def test_report_renders_the_table(world: World, tmp_path: Path) -> None:
    day = world.today - timedelta(days=2)
    world.load(day)
    op = CustomerIOCampaignReportOperator(
        task_id="render_report", report_days=7, report_dir=str(tmp_path / "rep"), state_path=str(tmp_path / "s.db")
    )
    out = op.execute(context=world.context(day))
    html = Path(out["path"]).read_text()
    assert SyncStore.at(tmp_path / "s.db").get_report(out["report"]) == ("text/html", html)
    assert out["campaigns"] == 3 and out["last_day"] == day.isoformat()
    assert Path(out["path"]).name == f"customerio_campaign_metrics_{day.isoformat()}.html"
    assert html.count("<svg") == 3
    delivered = sum(world.truth(1, day - timedelta(days=k), "delivered") for k in range(3))
    assert f"<td>{delivered:,}</td>" in html


def test_a_manual_run_without_interval_reads_yesterday_and_the_lookback(world: World) -> None:
    op = CustomerIOCampaignMetricsOperator(
        task_id="load_metrics", campaign={"id": 1, "name": "x"}, state_path=str(world.tmp_path / "state.db")
    )
    out = op.execute(context={"run_id": "manual__1"})
    yesterday = world.today - timedelta(days=1)
    assert out["window"]["manual"] is True and out["window"]["last_day"] == yesterday.isoformat()
    assert sorted(d for _, d in world.table()) == [(yesterday - timedelta(days=k)).isoformat() for k in (2, 1, 0)]


def test_a_non_utc_day_basis_is_sent_as_tz(world: World) -> None:
    op = CustomerIOCampaignMetricsOperator(task_id="load_metrics", campaign=1, timezone="Europe/Paris")
    out = op.execute(context=world.context(world.today - timedelta(days=2)))
    calls = [r for r in world.sandbox.requests(vendor="app") if "/metrics" in r["path"]]
    assert calls and all("tz=Europe%2FParis" in r["query"] or "tz=Europe/Paris" in r["query"] for r in calls), calls
    assert out["inserted"] > 0


def test_newsletters_and_broadcasts_go_into_the_same_table_and_report(world: World, tmp_path: Path) -> None:
    world.sandbox.seed(people=0, campaigns=3, newsletters=2, broadcasts=1, days=14, seed=5)
    listed = world.list_campaigns()
    assert [(c["id"], c.get("kind", "campaign")) for c in listed] == [
        (1, "campaign"),
        (2, "campaign"),
        (3, "campaign"),
        (101, "newsletter"),
        (102, "newsletter"),
        (201, "broadcast"),
    ]
    day = world.today - timedelta(days=3)
    results = world.load(day, listed)
    assert [r["source"] for r in results] == ["campaign:v2:UTC"] * 3 + ["newsletter:v1:EST"] * 2 + ["broadcast:v1:EST"]
    assert all(r["inserted"] == 3 and r["rejected"] == 0 for r in results)
    with sqlite3.connect(world.db) as conn:
        by_source = dict(conn.execute("SELECT source, COUNT(*) FROM cio_campaign_metrics GROUP BY source").fetchall())
        names = {r[0] for r in conn.execute("SELECT name FROM cio_campaign_metrics WHERE source LIKE 'newsletter%'")}
        delivered = [r[0] for r in conn.execute("SELECT delivered FROM cio_campaign_metrics WHERE campaign_id = 201")]
    assert by_source == {"campaign:v2:UTC": 9, "newsletter:v1:EST": 6, "broadcast:v1:EST": 3}
    assert names == {"Monthly newsletter 1", "Monthly newsletter 2"} and all(isinstance(v, int) for v in delivered)
    calls = [c["path"] for c in world.sandbox.requests(vendor="app", path_contains="/metrics")]
    assert "/app/v1/newsletters/101/metrics" in calls and "/app/v1/broadcasts/201/metrics" in calls
    assert [r["unchanged"] for r in world.load(day, listed)] == [3] * 6  # a re-run writes nothing

    op = CustomerIOCampaignReportOperator(
        task_id="render_report", report_days=7, report_dir=str(tmp_path / "rep"), state_path=str(tmp_path / "s.db")
    )
    html = Path(op.execute(context=world.context(day))["path"]).read_text()
    assert html.count("<svg") == 6 and "newsletter:v1:EST" in html and "Monthly newsletter 1" in html
    assert "API broadcast 1" in html and "broadcast:v1:EST" in html


def test_campaigns_include_limits_what_is_listed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.sandbox.seed(people=0, campaigns=2, newsletters=1, broadcasts=1, days=3, seed=5)
    cfg = world.tmp_path / "only_newsletters.yaml"
    cfg.write_text(json.dumps({"connectors": {"customerio": {"campaigns": {"include": ["newsletters"]}}}}))
    monkeypatch.setenv("CUSTOMERIO_PROVIDER_CONFIG", str(cfg))
    assert world.list_campaigns() == [{"id": 101, "name": "Monthly newsletter 1", "kind": "newsletter"}]


def test_a_dry_run_plans_the_rows_and_writes_nothing(world: World) -> None:
    day = world.today - timedelta(days=3)
    world.load(day, [{"id": 1, "name": "x"}])  # 3 rows stored
    world.cio.campaign_daily[1][int(midnight(day).timestamp())]["opened"] += 5  # a late open on the last day
    before = world.table()
    (dry,) = world.load(day, [{"id": 1, "name": "x"}], dry_run=True)
    (dry2,) = world.load(day, [{"id": 2, "name": "y"}], dry_run=True)
    assert dry["dry_run"] is True and dry["plan"] == {"creates": 0, "updates": 1, "deletes": 0}
    assert dry2["plan"] == {"creates": 3, "updates": 0, "deletes": 0}
    assert world.table() == before
