"""Operators of the campaign-metrics capability: list campaigns, load one campaign's daily metrics into
the reporting table (mapped over campaigns), and render the HTML report.

Thin: they delegate to :mod:`airflow_provider_customerio.sync.campaign_runs`; the metrics task's lifecycle is
:class:`~.base.SyncOperator`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.lineage import declare_outlets
from airflow_provider_customerio.operators.base import SyncOperator
from airflow_provider_customerio.runs.context import data_interval, task_key
from airflow_provider_customerio.runs.settings import load_connector_config, open_sync_store, with_state_path
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.sync.campaign_runs import (
    CampaignMetricsJob,
    campaign_lookback_days,
    campaign_report,
    campaign_settings,
    report_days,
    select_report_items,
)
from airflow_provider_customerio.sync.campaigns import (
    check_version,
    metrics_ref,
    metrics_window,
    parse_campaign_ids,
)
from airflow_provider_customerio.sync.config import CampaignSettings, CustomerIOConfig

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_customerio.store.reporting import MetricsStore
    from airflow_provider_customerio.store.sync_store import SyncStore


log = logging.getLogger(__name__)


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

    def metrics_store(self, settings: CampaignSettings, sync_store: SyncStore) -> MetricsStore:
        """The reporting table: the SQL connection ``sql_conn_id`` (else an SQLite file in the sync store)."""
        from airflow_provider_customerio.store.reporting import store_for

        return store_for(settings.sql_conn_id, table=settings.table, engine=sync_store.engine)


_BASE_TEMPLATE_FIELDS = ("config_path", "sql_conn_id", "table", "state_path", "customerio_app_conn_id")


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
        with self.metrics_store(settings, open_sync_store(config, self.state_path)) as store:
            store.ensure_table()
            log.info("Reporting table %s ready in %s.", store.table, store.description)
        if not config.sync.campaigns and wanted is None:
            raise AirflowSkipException(
                "connectors.customerio.sync.campaigns is false: the capability is off, nothing to do."
            )
        return select_report_items(self.app_hook, wanted, config.campaigns.include)


class CustomerIOCampaignMetricsOperator(SyncOperator, _CampaignOperatorBase):
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
    ``dry_run`` reads and compares, and writes nothing (the result's ``plan`` counts the rows that would be created
    and updated); ``config_path`` and the table's arguments: as for the list task.
    """

    # `campaign` is not templated: it comes from the vendor (a name holding "{{" must not be rendered)
    capability = "campaign_metrics"
    template_fields: Sequence[str] = (*SyncOperator.template_fields, "lookback_days", *_BASE_TEMPLATE_FIELDS[1:])
    ui_color = "#ffd58a"

    def __init__(
        self,
        *,
        campaign: Mapping[str, Any] | int | str,
        lookback_days: int | str | None = None,
        metrics_version: int = 2,
        timezone: str = "UTC",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)  # SyncOperator's arguments, then the campaign operators' (_CampaignOperatorBase)
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

    def load_config(self) -> CustomerIOConfig:
        return with_state_path(load_connector_config(self.config_path), self.state_path)

    def build_sync(self, run: SyncRun) -> CampaignMetricsJob:
        ref = metrics_ref(self.campaign)
        version = check_version(self.metrics_version) if ref[2] == "campaign" else 1  # newsletters: v1 only
        settings = campaign_settings(run.config, sql_conn_id=self.sql_conn_id, table=self.table)
        lookback = campaign_lookback_days(self.lookback_days, run.config)
        now = datetime.now(timezone.utc)
        window = metrics_window(*data_interval(run.context), lookback_days=lookback, now=now, tz=self.timezone)
        ledger = run.store.ledger(run.dag_id, run.run_id, task_key(f"{ref[2]}_{ref[0]}", run.map_index))
        load = {"fetch_series": self._fetcher(ref[2]), "window": window, "version": version, "now": now}
        return CampaignMetricsJob(
            ref,
            table=lambda: self.metrics_store(settings, run.store),
            table_name=settings.table,
            ledger=ledger,
            load={**load, "dry_run": run.dry_run},
            api_calls=lambda: self.app_hook.api_calls,
        )


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
        from airflow_provider_customerio.reporting import write_report

        wanted = parse_campaign_ids(self.campaign_ids)
        days = report_days(self.report_days)
        config = load_connector_config(self.config_path)
        settings = campaign_settings(config, sql_conn_id=self.sql_conn_id, table=self.table)
        now = datetime.now(timezone.utc)
        window = metrics_window(*data_interval(context), lookback_days=0, now=now, tz="UTC")
        sync_store = open_sync_store(config, self.state_path)
        with self.metrics_store(settings, sync_store) as store:
            store.ensure_table()
            report = campaign_report(
                store, wanted, last_day=window.last_day, days=days, note=f"table {settings.table}", now=now
            )
        # the report lives in the shared store (every machine, and the UI, can read it); a file is an extra copy
        sync_store.put_report(report.name, report.document)
        path = write_report(Path(self.report_dir) / report.name, report.document) if self.report_dir else None
        out = report.as_dict(str(path) if path else None)
        log.info("Report stored in %s: %s", sync_store.location, out)
        return out


__all__ = ["CustomerIOCampaignMetricsOperator", "CustomerIOCampaignReportOperator", "CustomerIOListCampaignsOperator"]
