"""Brevo plans (hooks/brevo_plans.py) and the limits a Brevo hook takes from its connection's extra ``plan``."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.brevo_plans import BREVO_PLANS, brevo_plan
from airflow_provider_customerio.hooks.ratelimit import WindowLimiter


def _hook(airflow_conn, extra=None, **kwargs):
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra=extra or {})
    return BrevoHook(**kwargs)


def test_the_plans_are_brevos_published_limits():
    # https://developers.brevo.com/docs/api-limits
    assert {n: (p.requests_per_second, p.other_per_hour) for n, p in BREVO_PLANS.items()} == {
        "general": (10.0, 100),
        "advanced": (20.0, 200),
        "extended": (60.0, 600),
    }
    assert brevo_plan(None).name == brevo_plan("").name == "general"  # what the provider assumed so far
    assert brevo_plan(" Advanced ").name == "advanced"


@pytest.mark.parametrize(("plan", "rps", "per_hour"), [(None, 10, 100), ("advanced", 20, 200), ("extended", 60, 600)])
def test_the_plan_sets_the_hooks_limits(airflow_conn, plan, rps, per_hour):
    hook = _hook(airflow_conn, {"plan": plan} if plan else {})
    assert hook.plan.name == (plan or "general")
    assert hook.rate_limiter.rate == rps and hook.events_limiter.rate == rps
    assert isinstance(hook.other_limiter, WindowLimiter) and hook.other_limiter.limit == per_hour


def test_explicit_extras_override_the_plan(airflow_conn):
    hook = _hook(airflow_conn, {"plan": "extended", "rate_limit": 4, "other_requests_per_hour": "30"})
    assert hook.rate_limiter.rate == 4 and hook.other_limiter.limit == 30


def test_a_tasks_pool_takes_its_share_of_the_plan_and_the_rate_argument_wins(airflow_conn):
    extra = {"plan": "advanced", "rate_limit": 19}
    assert _hook(airflow_conn, extra, pool="brevo").rate_limiter.rate == 7.0  # 2 slots x 7 + 6 x 1 = 20
    assert _hook(airflow_conn, extra, pool="customerio_app").rate_limiter.rate == 1.0  # a side slot
    assert _hook(airflow_conn, {}, pool="brevo").rate_limiter.rate == 3.5  # General, as before plans
    assert _hook(airflow_conn, extra, pool="brevo", rate_limit=2).rate_limiter.rate == 2


@pytest.mark.parametrize("bad", ["gold", "Enterprise", 3])
def test_an_unknown_plan_is_a_clear_error(airflow_conn, bad):
    hook = _hook(airflow_conn, {"plan": bad})
    with pytest.raises(ConfigError) as err:
        _ = hook.other_limiter  # the first limit read checks the plan
    message = str(err.value)
    assert "'brevo_default'" in message and "extra field 'plan'" in message
    assert "general, advanced, extended" in message and repr(bad) in message
