"""The ``env`` fixture of the object sync's unit tests: three Customer.io companies, each related to two people who
are Brevo contacts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.sync.objects.fakes import Env


@pytest.fixture
def env(tmp_path: Any) -> Env:
    e = Env(tmp_path)
    for i in range(3):
        e.cio.add(
            "1",
            f"acme{i}",
            {"name": f"Acme {i}", "plan": "pro", "employees": 10 + i, "industry": "x"},
            people=[f"p{i}a", f"p{i}b"],
        )
    e.brevo.contacts = {f"id-p{i}{s}" for i in range(3) for s in "ab"}
    return e
