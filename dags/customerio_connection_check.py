"""Connection check: the Airflow equivalent of a "connectors test".

Trigger it from the UI after creating the three connections. It prints one line per check (Track API, App API,
people accessible, campaigns readable, segments listable, Brevo reachable) and fails with the troubleshooting
hint of the first broken one.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_customerio.operators.connection_check import CustomerIOConnectionCheckOperator

with DAG(
    dag_id="customerio_connection_check",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["customerio", "brevo", "check"],
    doc_md=__doc__,
) as dag:
    CustomerIOConnectionCheckOperator(task_id="check_connections", pool="customerio_app", retries=0)
