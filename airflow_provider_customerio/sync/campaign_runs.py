"""What each campaign-metrics task does, free of Airflow: select what to report on (campaigns, newsletters,
API-triggered broadcasts), load one item's daily metrics (a campaign deleted meanwhile is ledgered, not a failure),
and check the report's length. The series, rows and windows themselves are in
:mod:`airflow_provider_customerio.sync.campaigns`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from airflow_provider_customerio.exceptions import NotFoundError
from airflow_provider_customerio.sync.campaigns import (
    CampaignMetricsError,
    CampaignMetricsResult,
    MetricsStorePort,
    MetricsWindow,
    check_lookback,
    select_campaigns,
    select_items,
    source_label,
    sync_campaign_metrics,
)
from airflow_provider_customerio.sync.config import CampaignSettings, CustomerIOConfig
from airflow_provider_customerio.sync.ports import RejectSink, RunLedger

log = logging.getLogger(__name__)


class CampaignCatalog(Protocol):
    """The App API listings (:class:`airflow_provider_customerio.hooks.customerio_app.CustomerIOAppHook`)."""

    def list_campaigns(self) -> Iterable[Mapping[str, Any]]: ...
    def list_newsletters(self) -> Iterable[Mapping[str, Any]]: ...
    def list_broadcasts(self) -> Iterable[Mapping[str, Any]]: ...


def campaign_settings(config: CustomerIOConfig, *, sql_conn_id: str | None, table: str | None) -> CampaignSettings:
    """``connectors.customerio.campaigns`` with the operator's ``sql_conn_id`` and ``table`` in place of the
    configured ones when given."""
    c = config.campaigns
    return CampaignSettings(
        lookback_days=c.lookback_days, sql_conn_id=sql_conn_id or c.sql_conn_id, table=table or c.table
    )


def campaign_lookback_days(value: Any, config: CustomerIOConfig) -> int:
    """The operator's ``lookback_days`` (templated: ``None``, ``""`` and ``"None"`` mean the configured one)."""
    if value is None or value == "" or value == "None":
        return config.campaigns.lookback_days
    return check_lookback(value)


def select_report_items(
    catalog: CampaignCatalog, wanted: list[int] | None, include: Sequence[str]
) -> list[dict[str, Any]]:
    """The items to read, ``[{"id", "name", ...}]``: the ``wanted`` campaigns (every campaign when ``None``), and
    without ``wanted`` the newsletters and broadcasts ``include`` names. An unknown wanted id is an error."""
    selected = select_campaigns(catalog.list_campaigns(), wanted) if "campaigns" in include or wanted else []
    log.info("%d campaign(s) to read: %s", len(selected), [c["id"] for c in selected][:50])
    if wanted is not None:  # campaign_ids names campaigns only: newsletters and broadcasts with every campaign
        return selected
    if "newsletters" in include:
        newsletters = select_items(catalog.list_newsletters(), "newsletter")
        log.info("%d newsletter(s) to read: %s", len(newsletters), [n["id"] for n in newsletters][:50])
        selected += newsletters
    if "broadcasts" in include:
        broadcasts = select_items(catalog.list_broadcasts(), "broadcast")
        log.info("%d API-triggered broadcast(s) to read: %s", len(broadcasts), [b["id"] for b in broadcasts])
        selected += broadcasts
    return selected


def load_item_metrics(
    ref: tuple[int, str, str],
    *,
    fetch_series: Callable[..., Mapping[str, Any]],
    store: MetricsStorePort,
    window: MetricsWindow,
    version: int,
    now: datetime,
    ledger: RejectSink,
    dry_run: bool,
) -> CampaignMetricsResult:
    """Read, compare and upsert one item's (``ref``: id, name, kind) daily metrics for ``window``. An item
    deleted since the list task ran is ledgered (``not_found``) and counted as rejected: not a failure."""
    item_id, name, kind = ref
    log.info(
        "%s %s (%s): days %s to %s (%d days re-read before the interval%s).",
        kind.capitalize(),
        item_id,
        name,
        window.first_day,
        window.last_day,
        window.lookback_days,
        ", manual run" if window.manual else "",
    )
    try:
        result = sync_campaign_metrics(
            item_id,
            name,
            fetch_series=fetch_series,
            store=store,
            window=window,
            version=version,
            now=now,
            rejects=ledger,
            kind=kind,
            dry_run=dry_run,
        )
    except NotFoundError:
        ledger.reject(
            record_id=str(item_id),
            reason="not_found",
            message=f"{kind} {item_id} no longer exists in Customer.io; nothing read",
            stage="metrics",
            identifiers={f"{kind}_id": item_id},
        )
        result = CampaignMetricsResult(item_id, source_label(version, window.tz, kind), window.as_dict(), rejected=1)
    log.info(
        "Campaign %s: %d inserted, %d updated, %d unchanged, %d rejected.",
        item_id,
        result.inserted,
        result.updated,
        result.unchanged,
        result.rejected,
    )
    return result


def metrics_summary(result: CampaignMetricsResult, ref: tuple[int, str, str], *, dry_run: bool) -> dict[str, Any]:
    """The metrics task's summary (its XCom, without the run's ``table``, ``api_calls`` and ``ledger``)."""
    _item_id, name, kind = ref
    plan = {"plan": {"creates": result.inserted, "updates": result.updated, "deletes": 0}} if dry_run else {}
    return {**result.as_dict(), "name": name, "kind": kind, "dry_run": dry_run, **plan}


def report_days(value: Any) -> int:
    """The report's length in days (templated): a whole number from 1 to 366, else an error naming the param."""
    try:
        days = int(str(value).strip())
    except ValueError:
        days = 0
    if not 1 <= days <= 366:
        raise CampaignMetricsError(f"report_days: {value!r} must be a whole number from 1 to 366.")
    return days


class ReportRowsPort(Protocol):
    """The reporting table's reads (:class:`airflow_provider_customerio.store.reporting.MetricsStore`)."""

    def fetch(self, first: str, last: str, campaign_ids: Sequence[int] | None = None) -> list[Any]: ...


@dataclass(frozen=True)
class CampaignReport:
    """The rendered report: its name (``customerio_campaign_metrics_<last day>.html``), the HTML, the days it
    covers and how many campaigns it shows."""

    name: str
    document: str
    first_day: date
    last_day: date
    campaigns: int

    def as_dict(self, path: str | None) -> dict[str, Any]:
        """The report task's result: the report's name, the file ``path`` it was also written to, and what it
        covers."""
        return {
            "report": self.name,
            "path": path,
            "campaigns": self.campaigns,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
        }


def campaign_report(
    rows: ReportRowsPort, wanted: list[int] | None, *, last_day: date, days: int, note: str, now: datetime
) -> CampaignReport:
    """Render the per-campaign trend of delivered, opened and clicked over the ``days`` days up to ``last_day``,
    read from the reporting table, as one self-contained HTML document."""
    from airflow_provider_customerio.reporting import build_trends, render_report

    first_day = last_day - timedelta(days=days - 1)
    trends = build_trends(rows.fetch(first_day.isoformat(), last_day.isoformat(), wanted), first_day, last_day)
    document = render_report(
        trends,
        title="Customer.io campaign performance",
        first_day=first_day,
        last_day=last_day,
        generated_at=now.isoformat(timespec="seconds"),
        note=note,
    )
    name = f"customerio_campaign_metrics_{last_day.isoformat()}.html"
    return CampaignReport(name, document, first_day, last_day, len({t.campaign_id for t in trends}))


class MetricsTablePort(MetricsStorePort, Protocol):
    """The reporting table as a metrics task opens it (``store.reporting.MetricsStore``)."""

    def ensure_table(self) -> None: ...


class CampaignMetricsJob:
    """One item's metrics task in the steps of the sync lifecycle: :meth:`run` loads the item's days (no Brevo
    process to wait for), :meth:`finish` returns the summary with the table and the ledger.

    :param ref: the item (id, name, kind).
    :param table: opens the reporting table (a context manager).
    :param ledger: the task's ledger (closed by :meth:`run`).
    :param load: the remaining arguments of :func:`load_item_metrics` (``fetch_series``, ``window``, ``version``,
        ``now``, ``dry_run``).
    :param api_calls: the vendor calls made so far (for the summary).
    """

    def __init__(
        self,
        ref: tuple[int, str, str],
        *,
        table: Callable[[], AbstractContextManager[MetricsTablePort]],
        table_name: str,
        ledger: RunLedger,
        load: Mapping[str, Any],
        api_calls: Callable[[], int] = lambda: 0,
    ) -> None:
        self.ref = ref
        self.table = table
        self.table_name = table_name
        self.ledger = ledger
        self.load = dict(load)
        self.api_calls = api_calls
        self.result: CampaignMetricsResult | None = None

    def run(self) -> Sequence[str]:
        try:
            with self.table() as store:
                store.ensure_table()
                self.result = load_item_metrics(self.ref, store=store, ledger=self.ledger, **self.load)
        finally:
            self.ledger.close()
        return []

    def resume(self) -> None:
        """Nothing to pick up: a metrics task never waits."""

    def complete(self, states: Sequence[Any]) -> Sequence[str]:
        return []

    def save(self) -> None:
        """Nothing to keep: a re-run compares with the table again."""

    def finish(self) -> Mapping[str, Any]:
        if self.result is None:
            raise RuntimeError("CampaignMetricsJob.finish before run")
        return {
            **metrics_summary(self.result, self.ref, dry_run=bool(self.load.get("dry_run"))),
            "table": self.table_name,
            "api_calls": self.api_calls(),
            "ledger": self.ledger.key if self.ledger.total else None,
        }

    def close(self) -> None:
        """Nothing held open after :meth:`run`."""
