"""The Brevo emulator alone (no core, no rate limits) on a real HTTP server, for its behaviour and fidelity tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_customerio.sandbox.brevo.standalone import build_standalone_app
from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from tests.serve import ThreadedServer

BREVO_TEST_KEY = "sandbox-brevo-test-key"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, BrevoState]]:
    """``(base_url, state)`` of a Brevo-only sandbox, one per test module."""
    state = BrevoState(BREVO_TEST_KEY)
    srv = ThreadedServer(build_standalone_app(state)).start()
    yield srv.base_url, state
    srv.stop()
