"""Brevo's plans and the API limits each publishes (https://developers.brevo.com/docs/api-limits).

=========  ===================  =========================================================
plan       contacts and events  all other endpoints (``/processes``, ``/objects``, ...)
=========  ===================  =========================================================
general    10 requests/s        100 requests per hour
advanced   20 requests/s        200 requests per hour
extended   60 requests/s        600 requests per hour
=========  ===================  =========================================================

A Brevo connection names its plan in the extra ``plan`` (default ``general``, what the provider assumed before the
extra existed); the extras ``rate_limit`` and ``other_requests_per_hour`` still override the plan's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from airflow_provider_customerio.exceptions import ConfigError


@dataclass(frozen=True)
class BrevoPlan:
    """One Brevo plan's published API limits.

    :param name: the connection extra's value (``general``, ``advanced`` or ``extended``).
    :param requests_per_second: ``/contacts/*`` and ``/events`` (each family on its own).
    :param other_per_hour: "all other endpoints", per account and sliding hour.
    """

    name: str
    requests_per_second: float
    other_per_hour: int


BREVO_PLANS: Final[dict[str, BrevoPlan]] = {
    "general": BrevoPlan("general", 10.0, 100),
    "advanced": BrevoPlan("advanced", 20.0, 200),
    "extended": BrevoPlan("extended", 60.0, 600),
}
DEFAULT_PLAN: Final = "general"


def brevo_plan(value: Any, *, conn_id: str | None = None) -> BrevoPlan:
    """The plan named by ``value`` (case and blanks ignored; empty: ``general``).

    :raises ConfigError: an unknown plan; the message names the extra ``plan`` and the allowed values.
    """
    name = DEFAULT_PLAN if value in (None, "") else str(value).strip().lower()
    plan = BREVO_PLANS.get(name)
    if plan is None:
        where = f"Connection '{conn_id}': extra field 'plan'" if conn_id else "Brevo plan"
        raise ConfigError(
            f"{where} must be one of {', '.join(BREVO_PLANS)} (your Brevo plan: "
            f"https://developers.brevo.com/docs/api-limits), got {value!r}."
        )
    return plan


__all__ = ["BREVO_PLANS", "DEFAULT_PLAN", "BrevoPlan", "brevo_plan"]
