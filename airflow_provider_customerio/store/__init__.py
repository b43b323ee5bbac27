"""The shared sync store: every piece of the provider's lasting state, in one database every machine reaches.

* :mod:`.engine` - where it lives: the Airflow connection ``customerio_sync_store``, else an embedded SQLite file;
* :mod:`.schema` - the tables and their numbered migrations;
* :mod:`.state` - content hashes, identity map, checkpoints, watermarks, staging, pending imports;
* :mod:`.ledger` - rejected records (queryable; exported to JSONL/CSV on demand);
* :mod:`.objects` - the object sync's state;
* :mod:`.notices` - Brevo process-completion notices (``notifyUrl`` callbacks);
* :mod:`.slots` - Brevo imports in flight per account (import slots);
* :mod:`.inbox` - the webhook inbox: the event store and outbox of the event forwarding (same engine, same schema);
* this module - :class:`SyncStore`, the one handle the operators, the trigger and the webhook receiver open, with
  leases (one writer per sync), stored reports and run summaries.

No Airflow import at module level (the connection is resolved lazily in :mod:`.engine`).
"""
