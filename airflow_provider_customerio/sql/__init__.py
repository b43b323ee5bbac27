"""SQL destinations of the provider (the campaign-metrics reporting table)."""

from __future__ import annotations

from airflow_provider_customerio.sql.metrics_store import MetricsStore, store_for

__all__ = ["MetricsStore", "store_for"]
