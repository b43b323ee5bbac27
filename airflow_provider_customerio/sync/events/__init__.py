"""Event forwarding logic: Customer.io events -> Brevo events, and events -> Customer.io Track.

Pure: no Airflow and no HTTP imports. The operator wires the ports (the outbox store, Brevo) to real objects.

Customer.io side:

* a **reporting webhook** (https://docs.customer.io/api/webhooks/) is named ``<object_type>_<metric>``
  (``email_opened``, ``customer_subscribed``), the event names of the reporting-webhook configuration
  (https://docs.customer.io/api/app/); its dedupe key is its ``event_id``;
* a **behavioural event** from the App API activity feed (type ``event``,
  https://docs.customer.io/api/app/#operation/listActivities) keeps its own name (``purchase_completed``); its
  dedupe key is ``activity:<activity id>``.

Brevo side (https://developers.brevo.com/reference/create-event):
``event_name`` (``[A-Za-z0-9_-]``, <= 255), ``identifiers`` (``email_id`` and/or
``ext_id``; the people sync stores the Customer.io ``id`` as the contact's ext_id), ``event_date`` (ISO-8601, kept
from the source), ``event_properties`` (<= 50 KB) including ``campaign_id``, ``delivery_id`` and
``cio_event_id``, the source event id. ``POST /events/batch`` takes <= 200 events and <= 512 KB.

Delivery guarantee (:class:`~.forward.EventForwarder`): Brevo has no idempotency key for events, so an outbox is used.
Rows are durably marked ``in_flight`` (with the exact payload) before the call and ``sent``/``rejected`` after it.
A crash or an ambiguous failure (timeout, 5xx, connection reset) between the two leaves rows ``in_flight``; the
next run asks Brevo (``GET /events``) which of them it holds, by ``event_properties.cio_event_id``, marks those
``sent`` and resends only the others. Brevo therefore ends with each event once, **provided Brevo lists an
accepted event within the grace period** (``reconcile_grace_seconds``, default 60 s; Brevo queues batch events
before processing them). An event still queued inside Brevo after that grace period would be resent: that is
the one residual duplicate window, and it is documented rather than hidden.

Modules: :mod:`.ports` (statuses, ports, delivery outcomes), :mod:`.sources` (stored events read back),
:mod:`.windows` (the activity window and its watermark), :mod:`.mapping` (Brevo events, the batch packer),
:mod:`.forward` (:class:`~.forward.EventForwarder`), :mod:`.reconcile` (``GET /events``), :mod:`.plan` (dry runs),
:mod:`.run` (one run: window, ingest, forward or plan) and :mod:`.track` (events for Customer.io Track).
"""
