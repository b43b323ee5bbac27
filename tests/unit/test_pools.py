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


# ---------------------------------------------------------------------------------------------- Brevo plans
PLAN_RPS = {"general": 10.0, "advanced": 20.0, "extended": 60.0}


@pytest.mark.parametrize("plan", sorted(PLAN_RPS))
def test_each_plans_pools_keep_slots_times_rate_within_every_limit(plan):
    regenerated = pools.pools_for(plan)
    worst = pools.check_budget(plan)
    brevo = regenerated["brevo"]
    assert brevo.vendor_limit == PLAN_RPS[plan]
    side_slots = sum(b.slots for name, b in regenerated.items() if name != "brevo")
    assert brevo.slots * brevo.per_task_rate + side_slots * brevo.side_rate == worst["brevo"] <= PLAN_RPS[plan]
    # a bigger plan is used, not wasted: the brevo pool's worst case is the plan's whole limit
    assert worst["brevo"] == PLAN_RPS[plan]
    for name in ("customerio_track", "customerio_app"):  # a Brevo plan changes nothing of Customer.io's pools
        assert regenerated[name] == pools.POOLS[name] and worst[name] <= pools.POOLS[name].vendor_limit
    assert f"{PLAN_RPS[plan]:g} req/s, {plan.capitalize()} plan" in brevo.description


def test_the_general_plan_regenerates_the_shipped_pools_file_byte_for_byte(tmp_path, capsys):
    shipped = (REPO_ROOT / "dags" / "pools.json").read_text()
    assert pools.main(["--output", str(tmp_path / "pools.json")]) == 0
    assert (tmp_path / "pools.json").read_text() == shipped
    assert pools.main(["--plan", "general"]) == 0
    assert capsys.readouterr().out == shipped


def test_the_cli_prints_a_bigger_plans_pools_and_refuses_an_unknown_one(capsys):
    assert pools.main(["--plan", "extended"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["brevo"]["slots"] == 2 and "2 slots x 21 req/s + 6 side slots x 3" in doc["brevo"]["description"]
    assert doc["customerio_app"] == pools.pools_import_document()["customerio_app"]
    with pytest.raises(SystemExit):
        pools.main(["--plan", "gold"])
    assert "invalid choice: 'gold'" in capsys.readouterr().err


def test_rate_for_follows_the_plan_and_an_unknown_plan_is_refused():
    assert (
        pools.rate_for("brevo", "brevo", "advanced") == 7.0
        and pools.rate_for("brevo", "default_pool", "advanced") == 1.0
    )
    assert pools.rate_for("brevo", "brevo") == pools.POOLS["brevo"].per_task_rate == 3.5
    assert pools.rate_for("customerio_app", "customerio_app", "extended") == 3.5  # not Brevo's: unchanged
    with pytest.raises(Exception, match=r"plan.*general, advanced, extended.*'gold'"):
        pools.pools_for("gold")
