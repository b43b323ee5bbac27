"""Adapters: the vendor hooks shaped as the sync's ports.

Dependencies go one way: :mod:`~airflow_provider_customerio.hooks` -> ``adapters`` ->
:mod:`~airflow_provider_customerio.sync`. Each class is named after the port it implements, prefixed with the vendor
whose hook it wraps (``BrevoContactSink`` implements :class:`~airflow_provider_customerio.sync.people.ContactSink`
over :class:`~airflow_provider_customerio.hooks.brevo.BrevoHook`). Operators and triggers only wire them.

* :mod:`.customerio_app`: ``CustomerIOPeopleSource``, ``CustomerIOObjectSource``, ``CustomerIOSegmentSource``.
* :mod:`.customerio_track`: ``CustomerIOObjectWriter``, ``CustomerIOPeopleWriter``.
* :mod:`.brevo`: ``BrevoContactSink``, ``BrevoObjectSink``, ``BrevoRecordSource``, ``BrevoContactSource``,
  ``BrevoEventSink``, and the process readers ``import_process_state`` and ``upsert_process_state``.
* :mod:`.segments`: ``BrevoListTarget`` (segment mirror).
* :mod:`.workflow`: ``BrevoImportSink`` (workflow state).
"""
