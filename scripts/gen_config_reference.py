#!/usr/bin/env python
"""Render the configuration reference of README.md from the config's JSON Schema.

``python scripts/gen_config_reference.py`` rewrites the block between the README's
``<!-- config-reference:start -->`` and ``<!-- config-reference:end -->`` markers; ``--check`` exits 1 when the
README is out of date (a unit test runs that check).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "airflow_provider_customerio" / "sync" / "config.schema.json"
README = ROOT / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def _type(node: dict[str, Any]) -> str:
    t = node.get("type")
    if isinstance(t, list):
        t = " or ".join(str(x) for x in t)
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"] if v is not None)
    return str(t or "any")


def _rows(node: dict[str, Any], path: str) -> list[tuple[str, str, str, str]]:
    rows = []
    if path:
        default = node.get("default")
        shown = "" if default is None or default == {} else f"`{json.dumps(default)}`"
        desc = " ".join((node.get("description") or "").split()).replace("|", "\\|")
        rows.append((f"`{path}`", _type(node), shown, desc))
    for key, child in (node.get("properties") or {}).items():
        rows.extend(_rows(child, f"{path}.{key}" if path else key))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and (extra.get("description") or extra.get("properties")):
        rows.extend(_rows(extra, f"{path}.<key>"))
    return rows


def render(schema: dict[str, Any]) -> str:
    """Markdown table of every documented key."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| {k} | {t} | {d} | {m} |" for k, t, d, m in _rows(schema, "")]
    return "\n".join(lines)


def main() -> int:
    block = f"{START}\n{render(json.loads(SCHEMA.read_text()))}\n{END}"
    text = README.read_text()
    if START not in text or END not in text:
        print("README.md has no config-reference markers", file=sys.stderr)
        return 1
    new = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    if "--check" in sys.argv:
        if new != text:
            print("README.md's configuration reference is out of date: run python scripts/gen_config_reference.py")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
