"""The sandbox's Brevo v3 emulation, moto-style.

- :mod:`.errors` — one class per Brevo error, and the renderers of Brevo's error body and rate-limit headers;
- :mod:`.models` — records and constants: contacts, lists, attributes, processes, custom objects;
- :mod:`.state` — :class:`BrevoState`, the whole emulated account;
- :mod:`.routes` — module-level route handlers under ``/brevo/v3`` (the control routes are in
  :mod:`airflow_provider_customerio.sandbox.control.brevo`).
"""

from __future__ import annotations

from airflow_provider_customerio.sandbox.brevo.errors import BrevoError, ratelimit_headers, render_error
from airflow_provider_customerio.sandbox.brevo.state import BrevoState

__all__ = ["BrevoError", "BrevoState", "ratelimit_headers", "render_error"]
