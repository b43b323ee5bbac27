"""The run's hold on shared things: the lease of its sync (one run at a time, fenced) and the Brevo account's import
slots (one import in flight by default)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow_provider_customerio.runs.context import lease_owner
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.import_slots import ImportSlots

#: A held lease is renewed every third of this; a task killed without letting go (SIGKILL, a lost worker) loses it
#: after this many seconds, and its own retry (a later try of the same task) takes it over at once.
LEASE_TTL_S = 120.0


@contextmanager
def sync_lease(store: SyncStore, name: str, context: Mapping[str, Any], *, wait: float = 300.0) -> Iterator[None]:
    """Hold the lease of the sync ``name`` for the try of ``context`` (:func:`lease_owner`): a second run of the same
    sync waits up to ``wait`` seconds, then fails with a message naming the run that holds it; a later try of the
    same task takes it over at once, and the store's writes of the earlier try then fail (``store.fencing``)."""
    with store.leased(name, lease_owner(context), ttl=LEASE_TTL_S, wait=wait):
        yield


def brevo_import_slots(store: SyncStore, hook: Any, holder: str) -> ImportSlots:
    """The import slots of ``hook``'s Brevo account (the connection extras ``max_imports_in_flight`` and
    ``import_slot_ttl``), held by ``holder`` (the sync run: a retry of the run takes its slot back)."""
    limit, ttl = hook.import_slot_settings
    return ImportSlots(store.import_slots(), hook.import_slot_account, holder, limit=limit, ttl=ttl)


__all__ = ["LEASE_TTL_S", "brevo_import_slots", "sync_lease"]
