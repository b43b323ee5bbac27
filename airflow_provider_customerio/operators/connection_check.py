"""Operator running the connectors test (see :mod:`airflow_provider_customerio.checks`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_customerio.checks import run_checks
from airflow_provider_customerio.exceptions import ConnectionCheckFailed
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook


class CustomerIOConnectionCheckOperator(BaseOperator):
    """Check the three connections and report one line per check; fail with the hints when one breaks.

    :param customerio_track_conn_id: Track connection.
    :param customerio_app_conn_id: App connection.
    :param brevo_conn_id: Brevo connection.
    """

    template_fields: Sequence[str] = ("customerio_track_conn_id", "customerio_app_conn_id", "brevo_conn_id")

    def __init__(
        self,
        *,
        customerio_track_conn_id: str = CustomerIOTrackHook.default_conn_name,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.customerio_track_conn_id = customerio_track_conn_id
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        results = run_checks(
            CustomerIOTrackHook(self.customerio_track_conn_id),
            CustomerIOAppHook(self.customerio_app_conn_id),
            BrevoHook(self.brevo_conn_id),
        )
        report = "\n".join(r.line() for r in results)
        self.log.info("Connection check:\n%s", report)
        if not all(r.ok for r in results):
            raise ConnectionCheckFailed(f"Connection check failed:\n{report}")
        return [{"check": r.name, "ok": r.ok, "detail": r.detail} for r in results]
