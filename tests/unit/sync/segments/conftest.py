"""Fixtures of the segment mirror unit tests: the two in-memory vendors."""

from __future__ import annotations

import pytest

from tests.unit.sync.segments._support import FakeBrevo, FakeCustomerIO


@pytest.fixture
def cio() -> FakeCustomerIO:
    return FakeCustomerIO()


@pytest.fixture
def brevo() -> FakeBrevo:
    b = FakeBrevo()
    b.lists[13] = "Mirror of 42"
    return b
