"""Pools arithmetic and the connection-check report (no network)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_customerio import pools
from airflow_provider_customerio.checks import run_checks
from airflow_provider_customerio.exceptions import AuthError
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


class _Hook:
    def __init__(self, ok=True, fail_with=None):
        self.ok = ok
        self.fail_with = fail_with

    def test_connection(self):
        return (self.ok, "fine" if self.ok else "401 nope")

    def search_people(self, limit):
        if self.fail_with:
            raise self.fail_with
        yield {"cio_id": "c1"}

    def list_campaigns(self):
        return [{"id": 1}, {"id": 2}]

    def list_segments(self):
        return [{"id": 1, "state": "finished"}, {"id": 2, "state": "build"}]


def test_all_checks_pass_with_one_line_each():
    results = run_checks(_Hook(), _Hook(), _Hook())
    assert [r.name for r in results] == [
        "Track API",
        "App API",
        "people accessible",
        "campaigns readable",
        "segments listable",
        "Brevo reachable",
    ]
    assert all(r.ok for r in results)
    assert results[3].detail == "2 campaigns"
    assert results[4].detail == "2 segments (1 still building)"
    assert results[0].line().startswith("✓ Track API")


def test_failures_carry_their_hint():
    app = _Hook(fail_with=AuthError("forbidden", status=403))
    results = run_checks(_Hook(ok=False), app, _Hook())
    track, _, people = results[0], results[1], results[2]
    assert not track.ok and "App API key does not work on the Track API" in track.hint
    assert not people.ok and "HTTP 403" in people.detail and "scope" in people.hint
    assert "✗ people accessible" in people.line() and "hint:" in people.line()


def test_readme_config_reference_is_generated_from_the_schema():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "gen_config_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
