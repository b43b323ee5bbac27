"""Airflow pools that keep every task inside the vendors' rate limits, and the per-task rates that go with them.

The arithmetic (also in the README):

* Every task that calls a rate-limited API at volume runs in that API's pool, and its hook is throttled to
  ``per_task_rate``. A task may also make a few *side calls* to another API (e.g. the Brevo load task reads the
  attribute list once); those hooks are throttled to ``side_rate``.
* So, for each API, the worst case with every DAG running at once is
  ``slots × per_task_rate + side_slots × side_rate``, where ``side_slots`` is the number of slots of the
  *other* pools whose tasks may call this API. That sum must stay at or under the vendor's limit, which
  :func:`check_budget` verifies (and a unit test runs).

To use a bigger Brevo plan (Advanced: 20 req/s on contacts and events), raise ``vendor_limit`` and
``per_task_rate`` below, or keep the code and change the pool's slots together with the connection extra
``rate_limit`` so that slots × rate stays under the limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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


def rate_for(api_pool: str, task_pool: str | None) -> float:
    """Requests/s a hook for ``api_pool``'s API may use inside a task running in ``task_pool``."""
    budget = POOLS[api_pool]
    return budget.per_task_rate if task_pool == api_pool else budget.side_rate


def check_budget() -> dict[str, float]:
    """Worst-case requests/s per API with every pool full; raises ``ValueError`` when one exceeds its limit."""
    worst: dict[str, float] = {}
    for name, budget in POOLS.items():
        side_slots = sum(b.slots for other, b in POOLS.items() if other != name)
        total = budget.slots * budget.per_task_rate + side_slots * budget.side_rate
        if total > budget.vendor_limit:
            raise ValueError(f"pool {name}: worst case {total} req/s exceeds the vendor limit {budget.vendor_limit}")
        worst[name] = total
    return worst


def pools_import_document() -> dict[str, dict[str, object]]:
    """The document ``airflow pools import`` reads: ``{name: {slots, description, include_deferred}}``."""
    return {b.name: {"slots": b.slots, "description": b.description, "include_deferred": False} for b in POOLS.values()}


def write_pools_file(path: str | Path) -> None:
    """Write the pools file (``dags/pools.json`` is generated with this)."""
    Path(path).write_text(json.dumps(pools_import_document(), indent=2) + "\n")


__all__ = ["POOLS", "PoolBudget", "check_budget", "pools_import_document", "rate_for", "write_pools_file"]
