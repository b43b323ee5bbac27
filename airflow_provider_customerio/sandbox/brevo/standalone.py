"""The Brevo emulation served alone: its API routes and its control routes on one app, for isolated tests.

Its own module because it joins two routers: :mod:`.routes` (the API) and
:mod:`airflow_provider_customerio.sandbox.control.brevo` (the control plane, which builds on :mod:`.routes`).
"""

from __future__ import annotations

from fastapi import FastAPI

from airflow_provider_customerio.sandbox.brevo import routes
from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from airflow_provider_customerio.sandbox.control import brevo as brevo_control


def build_standalone_app(state: BrevoState) -> FastAPI:
    """A FastAPI app serving only the Brevo emulation (``/brevo/v3`` + ``/_sandbox/brevo``), for isolated tests."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.brevo = state
    app.include_router(routes.router, prefix="/brevo/v3")
    app.include_router(brevo_control.router, prefix="/_sandbox/brevo")
    return app


__all__ = ["build_standalone_app"]
