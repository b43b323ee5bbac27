"""The in-memory sync state every reverse test runs against."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_customerio.store.state import StateStore


@pytest.fixture
def state() -> Iterator[StateStore]:
    with StateStore(":memory:") as s:
        yield s
