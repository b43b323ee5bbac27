"""People read lag (the ``cio_people`` lag surface): Track writes are accepted at once but read later.

Customer.io processes Track calls after answering them: its Track endpoints do "minimal validation to ensure as
close to real-time processing as possible" (https://docs.customer.io/api/track/, Overview), i.e. a 200 says the
call was accepted, not that App API reads already show it, and no page says when they do (docs/vendor-behaviour.md,
"Track writes are read later"). The sandbox takes the unkind reading: ``PUT /_sandbox/lag {"cio_people": seconds}``
sets the delay (0, the default: consistent at once). While it is set, App API person reads
(``GET /v1/customers/{id}/attributes``, ``POST /v1/customers/attributes``, ``GET /v1/customers?email=``), people
search and segment membership identifiers, and export files show each person as they were before the Track
writes younger than the lag; a person created within the lag is absent, one deleted within it is still there, and
the per-attribute ``timestamps`` stay those of the old values. The activity feed has its own surface
(``cio_activities``); the control plane always shows the true state.

Copy-on-write: the first write to a person while the lag is on keeps the person as they were (readable until the
write is), and the end of each write request (published when the next request starts: :meth:`publish_people`) adds
the person as the request left them, readable ``lag`` seconds of the sandbox clock later. People never written
while the lag is on cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from airflow_provider_customerio.sandbox.customerio.base import CustomerIOBase
from airflow_provider_customerio.sandbox.customerio.models import Person


def copy_person(p: Person | None) -> Person | None:
    """A deep-enough copy: later writes to ``p`` do not change it."""
    if p is None:
        return None
    c = Person(p.idx, p.cio_id, p.created)
    c.id, c.email, c.phone = p.id, p.email, p.phone
    c.attrs, c.timestamps = dict(p.attrs), dict(p.timestamps)
    c.unsubscribed, c.last_ts, c.anonymous_id = p.unsubscribed, p.last_ts, p.anonymous_id
    c.devices = {k: dict(v) for k, v in p.devices.items()}
    c.subscription_preferences = dict(p.subscription_preferences)
    return c


class ReadLagMixin(CustomerIOBase):
    """The lagging read view of people (see the module docstring)."""

    def set_people_lag(self, seconds: float) -> None:
        """Set the ``cio_people`` lag; 0 makes every write readable at once (the kept versions are dropped)."""
        self.lag["people"] = float(seconds)
        if not seconds:
            self.people_versions = {}
            self.people_dirty = {}

    def _touch_person(self, idx: int) -> None:
        """A write is about to change person ``idx`` (lag on): keep who they were, note when the write shows."""
        if idx in self.people_dirty:
            return
        if idx not in self.people_versions:
            self.people_versions[idx] = [(-math.inf, copy_person(self.person(idx)))]
        self.people_dirty[idx] = self.clock.now() + self.lag["people"]

    def publish_people(self) -> None:
        """End of the write requests so far: each person they touched, as they left them, becomes readable at its
        due time (called before every request is served)."""
        for idx, due in self.people_dirty.items():
            self.people_versions.setdefault(idx, [(-math.inf, None)]).append((due, copy_person(self.person(idx))))
        self.people_dirty = {}

    def read_person(self, idx: int) -> Person | None:
        """Person ``idx`` as an App API read sees them now (``None``: absent from reads)."""
        versions = self.people_versions.get(idx)
        if versions is None:
            return self.person(idx)
        now = self.clock.now()
        pos = max(i for i, (due, _) in enumerate(versions) if due <= now)
        if pos == len(versions) - 1 and idx not in self.people_dirty:
            del self.people_versions[idx]  # every write is readable: reads see the person as they are
            return self.person(idx)
        if pos:
            del versions[:pos]  # older versions are never read again
        return versions[0][1]

    def read_lookup(self, id_type: str, value: str) -> Person | None:
        """App API ``id_type`` lookup over the lagging view (an identifier changed within the lag still finds the
        person by the old one, not by the new one)."""
        if not self.people_versions:
            return self.lookup(id_type, value)
        idx = self.find(id_type, value)
        if idx is not None:
            p = self.read_person(idx)
            if p is not None and _has(p, id_type, value):
                return p
        for other in list(self.people_versions):
            if other == idx:
                continue
            p = self.read_person(other)
            if p is not None and _has(p, id_type, value):
                return p
        return None

    def read_field_value(self, idx: int, name: str) -> Any:
        """:meth:`field_value` over the lagging view (search and export filters; segment rebuilds and the rest
        use the true state)."""
        if idx not in self.people_versions:
            return self.field_value(idx, name)
        p = self.read_person(idx)
        if p is None:
            return None
        return getattr(p, name) if name in ("cio_id", "id", "email", "phone") else p.attrs.get(name)

    def read_identifiers(self, idx: int) -> dict[str, Any]:
        """:meth:`identifiers` over the lagging view."""
        if idx not in self.people_versions:
            return self.identifiers(idx)
        p = self.read_person(idx)
        return p.identifiers() if p is not None else {"email": None, "id": None, "cio_id": None}

    def read_indexes(self, start: int = 0) -> Iterator[int]:
        """:meth:`live_indexes` over the lagging view (created within the lag: absent; deleted: still there)."""
        if not self.people_versions:
            yield from self.live_indexes(start)
            return
        for idx in range(start, self.next_idx):
            if idx in self.people_versions:
                if self.read_person(idx) is not None:
                    yield idx
            elif idx not in self.deleted and (idx < self.n_seeded or idx in self.overlay):
                yield idx


def _has(p: Person, id_type: str, value: str) -> bool:
    current = getattr(p, id_type, None)
    if current is None:
        return False
    return bool(current.lower() == value.lower() if id_type == "email" else current == value)
