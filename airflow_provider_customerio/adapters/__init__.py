"""Adapters: the vendor hooks shaped as the sync's ports.

Dependencies go one way: :mod:`~airflow_provider_customerio.hooks` -> ``adapters`` ->
:mod:`~airflow_provider_customerio.sync`. Each class is named after the port it implements, prefixed with the vendor
whose hook it wraps (``BrevoContactSink`` implements :class:`~airflow_provider_customerio.sync.people.ports.ContactSink`
over :class:`~airflow_provider_customerio.hooks.brevo.BrevoHook`). Operators and triggers only wire them.

* :mod:`.customerio_app`: ``CustomerIOPeopleSource``, ``CustomerIOSegmentSource``.
* :mod:`.brevo`: ``BrevoContactSink``.
* :mod:`.brevo_imports`: the one imports component (send, read and wait for Brevo imports; Brevo status words are
  read there only).
* :mod:`.objects`: ``CustomerIOObjectSource``, ``CustomerIOObjectWriter``, ``BrevoObjectSink``,
  ``BrevoRecordSource``.
* :mod:`.segments`: ``BrevoListTarget`` (segment mirror).
* :mod:`.workflow`: ``BrevoImportSink``, ``BrevoAttributes``, ``webhook_events`` (workflow state).
* :mod:`.reverse` (Brevo -> Customer.io people): ``BrevoContactSource``, ``CustomerIOPeopleWriter``.
* :mod:`.events` (event forwarding): ``BrevoEventSink``, ``CustomerIOActivityFeed``, ``CustomerIOTrackEventSink``.
"""
