"""Operators of the campaign-metrics capability: list campaigns, load one campaign's daily metrics into
the reporting table (mapped over campaigns), and render the HTML report.

Thin: each ``execute`` resolves its arguments and the run's window, builds the hook and the store, and delegates
to :mod:`airflow_provider_customerio.sync.campaigns`, :mod:`airflow_provider_customerio.sql.metrics_store` and
:mod:`airflow_provider_customerio.reporting`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.exceptions import NotFoundError
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    as_bool,
    data_interval,
    load_connector_config,
    open_metrics_store,
    open_sync_store,
    record_summary,
    run_ids,
    skip,
    task_key,
)
from airflow_provider_customerio.sync.campaigns import (
    CampaignMetricsError,
    CampaignMetricsResult,
    campaign_lookback_days,
    campaign_settings,
    check_version,
    metrics_ref,
    metrics_window,
    parse_campaign_ids,
    select_campaigns,
    select_items,
    source_label,
    sync_campaign_metrics,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ shared helpers


class _CampaignOperatorBase(BaseOperator):
    """Common arguments of the campaign operators."""

    def __init__(
        self,
        *,
        config_path: str | None = None,
        sql_conn_id: str | None = None,
        table: str | None = None,
        state_path: str | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        customerio_app_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.state_path = state_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.customerio_app_hook_params = dict(customerio_app_hook_params or {})

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(self.customerio_app_conn_id, **self.customerio_app_hook_params)


_BASE_TEMPLATE_FIELDS = ("config_path", "sql_conn_id", "table", "state_path", "customerio_app_conn_id")


# ----------------------------------------------------------------------------------------------- operators
class CustomerIOListCampaignsOperator(_CampaignOperatorBase):
    """List the campaigns to report on (``GET /v1/campaigns``, one unpaged call) and make sure the reporting
    table exists. Returns ``[{"id", "name"}, ...]``, the input of the mapped metrics task.

    :param campaign_ids: only these campaigns (templated; a list, ``"1,2"`` or empty for every campaign). An id
        that does not exist is an error naming the parameter.
    :param config_path: the provider's YAML config (templated); default: ``$CUSTOMERIO_PROVIDER_CONFIG`` or
        ``customerio_config.yaml`` in the DAGs folder, else the built-in defaults.
    :param sql_conn_id: Airflow SQL connection of the table; default ``connectors.customerio.campaigns.sql_conn_id``,
        else an SQLite file under ``$AIRFLOW_HOME/customerio_sync``.
    :param table: table name; default ``connectors.customerio.campaigns.table``.
    :param state_path: the SQLite file used when no SQL connection is configured.
    :param customerio_app_conn_id: Customer.io App API connection.
    :param customerio_app_hook_params: extra hook arguments (e.g. ``rate_limit``).
    """

    template_fields: Sequence[str] = ("campaign_ids", *_BASE_TEMPLATE_FIELDS)
    ui_color = "#ffd58a"

    def __init__(self, *, campaign_ids: Sequence[int] | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.campaign_ids = campaign_ids

    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Return the selected campaigns."""
        wanted = parse_campaign_ids(self.campaign_ids)
        config = load_connector_config(self.config_path)
        settings = campaign_settings(config, sql_conn_id=self.sql_conn_id, table=self.table)
        with open_metrics_store(settings, open_sync_store(config, self.state_path)) as store:
            store.ensure_table()
            log.info("Reporting table %s ready in %s.", store.table, store.description)
        if not config.sync.campaigns and wanted is None:
            skip("connectors.customerio.sync.campaigns is false")
        include = config.campaigns.include
        selected = select_campaigns(self.app_hook.list_campaigns(), wanted) if "campaigns" in include or wanted else []
        log.info("%d campaign(s) to read: %s", len(selected), [c["id"] for c in selected][:50])
        if wanted is None:  # campaign_ids names campaigns only: newsletters and broadcasts with every campaign
            if "newsletters" in include:
                newsletters = select_items(self.app_hook.list_newsletters(), "newsletter")
                log.info("%d newsletter(s) to read: %s", len(newsletters), [n["id"] for n in newsletters][:50])
                selected += newsletters
            if "broadcasts" in include:
                broadcasts = select_items(self.app_hook.list_broadcasts(), "broadcast")
                log.info("%d API-triggered broadcast(s) to read: %s", len(broadcasts), [b["id"] for b in broadcasts])
                selected += broadcasts
        return selected


class CustomerIOCampaignMetricsOperator(LineageMixin, _CampaignOperatorBase):
    """Load one campaign's daily metrics for the run's window into the reporting table.

    The window is the run's data interval plus ``lookback_days`` days before it (late opens and clicks are
    re-read); a run without a data interval (a manual trigger) reads the last complete day. Rows are upserted by
    ``(campaign_id, date, source)``; rows whose values did not change are not written, so re-runs and backfills
    are idempotent. Returns the counts (inserted, updated, unchanged, rejected) and the window.

    :param campaign: ``{"id", "name"}`` from the list task, or a campaign id (templated).
    :param lookback_days: days re-read before the interval (templated); default
        ``connectors.customerio.campaigns.lookback_days``.
    :param metrics_version: 2 (``start``/``end``, recommended) or 1 (``period``/``steps``, Eastern-time days, 45
        days back at most).
    :param timezone: IANA zone of the day boundaries (version 2).
    :param dry_run: read and compare, write nothing; the result's ``plan`` counts the rows that would be
        created and updated (templated).
    """

    # `campaign` is not templated: it comes from the vendor (a name holding "{{" must not be rendered)
    lineage_capability = "campaign_metrics"
    template_fields: Sequence[str] = ("lookback_days", "dry_run", *_BASE_TEMPLATE_FIELDS)
    ui_color = "#ffd58a"

    def __init__(
        self,
        *,
        campaign: Mapping[str, Any] | int | str,
        lookback_days: int | str | None = None,
        metrics_version: int = 2,
        timezone: str = "UTC",
        dry_run: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.campaign = campaign
        self.lookback_days = lookback_days
        self.metrics_version = metrics_version
        self.timezone = timezone

        declare_outlets(self, "campaign_metrics")

    def _fetcher(self, kind: str) -> Callable[..., Mapping[str, Any]]:
        """The App API call that reads the metric series of a ``kind`` (campaign, newsletter, broadcast)."""
        if kind == "newsletter":
            return self.app_hook.get_newsletter_metrics
        if kind == "broadcast":
            return self.app_hook.get_broadcast_metrics
        return self.app_hook.get_campaign_metrics

    def execute(self, context: Context) -> dict[str, Any]:
        """Read, compare and upsert; return the counts."""
        campaign_id, name, kind = metrics_ref(self.campaign)
        dry_run = as_bool(self.dry_run, "dry_run")
        # newsletters and broadcasts have only the period/steps form of the metrics endpoint (version 1)
        version = check_version(self.metrics_version) if kind == "campaign" else 1
        fetch_series = self._fetcher(kind)
        config = load_connector_config(self.config_path)
        settings = campaign_settings(config, sql_conn_id=self.sql_conn_id, table=self.table)
        lookback = campaign_lookback_days(self.lookback_days, config)
        window = metrics_window(
            *data_interval(context), lookback_days=lookback, now=datetime.now(timezone.utc), tz=self.timezone
        )
        dag_id, run_id, map_index = run_ids(context)
        sync_store = open_sync_store(config, self.state_path)
        ledger = sync_store.ledger(dag_id, run_id, task_key(f"{kind}_{campaign_id}", map_index))
        log.info(
            "%s %s (%s): days %s to %s (%d days re-read before the interval%s).",
            kind.capitalize(),
            campaign_id,
            name,
            window.first_day,
            window.last_day,
            window.lookback_days,
            ", manual run" if window.manual else "",
        )
        try:
            with open_metrics_store(settings, sync_store) as store:
                store.ensure_table()
                try:
                    result = sync_campaign_metrics(
                        campaign_id,
                        name,
                        fetch_series=fetch_series,
                        store=store,
                        window=window,
                        version=version,
                        now=datetime.now(timezone.utc),
                        rejects=ledger,
                        kind=kind,
                        dry_run=dry_run,
                    )
                except NotFoundError:
                    # deleted between the list task and this one: recorded, not a failure of the run
                    ledger.reject(
                        record_id=str(campaign_id),
                        reason="not_found",
                        message=f"{kind} {campaign_id} no longer exists in Customer.io; nothing read",
                        stage="metrics",
                        identifiers={f"{kind}_id": campaign_id},
                    )
                    result = CampaignMetricsResult(
                        campaign_id, source_label(version, window.tz, kind), window.as_dict(), rejected=1
                    )
        finally:
            ledger.close()
        out = {
            **result.as_dict(),
            "name": name,
            "kind": kind,
            "dry_run": dry_run,
            **({"plan": {"creates": result.inserted, "updates": result.updated, "deletes": 0}} if dry_run else {}),
            "table": settings.table,
            "api_calls": self.app_hook.api_calls,
            "ledger": ledger.key if ledger.total else None,
        }
        log.info(
            "Campaign %s: %d inserted, %d updated, %d unchanged, %d rejected.",
            campaign_id,
            result.inserted,
            result.updated,
            result.unchanged,
            result.rejected,
        )
        record_summary(sync_store, "campaign_metrics", context, self.task_id, out)
        return out


class CustomerIOCampaignReportOperator(_CampaignOperatorBase):
    """Render the per-campaign trend of delivered, opened and clicked as a self-contained HTML file (inline SVG
    charts), read from the reporting table, and keep it in the sync store. Returns ``{"report", "path",
    "campaigns", "first_day", "last_day"}``.

    The report ends on the last day of the run's window and covers ``report_days`` days (the days the table
    holds; backfilled days included).

    :param campaign_ids: only these campaigns (templated); default every campaign in the table.
    :param report_days: days shown (templated).
    :param report_dir: also write the report as a file in this folder (templated); the report itself is always
        kept in the sync store as ``customerio_campaign_metrics_<last day>.html``, where every machine reads it.
    """

    template_fields: Sequence[str] = ("campaign_ids", "report_days", "report_dir", *_BASE_TEMPLATE_FIELDS)
    ui_color = "#ffe9bf"

    def __init__(
        self,
        *,
        campaign_ids: Sequence[int] | str | None = None,
        report_days: int | str = 30,
        report_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign_ids = campaign_ids
        self.report_days = report_days
        self.report_dir = report_dir

    def execute(self, context: Context) -> dict[str, Any]:
        """Write the report; return where."""
        from airflow_provider_customerio.reporting import build_trends, render_report, write_report

        wanted = parse_campaign_ids(self.campaign_ids)
        try:
            days = int(str(self.report_days).strip())
        except ValueError:
            days = 0
        if not 1 <= days <= 366:
            raise CampaignMetricsError(f"report_days: {self.report_days!r} must be a whole number from 1 to 366.")
        config = load_connector_config(self.config_path)
        settings = campaign_settings(config, sql_conn_id=self.sql_conn_id, table=self.table)
        window = metrics_window(*data_interval(context), lookback_days=0, now=datetime.now(timezone.utc), tz="UTC")
        last_day: date = window.last_day
        first_day = last_day - timedelta(days=days - 1)
        sync_store = open_sync_store(config, self.state_path)
        with open_metrics_store(settings, sync_store) as store:
            store.ensure_table()
            rows = store.fetch(first_day.isoformat(), last_day.isoformat(), wanted)
        trends = build_trends(rows, first_day, last_day)
        document = render_report(
            trends,
            title="Customer.io campaign performance",
            first_day=first_day,
            last_day=last_day,
            generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            note=f"table {settings.table}",
        )
        name = f"customerio_campaign_metrics_{last_day.isoformat()}.html"
        # the report lives in the shared store (every machine, and the UI, can read it); a file is an extra copy
        sync_store.put_report(name, document)
        path = write_report(Path(self.report_dir) / name, document) if self.report_dir else None
        log.info(
            "Report of %d campaign(s) over %s..%s stored as %s in %s%s",
            len(trends),
            first_day,
            last_day,
            name,
            sync_store.location,
            f" and written to {path}" if path else "",
        )
        return {
            "report": name,
            "path": str(path) if path else None,
            "campaigns": len({t.campaign_id for t in trends}),
            "first_day": first_day.isoformat(),
            "last_day": last_day.isoformat(),
        }


__all__ = [
    "CustomerIOCampaignMetricsOperator",
    "CustomerIOCampaignReportOperator",
    "CustomerIOListCampaignsOperator",
]
