"""Objects capability: Customer.io objects and their relationships <-> Brevo custom objects and associations.

Read in this order:

* :mod:`.ports`: the values, the errors and the four ports (:class:`~.ports.ObjectSource` and
  :class:`~.ports.ObjectSink` for Customer.io -> Brevo, :class:`~.ports.RecordSource` and
  :class:`~.ports.ObjectWriter` for Brevo -> Customer.io); ``adapters/objects.py`` implements them.
* :mod:`.mapping`: one object's attributes and links -> Brevo upsert records.
* :mod:`.plan`: the configured types checked against both vendors before anything is written.
* :mod:`.run`: the state of one forward run (checkpoint, limits, summary) the steps share.
* :mod:`.load` (collect, diff, pack, submit), :mod:`.gone` (objects deleted in Customer.io),
  :mod:`.outcome` (finished upsert/delete processes), :mod:`.verify` (attribute keys Brevo dropped).
* :mod:`.forward`: :class:`~.forward.ObjectSync`, the forward run's lifecycle (run -> pending -> complete ->
  finish).
* :mod:`.reverse`: :class:`~.reverse.ReverseObjectSync`, Brevo records from elsewhere -> Customer.io objects.

No Airflow and no HTTP imports in this package.
"""
