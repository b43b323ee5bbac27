"""The storage ports of the sync core: what ``sync/`` needs of the store, as Protocols.

The sync modules type their store parameters with these, so ``sync/`` depends on no concrete store class; the
store (:mod:`airflow_provider_customerio.store`) provides them: its ``state.StateStore`` is a :class:`SyncState`,
its ``ledger.Ledger`` a :class:`RunLedger`, and a test may pass a list-backed fake. Value types (``OwnWrite``,
``Identity``, ``PendingProcess``, ...) and the direction constants are the store's own and are imported from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_provider_customerio.store.staging import PendingProcess, PendingRow
    from airflow_provider_customerio.store.state import Identity, OwnWrite


class RejectSink(Protocol):
    """Where a sync records a rejected record: the store's ledger in production, a list in tests."""

    def reject(
        self,
        *,
        record_id: str | None,
        reason: str,
        message: str,
        stage: str,
        identifiers: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...


class RunLedger(RejectSink, Protocol):
    """The rejected records of one task run (the store's ``Ledger``): rows buffered by :meth:`reject`, committed by
    :meth:`flush` (which returns the row count to checkpoint), counted per reason in ``counts``."""

    key: str
    counts: Counter[str]

    @property
    def location(self) -> str: ...

    def flush(self) -> int: ...

    def close(self) -> None: ...

    @property
    def total(self) -> int: ...

    @property
    def record_rejects(self) -> int: ...


class SyncState(Protocol):
    """The sync state of people-like syncs (the store's ``StateStore``): content hashes, identities, per-field
    digests, own writes, checkpoints, watermarks, staged items and pending Brevo imports."""

    @property
    def location(self) -> str: ...

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def check_lease(self) -> None: ...

    def get_hashes(self, direction: str, keys: Sequence[str]) -> dict[str, str]: ...

    def get_hash(self, direction: str, key: str) -> str | None: ...

    def set_hashes(self, direction: str, items: Iterable[tuple[str, str]]) -> None: ...

    def delete_hashes(self, direction: str, keys: Iterable[str]) -> None: ...

    def count_hashes(self, direction: str) -> int: ...

    def upsert_identity(
        self, cio_id: str, *, brevo_id: int | None = None, email: str | None = None, ext_id: str | None = None
    ) -> None: ...

    def upsert_identities(self, items: Iterable[tuple[str, str | None, str | None]]) -> None: ...

    def get_identity(self, cio_id: str) -> Identity | None: ...

    def find_identity(
        self, *, email: str | None = None, ext_id: str | None = None, brevo_id: int | None = None
    ) -> Identity | None: ...

    def find_identities(
        self, *, brevo_ids: Iterable[int] = (), ext_ids: Iterable[str] = (), emails: Iterable[str] = ()
    ) -> dict[str, dict[Any, Identity]]: ...

    def forget_identity(self, cio_id: str) -> None: ...

    def get_field_digests(self, cio_ids: Sequence[str]) -> dict[str, dict[str, str]]: ...

    def set_field_digests(self, items: Iterable[tuple[str, Mapping[str, str]]]) -> None: ...

    def forget_field_digests(self, cio_ids: Iterable[str]) -> None: ...

    def record_own_writes(self, direction: str, items: Iterable[tuple[str, str, Any]], written_at: float) -> None: ...

    def get_own_writes(self, direction: str, cio_ids: Sequence[str]) -> dict[str, dict[str, OwnWrite]]: ...

    def forget_own_writes(self, direction: str, items: Iterable[tuple[str, str]]) -> None: ...

    def expire_own_writes(self, direction: str, before: float) -> int: ...

    def iter_own_write_people(self, direction: str) -> Iterator[str]: ...

    def get_checkpoint(self, run_key: str) -> dict[str, Any] | None: ...

    def save_checkpoint(self, run_key: str, data: Mapping[str, Any]) -> None: ...

    def get_watermark(self, name: str) -> str | None: ...

    def set_watermark(self, name: str, value: str) -> None: ...

    def stage_items(self, run_key: str, items: Iterable[tuple[str, str, Mapping[str, Any] | None]]) -> int: ...

    def iter_staged(
        self, run_key: str, from_seq: int = 0, kind: str | None = None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]: ...

    def count_staged(self, run_key: str) -> int: ...

    def add_pending(
        self,
        run_key: str,
        process_id: str,
        rows: Iterable[tuple[str, str, Mapping[str, Any]]],
        *,
        attempt: int = 1,
        options: Mapping[str, Any] | None = None,
    ) -> None: ...

    def pending_processes(self, run_key: str) -> list[PendingProcess]: ...

    def iter_pending_rows(self, run_key: str, process_id: str) -> Iterator[PendingRow]: ...

    def drop_pending(self, run_key: str, process_id: str) -> None: ...

    def mark_seen(self, run_key: str, keys: Iterable[str]) -> None: ...

    def iter_unseen(self, run_key: str, direction: str) -> Iterator[str]: ...

    def clear_run(self, run_key: str) -> None: ...


__all__ = ["RejectSink", "RunLedger", "SyncState"]
