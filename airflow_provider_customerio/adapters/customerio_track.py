"""Adapters of the Customer.io Track API hook to the sync ports (object and people writers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook


class CustomerIOObjectWriter:
    """:class:`~airflow_provider_customerio.sync.objects.ObjectWriter` over the Track hook."""

    def __init__(self, hook: CustomerIOTrackHook) -> None:
        self.hook = hook

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        result = self.hook.batch([dict(op) for op in operations])
        return [(int(e["index"]), str(e.get("message") or e.get("reason") or "rejected")) for e in result.errors]


__all__ = ["CustomerIOObjectWriter"]
