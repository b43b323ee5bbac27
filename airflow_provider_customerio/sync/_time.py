"""The one parser of ISO-8601 dates and date-times of the provider (Customer.io, Brevo, params, the config)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

_EMPTY = ("", "none", "null")


def parse_iso(text: str) -> datetime:
    """An ISO-8601 date or date-time (``Z`` accepted) as an aware datetime; a naive value is taken as UTC.

    :raises ValueError: not ISO-8601.
    """
    dt = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` with a time zone (UTC when it has none)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def to_epoch(value: Any, name: str) -> int | None:
    """Unix seconds from a datetime, a number or an ISO-8601 string; ``None`` for empty values.

    :raises ValueError: naming ``name`` when the value is none of those.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _EMPTY):
        return None
    if isinstance(value, datetime):
        return int(as_utc(value).timestamp())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        return int(parse_iso(text).timestamp())
    except ValueError:
        raise ValueError(
            f"{name}: {text!r} is not a date-time; use ISO-8601 (2026-01-31T13:45:00Z) or unix seconds"
        ) from None


__all__ = ["as_utc", "parse_iso", "to_epoch"]
