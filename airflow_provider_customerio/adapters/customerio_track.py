"""Adapters of the Customer.io Track API hook to the sync ports (object and people writers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_customerio.adapters.customerio_app import CustomerIOPeopleSource
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.sync.reverse import (
    BatchError,
    Profile,
)


class CustomerIOPeopleWriter:
    """:class:`~airflow_provider_customerio.sync.reverse.PeopleWriter` over the Track hook (v2 batches) and the App
    hook (profiles, only to check conflicts): the Customer.io side of a reverse run."""

    def __init__(self, track: CustomerIOTrackHook, app: CustomerIOAppHook) -> None:
        self.track = track
        self.app = app

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[BatchError]:
        """``POST /api/v2/batch``; the 207 per-operation errors."""
        result = self.track.batch([dict(op) for op in operations])
        return [
            BatchError(
                index=int(e.get("index", -1)),
                reason=str(e.get("reason") or "invalid"),
                message=str(e.get("message") or ""),
                field=str(e.get("field") or ""),
            )
            for e in result.errors
        ]

    def profiles(self, cio_ids: Sequence[str]) -> list[Profile]:
        """Profiles by cio_id (≤ 100 per call), built as the people sync builds them, with the latest attribute
        timestamp (for ``newest_wins``)."""
        out = []
        for item in self.app.get_people_attributes(list(cio_ids), id_type="cio_id"):
            times = {
                str(k): int(v)
                for k, v in (item.get("timestamps") or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            out.append(
                Profile(
                    CustomerIOPeopleSource.person_from_item(item),
                    max(times.values()) if times else None,
                    field_times=times,
                )
            )
        return out


__all__ = ["CustomerIOPeopleWriter"]
