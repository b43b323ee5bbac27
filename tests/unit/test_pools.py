"""Pools arithmetic: every pool within its vendor limit, the shipped pools file, the per-task rates."""

from __future__ import annotations

import json

import pytest

from airflow_provider_customerio import pools
from tests.conftest import REPO_ROOT


def test_every_api_stays_within_its_vendor_limit_with_all_pools_full():
    worst = pools.check_budget()
    for name, budget in pools.POOLS.items():
        assert worst[name] <= budget.vendor_limit


def test_budget_check_catches_an_overcommitted_pool(monkeypatch):
    bad = dict(pools.POOLS)
    bad["brevo"] = pools.PoolBudget("brevo", 4, 5.0, 0.5, 10.0, "x")
    monkeypatch.setattr(pools, "POOLS", bad)
    with pytest.raises(ValueError, match="exceeds the vendor limit"):
        pools.check_budget()


def test_shipped_pools_file_matches_the_budget():
    shipped = json.loads((REPO_ROOT / "dags" / "pools.json").read_text())
    assert shipped == pools.pools_import_document()


def test_rate_for_in_pool_and_on_the_side():
    assert pools.rate_for("customerio_app", "customerio_app") == pools.POOLS["customerio_app"].per_task_rate
    assert pools.rate_for("customerio_app", "brevo") == pools.POOLS["customerio_app"].side_rate
