"""The sandbox's rate limits (sandbox/ratelimit.py): Brevo's plans through ``PUT /_sandbox/ratelimits``."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.sandbox.ratelimit import RateLimiter, WindowCounter


def _other_budget(limiter: RateLimiter) -> int:
    passed = 0
    while limiter.check("brevo", "/brevo/v3/processes/1").retry_after == 0 and passed < 1000:
        passed += 1
    return passed


@pytest.mark.parametrize(
    ("plan", "rps", "per_hour"), [("general", 10, 100), ("advanced", 20, 200), ("extended", 60, 600)]
)
def test_a_plan_sets_brevos_limits(plan, rps, per_hour):
    limiter = RateLimiter()
    limiter.configure({"plan": plan})
    described = limiter.describe()
    assert described["plan"] == plan
    assert described["brevo_contacts"] == described["brevo_events"] == rps
    assert described["brevo_other_per_hour"] == per_hour
    assert described["app"] == 10 and described["track"] == 1000  # Customer.io's limits are not Brevo's plan's
    assert _other_budget(limiter) == per_hour  # the hourly budget is enforced at the plan's number


def test_the_default_is_general_and_extended_keeps_the_unkind_hourly_cap():
    limiter = RateLimiter()
    assert limiter.describe()["plan"] == "general" and _other_budget(limiter) == 100
    limiter.configure({"plan": "extended"})
    # Brevo publishes no hourly cap of contacts/events for Extended: the sandbox keeps Advanced's 72,000
    assert limiter.limits["brevo_contacts_per_hour"] == limiter.limits["brevo_events_per_hour"] == 72_000
    assert isinstance(limiter._buckets["brevo_contacts_per_hour"], WindowCounter)
    limiter.reset()
    assert limiter.describe()["plan"] == "general" and limiter.limits["brevo_contacts"] == 10


def test_limits_named_with_a_plan_override_it_whatever_their_order():
    limiter = RateLimiter()
    limiter.configure({"brevo_other_per_hour": 5, "plan": "advanced"})
    assert limiter.limits["brevo_other_per_hour"] == 5 and limiter.limits["brevo_contacts"] == 20
    assert _other_budget(limiter) == 5


def test_an_unknown_plan_is_refused_and_changes_nothing():
    limiter = RateLimiter()
    with pytest.raises(ValueError, match=r"plan: 'gold' must be one of general, advanced, extended"):
        limiter.configure({"plan": "gold", "enabled": False})
    with pytest.raises(ValueError, match="unknown limit; known: enabled, plan,"):
        limiter.configure({"plan": "extended", "nope": 1})
    assert limiter.describe()["plan"] == "general" and limiter.enabled and limiter.limits["brevo_contacts"] == 10
