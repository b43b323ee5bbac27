"""Adapters: the vendor hooks shaped as the sync's ports.

Dependencies go one way: :mod:`~airflow_provider_customerio.hooks` -> ``adapters`` ->
:mod:`~airflow_provider_customerio.sync`. Each class is named after the port it implements, prefixed with the vendor
whose hook it wraps (``BrevoContactSink`` implements :class:`~airflow_provider_customerio.sync.people.ports.ContactSink`
over :class:`~airflow_provider_customerio.hooks.brevo.BrevoHook`). Operators and triggers only wire them. One module
per capability, so a DAG imports only the adapters its operator needs.

* :mod:`.people`: ``CustomerIOPeopleSource``, ``BrevoContactSink``.
* :mod:`.brevo_notices`: Brevo's end-of-import notices (the connection extra ``notify_url``).
* :mod:`.brevo_imports`: the one imports component (send, read and wait for Brevo imports; Brevo status words are
  read there only).
* :mod:`.objects`: ``CustomerIOObjectSource``, ``CustomerIOObjectWriter``, ``BrevoObjectSink``,
  ``BrevoRecordSource``.
* :mod:`.segments`: ``CustomerIOSegmentSource``, ``BrevoListTarget`` (segment mirror).
* :mod:`.workflow`: ``BrevoImportSink``, ``BrevoAttributes``, ``webhook_events`` (workflow state).
* :mod:`.reverse` (Brevo -> Customer.io people): ``BrevoContactSource``, ``CustomerIOPeopleWriter``.
* :mod:`.events` (event forwarding): ``BrevoEventSink``, ``CustomerIOActivityFeed``, ``CustomerIOTrackEventSink``.
"""
