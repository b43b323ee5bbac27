"""The state of the sandbox's Customer.io workspace: people, events, segments, campaigns, activities,
messages, exports, object types, objects and relationships ("one world" for Track writes and App reads).

Seeded people are never stored (see :mod:`.models`); only people written through the API are materialised in
``overlay`` (a copy-on-write layer), and deletions are a set of indexes. 1 M seeded people therefore cost a few
arrays of segment membership, not a million dicts.

Route handlers only parse and shape JSON; everything that changes the world is a method of one of the mixins:

- :mod:`.base` — settings, lifecycle, lookups, identifier indexes, activities;
- :mod:`.people` — Track writes to people;
- :mod:`.objects` — objects and relationships;
- :mod:`.queries` — filters, search, metrics, message views;
- :mod:`.background` — dynamic segments, exports, work due on the sandbox clock;
- :mod:`.readlag` — the people read lag (Track writes readable ``cio_people`` seconds later).
"""

from __future__ import annotations

from airflow_provider_customerio.sandbox.customerio.background import BackgroundMixin
from airflow_provider_customerio.sandbox.customerio.objects import ObjectsMixin
from airflow_provider_customerio.sandbox.customerio.people import PeopleMixin
from airflow_provider_customerio.sandbox.customerio.queries import QueriesMixin
from airflow_provider_customerio.sandbox.customerio.readlag import ReadLagMixin


class CustomerIOState(PeopleMixin, ObjectsMixin, QueriesMixin, BackgroundMixin, ReadLagMixin):
    """The whole Customer.io workspace; Track writes and App reads share it ("one world")."""


__all__ = ["CustomerIOState"]
