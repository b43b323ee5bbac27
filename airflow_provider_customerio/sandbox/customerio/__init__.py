"""The sandbox's Customer.io emulation (Track v1/v2 and App API), moto-style.

- :mod:`.errors` — one class per vendor error, each rendering the vendor's body (and the JSON helpers);
- :mod:`.models` — records and constants: the seeded world, people, segments, objects, exports;
- :mod:`.state` — :class:`CustomerIOState`, the one workspace Track writes and App reads share, built from
  :mod:`.base` and one mixin per area (:mod:`.people`, :mod:`.objects`, :mod:`.queries`, :mod:`.background`);
- :mod:`.routes_track`, :mod:`.routes_app`, :mod:`.routes_reports` — module-level route handlers (``/track``,
  ``/app``, ``/files``); :mod:`.params` — the state dependency and query/body parsing they share.
"""

from __future__ import annotations

from airflow_provider_customerio.sandbox.customerio.errors import CustomerIOError, InvalidOperation
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState

__all__ = ["CustomerIOError", "CustomerIOState", "InvalidOperation"]
