"""Hooks with a quiet sleep (recorded in ``hook.sleeps``) on default connections, for the hook tests."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook


def _quiet(hook):
    hook.sleeps = []
    hook._sleep = hook.sleeps.append
    return hook


@pytest.fixture
def track(airflow_conn):
    airflow_conn("customerio_track_default", conn_type="customerio_track", login="site-1", password="track-key")
    return _quiet(CustomerIOTrackHook(rate_limit=0))


@pytest.fixture
def app(airflow_conn):
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="app-key")
    return _quiet(CustomerIOAppHook(rate_limit=0))


@pytest.fixture
def brevo(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-key")
    return _quiet(BrevoHook(rate_limit=0))


@pytest.fixture
def app_hook(airflow_conn):
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="app-secret-123")
    """The App hook on a connection whose secret the logging tests look for."""
    return _quiet(CustomerIOAppHook(rate_limit=0))


@pytest.fixture
def brevo_hook(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-secret-456", extra={"log_api_calls": True})
    """The Brevo hook with ``log_api_calls`` on, on a connection whose secret the logging tests look for."""
    return _quiet(BrevoHook(rate_limit=0))
