"""Adapters of the workflow-state capability: :class:`BrevoImportSink`, the Brevo imports of the write task
(:class:`~airflow_provider_customerio.sync.workflow.write.ImportSink` over the imports component),
:class:`BrevoAttributes` (the attributes the state is written to) and :func:`webhook_events` (the stored
reporting-webhook events the derive task reads)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.adapters.brevo_imports import BrevoImports
from airflow_provider_customerio.adapters.brevo_notices import BrevoImportNotices
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.store.inbox import EventStore
from airflow_provider_customerio.store.sync_store import SyncStore
from airflow_provider_customerio.sync.config import CustomerIOConfig
from airflow_provider_customerio.sync.import_slots import ImportSlots
from airflow_provider_customerio.sync.processes import ProcessState


class BrevoImportSink:
    """:class:`~airflow_provider_customerio.sync.workflow.write.ImportSink` on the Brevo hook.

    :param slots: the account's import slots: a submission waits for one, a finished wait frees it.
    """

    def __init__(
        self,
        hook: BrevoHook,
        *,
        list_ids: Sequence[int],
        timeout: float,
        check_interval: float,
        notices: BrevoImportNotices | None = None,
        slots: ImportSlots | None = None,
    ) -> None:
        self.hook = hook
        self.list_ids = list(list_ids)
        self.timeout = timeout
        self.check_interval = check_interval
        self.notices = notices
        self.slots = slots

    @property
    def imports(self) -> BrevoImports:
        """The imports component this sink sends through."""
        return BrevoImports(
            self.hook,
            notices=self.notices,
            slots=self.slots,
            slot_timeout=self.timeout,
            poll_interval=self.check_interval,
        )

    def submit(self, rows: list[dict[str, Any]]) -> str:
        return self.imports.start(rows, list_ids=self.list_ids)

    def wait(self, process_id: str) -> ProcessState:
        return self.imports.wait([process_id], timeout=self.timeout)[str(process_id)]


class BrevoAttributes:
    """:class:`~airflow_provider_customerio.sync.workflow.attributes.AttributePort` on the Brevo hook."""

    def __init__(self, hook: BrevoHook) -> None:
        self.hook = hook

    def list_attributes(self) -> Iterable[Mapping[str, Any]]:
        return self.hook.list_attributes()

    def create_attribute(self, name: str, type: str) -> None:
        self.hook.create_attribute(name, type)


#: Page size when reading stored webhook events.
WEBHOOK_EVENT_PAGE = 5000


def webhook_events(
    config: CustomerIOConfig, conn_id: str | None, store: SyncStore
) -> Callable[[int, int], Iterator[dict[str, Any]]]:
    """``(start_ts, end_ts) -> events``: the stored reporting-webhook events of a window (decoded payloads, read in
    pages), from the events capability's store: its own connection when one is configured, else the sync store."""
    conn_id = conn_id or config.events.webhook_store_conn_id
    if conn_id:
        events = EventStore.from_conn_id(conn_id)
    else:
        events = EventStore(store.engine)
        events.fenced = True  # the lease lives in the same database: a stale try's marks fail
    return lambda start_ts, end_ts: events.iter_webhook_payloads(start_ts, end_ts, page=WEBHOOK_EVENT_PAGE)
