"""The outbox every forwarding test runs against."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.store.inbox import EventStore


@pytest.fixture
def outbox(tmp_path):
    s = EventStore.sqlite(tmp_path / "o.db")
    yield s
    s.dispose()
