"""Reading the JSON line a benchmark's child server prints, past any log line printed before it."""

from __future__ import annotations

import json
from typing import IO, Any


def read_json_line(stream: IO[str]) -> dict[str, Any]:
    """The next line of ``stream`` that is a JSON object (log lines an Airflow setting sends to stdout are skipped);
    ``{}`` at the end of the stream."""
    for line in iter(stream.readline, ""):
        text = line.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}
