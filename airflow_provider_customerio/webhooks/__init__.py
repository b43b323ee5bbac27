"""Customer.io reporting webhooks: signature verification, the durable event store/outbox and the receiver app
(mounted on the Airflow api-server by :mod:`airflow_provider_customerio.webhooks.plugin`)."""
