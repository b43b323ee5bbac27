"""Airflow pools that keep every task inside the vendors' rate limits, and the per-task rates that go with them.

The arithmetic (also in the README):

* Every task that calls a rate-limited API at volume runs in that API's pool, and its hook is throttled to
  ``per_task_rate``. A task may also make a few *side calls* to another API (e.g. the Brevo load task reads the
  attribute list once); those hooks are throttled to ``side_rate``.
* So, for each API, the worst case with every DAG running at once is
  ``slots × per_task_rate + side_slots × side_rate``, where ``side_slots`` is the number of slots of the
  *other* pools whose tasks may call this API. That sum must stay at or under the vendor's limit, which
  :func:`check_budget` verifies (and a unit test runs).

Brevo plans (https://developers.brevo.com/docs/api-limits; the connection extra ``plan``): contacts and events allow
10 req/s on General, 20 on Advanced and 60 on Extended. The ``brevo`` pool keeps its 2 slots on every plan and its
rates scale with the plan (General 2 × 3.5 + 6 × 0.5 = 10, Advanced 2 × 7 + 6 × 1 = 20, Extended 2 × 21 + 6 × 3
= 60): more Brevo slots would also be more side slots of the Customer.io App API, whose 10 req/s do not grow with a
Brevo plan. A Brevo hook built for a task (``BrevoHook(pool=...)``) reads the plan from its connection and takes
:func:`rate_for` of that plan, so the code needs no change; regenerate the pools file so that its descriptions state
the plan's arithmetic (``airflow pools import`` reads it)::

    python -m airflow_provider_customerio.pools --plan advanced --output dags/pools.json
    python -m airflow_provider_customerio.pools --plan extended      # print the document only

:func:`check_budget` runs for the plan first and refuses a plan whose arithmetic exceeds a limit. The hourly budget of
Brevo's "other endpoints" (100, 200 or 600 per hour) is no pool's: every task of the account spends one budget kept
in the sync store (:mod:`airflow_provider_customerio.store.budget`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from airflow_provider_customerio.hooks.brevo_plans import BREVO_PLANS, DEFAULT_PLAN, brevo_plan

CUSTOMERIO_TRACK_POOL = "customerio_track"
CUSTOMERIO_APP_POOL = "customerio_app"
BREVO_POOL = "brevo"


@dataclass(frozen=True)
class PoolBudget:
    """One pool and the rate budget of the API it guards.

    :param name: Airflow pool name.
    :param slots: pool slots (tasks running at once).
    :param per_task_rate: requests/s allowed to each task in the pool.
    :param side_rate: requests/s allowed to a task of another pool that calls this API on the side.
    :param vendor_limit: the vendor's documented limit in requests/s.
    :param description: shown in the Airflow UI.
    """

    name: str
    slots: int
    per_task_rate: float
    side_rate: float
    vendor_limit: float
    description: str


#: The pools on Brevo's General plan (what ``dags/pools.json`` holds); :func:`pools_for` gives another plan's.
POOLS: dict[str, PoolBudget] = {
    CUSTOMERIO_TRACK_POOL: PoolBudget(
        name=CUSTOMERIO_TRACK_POOL,
        slots=4,
        per_task_rate=20.0,
        side_rate=2.0,
        vendor_limit=100.0,  # fair-use 1000 req/s in the 2026 docs, 100 req/s in older ones: we keep the lower
        description="Customer.io Track API (fair use 100 req/s): 4 slots x 20 req/s + 4 side slots x 2",
    ),
    CUSTOMERIO_APP_POOL: PoolBudget(
        name=CUSTOMERIO_APP_POOL,
        slots=2,
        per_task_rate=3.5,
        side_rate=0.5,
        vendor_limit=10.0,  # workspace-wide
        description="Customer.io App API (10 req/s per workspace): 2 slots x 3.5 req/s + 6 side slots x 0.5",
    ),
    BREVO_POOL: PoolBudget(
        name=BREVO_POOL,
        slots=2,
        per_task_rate=3.5,
        side_rate=0.5,
        vendor_limit=10.0,  # /contacts and /events, General plan
        description="Brevo contacts/events (10 req/s, General plan): 2 slots x 3.5 req/s + 6 side slots x 0.5",
    ),
}


def pools_for(plan: str = DEFAULT_PLAN) -> dict[str, PoolBudget]:
    """The pools for a Brevo plan: :data:`POOLS` with the ``brevo`` pool's rates scaled to the plan's limit.

    :raises ConfigError: an unknown plan (the message names the allowed values).
    """
    chosen = brevo_plan(plan)
    base = POOLS[BREVO_POOL]
    factor = chosen.requests_per_second / BREVO_PLANS[DEFAULT_PLAN].requests_per_second
    rate, side = base.per_task_rate * factor, base.side_rate * factor
    side_slots = sum(b.slots for name, b in POOLS.items() if name != BREVO_POOL)
    brevo = replace(
        base,
        per_task_rate=rate,
        side_rate=side,
        vendor_limit=chosen.requests_per_second,
        description=(
            f"Brevo contacts/events ({chosen.requests_per_second:g} req/s, {chosen.name.capitalize()} plan): "
            f"{base.slots} slots x {rate:g} req/s + {side_slots} side slots x {side:g}"
        ),
    )
    return {**POOLS, BREVO_POOL: brevo}


def rate_for(api_pool: str, task_pool: str | None, plan: str = DEFAULT_PLAN) -> float:
    """Requests/s a hook for ``api_pool``'s API may use inside a task running in ``task_pool`` (Brevo ``plan``)."""
    budget = pools_for(plan)[api_pool]
    return budget.per_task_rate if task_pool == api_pool else budget.side_rate


def check_budget(plan: str = DEFAULT_PLAN) -> dict[str, float]:
    """Worst-case requests/s per API with every pool full; raises ``ValueError`` when one exceeds its limit."""
    pools = pools_for(plan)
    worst: dict[str, float] = {}
    for name, budget in pools.items():
        side_slots = sum(b.slots for other, b in pools.items() if other != name)
        total = budget.slots * budget.per_task_rate + side_slots * budget.side_rate
        if total > budget.vendor_limit:
            raise ValueError(f"pool {name}: worst case {total} req/s exceeds the vendor limit {budget.vendor_limit}")
        worst[name] = total
    return worst


def pools_import_document(plan: str = DEFAULT_PLAN) -> dict[str, dict[str, object]]:
    """The document ``airflow pools import`` reads: ``{name: {slots, description, include_deferred}}``."""
    check_budget(plan)
    return {
        b.name: {"slots": b.slots, "description": b.description, "include_deferred": False}
        for b in pools_for(plan).values()
    }


def write_pools_file(path: str | Path, plan: str = DEFAULT_PLAN) -> None:
    """Write the pools file (``dags/pools.json`` is generated with this, for the General plan)."""
    Path(path).write_text(json.dumps(pools_import_document(plan), indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m airflow_provider_customerio.pools [--plan PLAN] [--output FILE]``: print (or write) the pools
    document of a Brevo plan, for ``airflow pools import``."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_customerio.pools",
        description="The Airflow pools document for a Brevo plan (slots x rate within the plan's limits).",
    )
    parser.add_argument("--plan", default=DEFAULT_PLAN, choices=sorted(BREVO_PLANS), help="Brevo plan")
    parser.add_argument("--output", help="write this file (e.g. dags/pools.json) instead of printing")
    args = parser.parse_args(argv)
    if args.output:
        write_pools_file(args.output, args.plan)
    else:
        sys.stdout.write(json.dumps(pools_import_document(args.plan), indent=2) + "\n")
    return 0


__all__ = [
    "POOLS",
    "PoolBudget",
    "check_budget",
    "main",
    "pools_for",
    "pools_import_document",
    "rate_for",
    "write_pools_file",
]

if __name__ == "__main__":
    raise SystemExit(main())
