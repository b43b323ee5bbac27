"""Rendered template values (Jinja renders everything to text) as the types the syncs need, with errors that name
the argument and the fix."""

from __future__ import annotations

import json
from collections.abc import Sequence
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


def as_id(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive integer id, got {value!r}.")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a positive integer id, got {value!r}. Set the '{name}' param (or the mirror config) "
            "to the numeric id shown in the vendor's UI."
        ) from None
    if number < 1:
        raise ValueError(f"{name} must be a positive integer id, got {value!r}.")
    return number


def as_names(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):  # a rendered list
            try:
                parsed = json.loads(text.replace("'", '"'))
            except ValueError:
                raise ValueError(
                    f"include_attributes must be a list of Customer.io attribute names, got {value!r}."
                ) from None
            return as_names(parsed)
        return tuple(p.strip() for p in text.split(",") if p.strip())
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(
                f'include_attributes must be a list of Customer.io attribute names (e.g. ["first_name", "plan"]), '
                f"got the item {item!r}."
            )
        names.append(item.strip())
    return tuple(names)


__all__ = ["as_bool", "as_id", "as_names", "as_optional_str"]
