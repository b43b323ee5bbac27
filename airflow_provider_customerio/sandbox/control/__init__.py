"""The sandbox's control plane: one router, mounted under ``/_sandbox``, for tests and tools (never a vendor API).

:func:`build_control_router` assembles the module-level routes of

- :mod:`.sandbox` — ``/info``, ``/reset``, ``/seed``, ``/faults`` (the one fault injector), ``/clock``, ``/lag``,
  ``/ratelimits`` and ``/requests``;
- :mod:`.customerio` — ``/customerio/...`` settings and segment rules, ``/state/customerio/...`` views;
- :mod:`.brevo` — ``/brevo/...``: Brevo contacts, events, objects, processing faults and process settings;
- :mod:`.webhooks` — ``/webhooks/emit`` and ``/webhooks/last`` (Customer.io reporting webhooks).

Handlers reach the worlds through ``request.app.state`` (``ctx``, ``cio``, ``brevo``).
"""

from __future__ import annotations

from fastapi import APIRouter

from airflow_provider_customerio.sandbox.control import brevo, customerio, sandbox, webhooks
from airflow_provider_customerio.sandbox.control.common import ControlError


def build_control_router() -> APIRouter:
    """Every control route, relative to ``/_sandbox``."""
    router = APIRouter()
    router.include_router(sandbox.router)
    router.include_router(customerio.router)
    router.include_router(webhooks.router, prefix="/webhooks")
    router.include_router(brevo.router, prefix="/brevo")
    return router


__all__ = ["ControlError", "build_control_router"]
