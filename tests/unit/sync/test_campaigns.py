"""Pure campaign-metrics logic: windows, request plans, series -> rows, the upsert decision."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from airflow_provider_customerio.sync.campaigns import (
    METRIC_COLUMNS,
    CampaignMetricsError,
    MetricRow,
    campaign_ref,
    check_lookback,
    metrics_window,
    parse_campaign_ids,
    plan_request,
    select_campaigns,
    series_days,
    series_to_rows,
    source_label,
    sync_campaign_metrics,
)

UTC = timezone.utc
NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


def dt(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------ window
def test_daily_interval_with_lookback_covers_the_day_and_the_days_before() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=3, now=NOW)
    assert (w.first_day, w.last_day) == (date(2026, 11, 17), date(2026, 11, 20))
    assert w.interval_first_day == date(2026, 11, 20)
    assert len(w.days) == 4
    assert w.start_ts() == int(dt(2026, 11, 17).timestamp())
    assert w.end_ts() == int(dt(2026, 11, 21).timestamp()) - 1


def test_zero_width_interval_stands_for_the_day_before() -> None:
    w = metrics_window(dt(2026, 11, 21), dt(2026, 11, 21), lookback_days=0, now=NOW)
    assert (w.first_day, w.last_day) == (date(2026, 11, 20), date(2026, 11, 20))


def test_unaligned_interval_covers_every_day_it_touches() -> None:
    w = metrics_window(dt(2026, 11, 20, 1), dt(2026, 11, 21, 1), lookback_days=0, now=NOW)
    assert (w.first_day, w.last_day) == (date(2026, 11, 20), date(2026, 11, 21))


def test_manual_run_reads_yesterday() -> None:
    w = metrics_window(None, None, lookback_days=2, now=NOW)
    assert w.manual and (w.first_day, w.last_day) == (date(2026, 11, 25), date(2026, 11, 27))


def test_future_days_are_cut_off() -> None:
    w = metrics_window(dt(2026, 11, 28), dt(2026, 12, 5), lookback_days=1, now=NOW)
    assert w.last_day == date(2026, 11, 28)


def test_time_zone_moves_the_day_boundaries() -> None:
    w = metrics_window(dt(2026, 11, 20, 5), dt(2026, 11, 21, 5), lookback_days=0, now=NOW, tz="America/New_York")
    assert (w.first_day, w.last_day) == (date(2026, 11, 20), date(2026, 11, 20))
    assert w.start_ts() == int(dt(2026, 11, 20, 5).timestamp())  # EST = UTC-5


@pytest.mark.parametrize("bad", [-1, 46, "x", 2.5, True, None])
def test_bad_lookback_names_the_field(bad: object) -> None:
    with pytest.raises(CampaignMetricsError, match="lookback_days"):
        check_lookback(bad)


def test_naive_datetimes_and_bad_zones_are_refused() -> None:
    with pytest.raises(CampaignMetricsError, match="data_interval_start"):
        metrics_window(datetime(2026, 11, 20), dt(2026, 11, 21), lookback_days=0, now=NOW)
    with pytest.raises(CampaignMetricsError, match="timezone"):
        metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=0, now=NOW, tz="Mars/Olympus")


# ---------------------------------------------------------------------------------------------- requests
def test_v2_request_covers_the_window_exactly() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=2, now=NOW)
    assert plan_request(w, version=2, now=NOW) == {
        "version": 2,
        "res": "days",
        "start": int(dt(2026, 11, 18).timestamp()),
        "end": int(dt(2026, 11, 21).timestamp()) - 1,
    }


def test_v1_request_counts_steps_back_from_today_in_eastern_time() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=2, now=NOW)
    # today (US/Eastern) is 2026-11-28: 18th..28th = 11 steps
    assert plan_request(w, version=1, now=NOW) == {"period": "days", "steps": 11}
    days = series_days(11, window=w, version=1, now=NOW)
    assert days[0] == date(2026, 11, 18) and days[-1] == date(2026, 11, 28)


def test_v1_cannot_reach_beyond_45_days() -> None:
    w = metrics_window(dt(2026, 9, 1), dt(2026, 9, 2), lookback_days=0, now=NOW)
    with pytest.raises(CampaignMetricsError, match="metrics_version=2"):
        plan_request(w, version=1, now=NOW)


def test_unknown_version_is_refused() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=0, now=NOW)
    with pytest.raises(CampaignMetricsError, match="metrics_version"):
        plan_request(w, version=3, now=NOW)


# -------------------------------------------------------------------------------------------------- rows
def _series(n: int, base: int = 100) -> dict[str, list[int]]:
    return {
        "sent": [base + i for i in range(n)],
        "delivered": [base + i - 1 for i in range(n)],
        "opened": list(range(n)),
        "clicked": [0] * n,
        "2xx": [9] * n,
    }


def test_v2_series_becomes_one_row_per_window_day_oldest_first() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=2, now=NOW)
    rows, bad = series_to_rows(7, "Welcome", _series(3), window=w, version=2, now=NOW, source="campaign:v2:UTC")
    assert not bad
    assert [r.day for r in rows] == [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
    assert [r.metrics["sent"] for r in rows] == [100, 101, 102]
    assert rows[0].metrics["human_opened"] is None  # no series -> NULL, never a made-up zero
    assert set(rows[0].metrics) == set(METRIC_COLUMNS)
    assert rows[2].key == (7, "2026-11-20", "campaign:v2:UTC")


def test_extra_series_entries_outside_the_window_are_dropped() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=0, now=NOW)
    rows, _ = series_to_rows(7, "W", _series(3), window=w, version=2, now=NOW, source="s")
    assert [r.day for r in rows] == [date(2026, 11, 20)]


def test_v1_series_is_aligned_on_today() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=1, now=NOW)
    rows, _ = series_to_rows(7, "W", _series(11), window=w, version=1, now=NOW, source="s")
    # entries: 18th..28th; window 19th..20th -> entries 1 and 2
    assert [(r.day, r.metrics["sent"]) for r in rows] == [(date(2026, 11, 19), 101), (date(2026, 11, 20), 102)]


def test_a_day_with_a_non_numeric_value_is_rejected_with_its_reason() -> None:
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=1, now=NOW)
    series = _series(2)
    series["opened"][1] = "lots"
    rows, bad = series_to_rows(7, "W", series, window=w, version=2, now=NOW, source="s")
    assert [r.day for r in rows] == [date(2026, 11, 19)]
    assert len(bad) == 1 and bad[0].reason == "invalid_number" and "opened" in bad[0].message


def test_content_hash_changes_with_a_value_and_the_name_only() -> None:
    base = MetricRow(1, date(2026, 11, 20), "s", "A", {"sent": 1})
    assert base.content_hash == MetricRow(1, date(2026, 11, 21), "t", "A", {"sent": 1}).content_hash
    assert base.content_hash != MetricRow(1, date(2026, 11, 20), "s", "A", {"sent": 2}).content_hash
    assert base.content_hash != MetricRow(1, date(2026, 11, 20), "s", "B", {"sent": 1}).content_hash


def test_source_label_names_the_day_basis() -> None:
    assert source_label(2, "UTC") == "campaign:v2:UTC"
    assert source_label(1, "UTC") == "campaign:v1:EST"


# ------------------------------------------------------------------------------------------- campaigns
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ([], None),
        ("None", None),
        ([3, "4", 3], [3, 4]),
        ("1, 2", [1, 2]),
        ("[5]", [5]),
        (9, [9]),
    ],
)
def test_campaign_ids_parameter_forms(raw: object, expected: list[int] | None) -> None:
    assert parse_campaign_ids(raw) == expected


@pytest.mark.parametrize("raw", [[0], ["x"], [True], "[1,", {"a": 1}])
def test_bad_campaign_ids_name_the_parameter(raw: object) -> None:
    with pytest.raises(CampaignMetricsError, match="campaign_ids"):
        parse_campaign_ids(raw)


def test_select_campaigns_orders_and_checks_ids() -> None:
    listed = [{"id": 3, "name": "C"}, {"id": 1, "name": "A"}, {"id": 2}]
    assert select_campaigns(listed, None) == [
        {"id": 1, "name": "A"},
        {"id": 2, "name": "campaign 2"},
        {"id": 3, "name": "C"},
    ]
    assert select_campaigns(listed, [3, 1]) == [{"id": 3, "name": "C"}, {"id": 1, "name": "A"}]
    with pytest.raises(CampaignMetricsError, match=r"campaign_ids: \[99\] do not exist"):
        select_campaigns(listed, [1, 99])


def test_campaign_ref_accepts_dict_or_id() -> None:
    assert campaign_ref({"id": 4, "name": "X"}) == (4, "X")
    assert campaign_ref("5") == (5, "campaign 5")
    with pytest.raises(CampaignMetricsError, match="campaign"):
        campaign_ref({"name": "no id"})


# ---------------------------------------------------------------------------------------------- the sync
class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, str, str], MetricRow] = {}
        self.writes = 0

    def existing_hashes(self, campaign_id: int, source: str, first: str, last: str) -> dict[str, str]:
        return {
            k[1]: r.content_hash
            for k, r in self.rows.items()
            if k[0] == campaign_id and k[2] == source and first <= k[1] <= last
        }

    def upsert(self, rows, *, updated_at: str) -> int:  # type: ignore[no-untyped-def]
        self.writes += len(rows)
        for r in rows:
            self.rows[r.key] = r
        return len(rows)


def test_sync_inserts_then_changes_nothing_then_updates_a_late_day() -> None:
    store = MemoryStore()
    calls: list[dict[str, object]] = []
    series = _series(4)

    def fetch(cid: int, **kw: object) -> dict[str, list[int]]:
        calls.append({"id": cid, **kw})
        return {k: list(v) for k, v in series.items()}

    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=3, now=NOW)
    first = sync_campaign_metrics(7, "W", fetch_series=fetch, store=store, window=w, version=2, now=NOW)
    assert (first.inserted, first.updated, first.unchanged) == (4, 0, 0)
    again = sync_campaign_metrics(7, "W", fetch_series=fetch, store=store, window=w, version=2, now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4) and store.writes == 4
    series["opened"][1] += 5  # late opens for the 18th
    late = sync_campaign_metrics(7, "W", fetch_series=fetch, store=store, window=w, version=2, now=NOW)
    assert (late.inserted, late.updated, late.unchanged) == (0, 1, 3)
    assert store.rows[(7, "2026-11-18", "campaign:v2:UTC")].metrics["opened"] == 6
    assert calls[0] == {"id": 7, "version": 2, "res": "days", "start": w.start_ts(), "end": w.end_ts()}


def test_sync_sends_bad_days_to_the_reject_sink() -> None:
    lines: list[dict[str, object]] = []

    class Sink:
        def reject(self, **kw: object) -> None:
            lines.append(kw)

    series = _series(2)
    series["sent"][0] = None  # type: ignore[call-overload]
    w = metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=1, now=NOW)
    res = sync_campaign_metrics(
        7, "W", fetch_series=lambda cid, **kw: series, store=MemoryStore(), window=w, version=2, now=NOW, rejects=Sink()
    )
    assert res.rejected == 1 and res.inserted == 1
    assert lines[0]["reason"] == "invalid_number" and lines[0]["record_id"] == "7:2026-11-19"


def test_empty_window_makes_no_call() -> None:
    w = metrics_window(dt(2026, 12, 20), dt(2026, 12, 21), lookback_days=0, now=NOW)
    assert w.empty
    res = sync_campaign_metrics(
        7, "W", fetch_series=lambda *a, **k: pytest.fail("called"), store=MemoryStore(), window=w, version=2, now=NOW
    )
    assert res.days_read == 0


def test_v2_request_names_a_non_utc_zone() -> None:
    w = metrics_window(dt(2026, 11, 20, 5), dt(2026, 11, 21, 5), lookback_days=0, now=NOW, tz="America/New_York")
    assert plan_request(w, version=2, now=NOW)["tz"] == "America/New_York"
    assert "tz" not in plan_request(
        metrics_window(dt(2026, 11, 20), dt(2026, 11, 21), lookback_days=0, now=NOW), version=2, now=NOW
    )
