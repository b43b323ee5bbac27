"""Workflow state: where each person stands in their Customer.io journeys, mirrored into Brevo attributes.

Pure logic, no Airflow and no HTTP. Two steps, each resumable:

1. **Derive** (:func:`~.derive.derive_changes`): fold the deliveries of ``/v1/messages`` (each with ``metrics``
   ``{metric: unix ts}``) and, when present, the stored reporting-webhook events (``{event_id, object_type,
   metric, timestamp, data{delivery_id, identifiers, campaign_id, action_id, ...}}``) into one
   :class:`~.fold.PersonState` per person: the person's last message (latest ``created``), its campaign and action, and
   its latest state with that state's time. Each state gets a token ``<created>.<at>:<content hash>``, compared
   with the token last written to Brevo: equal means unchanged (nothing written), an older ``(created, at)``
   means stale (an older window, e.g. a backfill, never overwrites newer state), anything else is written.
2. **Write** (:class:`~.write.WorkflowStateWriter`): pack the staged rows into Brevo import batches, submit one,
   wait for it (in the worker or the triggerer) and only then record the written tokens. A killed or deferred
   task resumes: submitted imports are recorded before waiting, and a re-submitted import is an upsert.

Every person read ends in Brevo, as unchanged, or in the rejected-records ledger with its reason.

Modules: :mod:`.attributes` (names and types of the Brevo attributes, their creation, the import list),
:mod:`.window` (the messages read), :mod:`.fold` (messages and events into states), :mod:`.derive` (tokens, rows,
what changed), :mod:`.write` (imports one at a time, written tokens), :mod:`.job` (the two tasks as jobs of the one
sync lifecycle).
"""
