"""A Brevo account's import slots as the connection configures them: the account's name in the sync store and the
extras ``max_imports_in_flight`` / ``import_slot_ttl``.

Brevo asks for one import at a time per account ("Wait for your current import to finish before starting a new
one", https://help.brevo.com/hc/en-us/articles/209499265); the syncs keep at most ``max_imports_in_flight`` in flight
across tasks and machines (:mod:`airflow_provider_customerio.sync.import_slots`).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from airflow_provider_customerio.exceptions import ConfigError

#: Imports in flight per account unless the Brevo connection's extra ``max_imports_in_flight`` says otherwise.
DEFAULT_MAX_IMPORTS_IN_FLIGHT: Final = 1
#: Seconds a slot outlives its holder's last renewal (the connection extra ``import_slot_ttl``).
DEFAULT_SLOT_TTL_S: Final = 600.0


def account_key(base_url: str, api_key: str) -> str:
    """The store's name for a Brevo account: a SHA-256 of its base URL and API key, never the key itself."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return f"brevo:{digest[:48]}"


def slot_settings(extras: dict[str, Any], conn_id: str) -> tuple[int, float]:
    """``(max_imports_in_flight, import_slot_ttl)`` from a Brevo connection's extras, checked."""
    raw_max = extras.get("max_imports_in_flight")
    raw_ttl = extras.get("import_slot_ttl")
    try:
        limit = DEFAULT_MAX_IMPORTS_IN_FLIGHT if raw_max in (None, "") else int(str(raw_max))
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigError(
            f"Connection '{conn_id}': extra field 'max_imports_in_flight' must be a whole number >= 1 (Brevo "
            f"advises 1: one import at a time per account), got {raw_max!r}."
        )
    try:
        ttl = DEFAULT_SLOT_TTL_S if raw_ttl in (None, "") else float(raw_ttl)
    except (TypeError, ValueError):
        ttl = 0.0
    if ttl < 30:
        raise ConfigError(
            f"Connection '{conn_id}': extra field 'import_slot_ttl' must be a number of seconds >= 30 (how long "
            f"the import slot of a task that died stays held), got {raw_ttl!r}."
        )
    return limit, ttl


__all__ = ["DEFAULT_MAX_IMPORTS_IN_FLIGHT", "DEFAULT_SLOT_TTL_S", "account_key", "slot_settings"]
