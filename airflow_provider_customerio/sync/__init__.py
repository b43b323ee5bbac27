"""Sync logic of the provider, free of Airflow and HTTP: config loader, mapping, batching, ledger, state store,
and the people sync orchestration over ports (see ``docs/architecture.md``)."""
