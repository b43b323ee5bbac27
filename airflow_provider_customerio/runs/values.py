"""Rendered template values (Jinja renders everything to text) as the types the syncs need, with errors that name
the argument and the fix."""

from __future__ import annotations

from typing import Any

from airflow_provider_customerio.sync.mapping import to_bool

_EMPTY = ("", "none", "null")


def as_bool(value: Any, name: str) -> bool:
    """A rendered template value as a boolean: true/false, 1/0, yes/no, y/n, t/f, on/off (any case); empty, ``None``
    and ``"none"`` are false. Anything else is an error naming the argument."""
    if isinstance(value, bool):
        return value
    if value is None or str(value).strip().lower() in _EMPTY:
        return False
    try:
        return to_bool(value)
    except ValueError:
        raise ValueError(f"{name} must be true or false, got {value!r}.") from None


def as_optional_str(value: Any) -> str | None:
    """A rendered template value as text; empty, ``"None"`` and ``"null"`` are ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _EMPTY else text


__all__ = ["as_bool", "as_optional_str"]
