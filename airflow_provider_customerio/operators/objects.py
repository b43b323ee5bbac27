"""Operator syncing Customer.io objects and their relationships into Brevo custom objects.

Thin: the constructor assigns, :meth:`CustomerIOObjectsToBrevoOperator.execute` builds the hooks, wraps them in
the ports of :mod:`airflow_provider_customerio.sync.objects` and delegates. The wait for Brevo's upsert processes
is deferrable (:class:`~airflow_provider_customerio.triggers.brevo.BrevoProcessTrigger`) with a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.exceptions import AuthError, NotFoundError, ValidationError
from airflow_provider_customerio.hooks._base import quote_path
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.lineage import LineageMixin, declare_outlets
from airflow_provider_customerio.operators._common import (
    as_bool,
    default_deferrable,
    load_customerio_config,
    open_sync_store,
    record_summary,
    run_task_ids,
    sync_lease,
)
from airflow_provider_customerio.store import SyncStore
from airflow_provider_customerio.sync.objects import (
    BrevoRecord,
    CioObject,
    ContactRef,
    ObjectSync,
    RelatedPerson,
    ReverseObjectSync,
    TypeProbe,
)
from airflow_provider_customerio.sync.processes import BrevoProcessTimeout, ProcessState, poll_delays
from airflow_provider_customerio.triggers.brevo import BrevoProcessTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Records sampled by the type probe (attribute keys seen on them are known to exist).
PROBE_LIMIT = 100


class CustomerIOObjectSource:
    """:class:`~airflow_provider_customerio.sync.objects.ObjectSource` over the Customer.io App API hook.

    :param filters: optional ``POST /v1/objects`` filter per Customer.io type id (default: every object).
    """

    def __init__(self, hook: CustomerIOAppHook, filters: Mapping[str, Any] | None = None) -> None:
        self.hook = hook
        self.filters = {str(k): v for k, v in (filters or {}).items()}

    def list_object_types(self) -> list[Mapping[str, Any]]:
        return list(self.hook.list_object_types())

    def iter_object_ids(self, type_id: str) -> Iterator[str]:
        for ident in self.hook.iter_objects(type_id, self.filters.get(type_id)):
            if ident.get("object_id") not in (None, ""):
                yield str(ident["object_id"])

    def get_object(self, type_id: str, object_id: str) -> CioObject | None:
        try:
            obj = self.hook.get_object_attributes(type_id, object_id)
        except NotFoundError:
            return None
        ids = obj.get("identifiers") or {}
        return CioObject(object_id, dict(obj.get("attributes") or {}), ids.get("cio_object_id"))

    def iter_related_people(self, type_id: str, object_id: str) -> Iterator[RelatedPerson]:
        for rel in self.hook.iter_object_relationships(type_id, object_id):
            ids = rel.get("identifiers") or {}
            pid = str(ids["id"]) if ids.get("id") not in (None, "") else None
            email = str(ids["email"]) if ids.get("email") not in (None, "") else None
            key = ids.get("cio_id") or (f"id:{pid}" if pid else f"email:{email}" if email else None)
            if key:
                yield RelatedPerson(cio_id=str(key), id=pid, email=email)


class BrevoObjectSink:
    """:class:`~airflow_provider_customerio.sync.objects.ObjectSink` over the Brevo hook.

    ``GET /objects/{type}/records`` has no hook method yet, so it goes through the hook's transport
    (:meth:`BrevoHook.request_json`: same auth, retries, rate limiting and logging).
    """

    def __init__(self, hook: BrevoHook) -> None:
        self.hook = hook

    def _records(self, object_type: str, page_num: int, limit: int) -> dict[str, Any]:
        return (
            self.hook.request_json(
                "GET",
                f"/objects/{quote_path(object_type)}/records",
                params={"limit": limit, "page_num": page_num, "sort": "desc"},
            )
            or {}
        )

    def probe_type(self, object_type: str) -> TypeProbe:
        # Brevo has no endpoint listing custom object types or their attributes: probe the records list, which
        # answers 404 (or 400 "invalid object_type") for a type that does not exist. See sync/objects.py.
        try:
            body = self._records(object_type, 1, PROBE_LIMIT)
        except NotFoundError as exc:
            return TypeProbe(exists=False, message=str(exc.message))
        except AuthError as exc:
            if exc.status == 403:
                return TypeProbe(exists=False, available=False, message=str(exc.message))
            raise
        except ValidationError as exc:
            if exc.status == 424:  # "primary attribute not found": the type exists
                return TypeProbe(exists=True, message=str(exc.message))
            if exc.status == 400 and "object" in (exc.message + exc.body_excerpt).lower():
                return TypeProbe(exists=False, message=str(exc.message))
            raise
        keys: set[str] = set()
        for rec in body.get("records") or []:
            keys |= set((rec.get("attributes") or {}).keys())
        count = body.get("count")
        return TypeProbe(exists=True, sample_keys=frozenset(keys), count=int(count) if isinstance(count, int) else None)

    def upsert(self, object_type: str, records: Sequence[Mapping[str, Any]]) -> str:
        return str(self.hook.upsert_object_records(object_type, [dict(r) for r in records]))

    def delete_records(self, object_type: str, ext_ids: Sequence[str]) -> str:
        return str(self.hook.delete_object_records(object_type, list(ext_ids)))

    def get_process(self, process_id: str) -> ProcessState:
        return process_state(process_id, self.hook.get_process(int(process_id)))

    def read_records(self, object_type: str, page_num: int, limit: int) -> list[Mapping[str, Any]]:
        return list(self._records(object_type, page_num, limit).get("records") or [])

    def find_contact(self, *, ext_id: str | None, email: str | None) -> ContactRef | None:
        if ext_id:
            if self.hook.find_contact(ext_id, identifier_type="ext_id") is not None:
                return ContactRef({"ext_id": ext_id})
        if email:
            contact = self.hook.find_contact(email.strip().lower(), identifier_type="email_id")
            if contact is not None and contact.get("id") is not None:
                return ContactRef({"id": int(contact["id"])})
        return None


class BrevoRecordReader:
    """:class:`~airflow_provider_customerio.sync.objects.BrevoRecordSource` over the Brevo hook (records pages of
    1000 with their associations; contacts by id)."""

    def __init__(self, hook: BrevoHook, page_limit: int = 1000) -> None:
        self.hook = hook
        self.page_limit = page_limit

    def iter_records(self, object_type: str) -> Iterator[BrevoRecord]:
        page = 1
        while True:
            body = (
                self.hook.request_json(
                    "GET",
                    f"/objects/{quote_path(object_type)}/records",
                    params={"limit": self.page_limit, "page_num": page, "sort": "asc", "association": "true"},
                )
                or {}
            )
            records = body.get("records") or []
            for rec in records:
                ids = rec.get("identifiers") or {}
                contacts: list[int] = []
                for assoc in rec.get("associations") or []:
                    if str(assoc.get("object_type", "")).lower() in ("contact", "contacts"):
                        contacts += [
                            int(r["identifiers"]["id"])
                            for r in assoc.get("records") or []
                            if (r.get("identifiers") or {}).get("id") is not None
                        ]
                yield BrevoRecord(
                    int(ids.get("id") or 0),
                    str(ids["ext_id"]) if ids.get("ext_id") else None,
                    dict(rec.get("attributes") or {}),
                    tuple(contacts),
                )
            if len(records) < self.page_limit:
                return
            page += 1

    def person_identifiers(self, contact_id: int) -> Mapping[str, str] | None:
        contact = self.hook.find_contact(contact_id, identifier_type="contact_id")
        if contact is None:
            return None
        ext_id = (contact.get("attributes") or {}).get("EXT_ID") or contact.get("ext_id")
        if ext_id:
            return {"id": str(ext_id)}
        if contact.get("email"):
            return {"email": str(contact["email"])}
        return None


class TrackBatchWriter:
    """:class:`~airflow_provider_customerio.sync.objects.TrackObjectWriter` over the Track hook."""

    def __init__(self, hook: CustomerIOTrackHook) -> None:
        self.hook = hook

    def send_batch(self, operations: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
        result = self.hook.batch([dict(op) for op in operations])
        return [(int(e["index"]), str(e.get("message") or e.get("reason") or "rejected")) for e in result.errors]


def process_state(process_id: str | int, process: Mapping[str, Any]) -> ProcessState:
    """A Brevo process body as a :class:`ProcessState`."""
    return ProcessState(str(process_id), str(process.get("status") or ""), error=process.get("error"))


class CustomerIOObjectsToBrevoOperator(LineageMixin, BaseOperator):
    """Sync Customer.io objects (companies, accounts, ...) and their relationships to people into Brevo custom
    objects associated with the right contacts.

    Types and field maps come from ``connectors.customerio.objects.types`` in the provider config; the task is
    skipped while ``connectors.customerio.sync.objects`` is false. Every configured Brevo object type must exist
    (Brevo creates them only in its UI): a missing one fails the task before anything is written, naming what to
    create. Relationships removed in Customer.io are unlinked in Brevo. Re-running gives the same end state; a
    killed task resumes from its checkpoint. Returns the run summary (read, created, updated, unchanged,
    rejected, links_added, links_removed, ledger, ...).

    :param object_type_ids: restrict to these Customer.io object type ids (templated; default all configured).
    :param object_filters: ``POST /v1/objects`` filter per type id (default: every object of the type).
    :param dry_run: read and compare only, write nothing (templated).
    :param config_path: the provider's YAML config (templated); default ``$CUSTOMERIO_PROVIDER_CONFIG`` or
        ``customerio_config.yaml`` in the DAGs folder.
    :param customerio_app_conn_id: Customer.io App API connection.
    :param brevo_conn_id: Brevo connection.
    :param state_path: the embedded SQLite store, used when the store connection does not exist (templated);
        default ``connectors.customerio.people.state_path``, else
        ``$AIRFLOW_HOME/customerio_sync/state.db``.
    :param max_records: records per Brevo upsert call (at most 1000).
    :param max_bytes: body bytes per Brevo upsert call (at most 1 MB).
    :param process_timeout: seconds to wait for the upsert processes before failing (records stay pending; a
        retry resumes the wait).
    :param poll_interval: first interval between process polls (``/processes`` has a 100/hour budget).
    :param deferrable: wait in the triggerer instead of holding a worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param app_hook_params: extra keyword arguments of the App hook (e.g. ``rate_limit``).
    :param brevo_hook_params: extra keyword arguments of the Brevo hook.
    """

    lineage_capability = "objects"
    template_fields: Sequence[str] = (
        "object_type_ids",
        "dry_run",
        "config_path",
        "state_path",
        "customerio_app_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        object_type_ids: Sequence[str] | str | None = None,
        object_filters: Mapping[str, Any] | None = None,
        dry_run: bool | str = False,
        config_path: str | None = None,
        customerio_app_conn_id: str = CustomerIOAppHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        state_path: str | None = None,
        max_records: int = 1000,
        max_bytes: int = 1024 * 1024,
        process_timeout: float = 3600.0,
        poll_interval: float = 10.0,
        deferrable: bool | None = None,
        app_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_type_ids = object_type_ids
        self.object_filters = dict(object_filters or {})
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.config_path = config_path
        self.customerio_app_conn_id = customerio_app_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.state_path = state_path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.process_timeout = process_timeout
        self.poll_interval = poll_interval
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.app_hook_params = dict(app_hook_params or {})
        self.brevo_hook_params = dict(brevo_hook_params or {})

        declare_outlets(self, "objects")

    @cached_property
    def app_hook(self) -> CustomerIOAppHook:
        """Customer.io App API hook."""
        return CustomerIOAppHook(self.customerio_app_conn_id, **self.app_hook_params)

    @cached_property
    def brevo_hook(self) -> BrevoHook:
        """Brevo hook."""
        return BrevoHook(self.brevo_conn_id, **self.brevo_hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        """Check, read, write; then wait (deferred or blocking) and finish."""
        sync, store = self._sync(context)
        with sync_lease(store, "objects:forward", context):
            dry_run = as_bool(self.dry_run, "dry_run")
            pending = sync.run(dry_run=dry_run)
            out = self._wait_or_finish(sync, pending, time.time() + self.process_timeout)
        record_summary(store, "objects", context, self.task_id, out)
        return out

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the trigger: handle the finished processes, defer again for resubmissions, or finish."""
        sync, store = self._sync(context)
        with sync_lease(store, "objects:forward", context):
            out = self._complete(sync, event)
        record_summary(store, "objects", context, self.task_id, out)
        return out

    def _complete(self, sync: ObjectSync, event: dict[str, Any]) -> dict[str, Any]:
        sync.attach()
        processes = event.get("processes") or {}
        pending = sync.complete(process_state(pid, body) for pid, body in processes.items())
        status = event.get("status")
        if status == "error":
            raise BrevoProcessTimeout(
                f"Waiting for Brevo object upserts failed: {event.get('message')}. The records stay "
                "pending: re-run the task to resume waiting."
            )
        end_time = float(event.get("end_time") or sync.checkpoint_value("end_time") or 0)
        if pending and (status == "timeout" or time.time() >= end_time):
            raise BrevoProcessTimeout(
                f"Brevo object upsert process(es) {', '.join(pending)} not finished after "
                f"{self.process_timeout:.0f} s. The records stay pending: re-run the task to resume "
                "waiting (raise process_timeout if Brevo is slow).",
                pending,
            )
        return self._wait_or_finish(sync, pending, end_time)

    # ------------------------------------------------------------------------------------------ helpers

    def _wait_or_finish(self, sync: ObjectSync, pending: list[str], end_time: float) -> dict[str, Any]:
        if pending and self.deferrable:
            sync.remember("end_time", end_time)
            sync.close_ledger()
            self.defer(
                trigger=BrevoProcessTrigger(
                    process_ids=pending,
                    brevo_conn_id=self.brevo_conn_id,
                    end_time=end_time,
                    poll_interval=self.poll_interval,
                    hook_params=self.brevo_hook_params,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=max(60.0, end_time - time.time() + 300)),
            )
        if pending:
            sync.wait(timeout=max(0.0, end_time - time.time()), delays=poll_delays(initial=self.poll_interval))
        result = sync.finish()
        self.log.info(
            "Object sync: %s",
            {
                k: result.get(k)
                for k in ("read", "created", "updated", "unchanged", "rejected", "links_added", "links_removed")
            },
        )
        return result

    def _sync(self, context: Context | Mapping[str, Any]) -> tuple[ObjectSync, SyncStore]:
        config = load_customerio_config(self.config_path)
        if not config.sync.objects:
            raise AirflowSkipException(
                "connectors.customerio.sync.objects is false: the object sync is off. Set it "
                "to true in the provider config to run it."
            )
        store = open_sync_store(config, self.state_path)
        dag_id, run_id, task_id = run_task_ids(context, self.task_id)
        run_key = f"{dag_id}/{run_id}/{task_id}"
        state = store.state()
        cp = state.get_checkpoint(run_key)
        ledger = store.ledger(
            dag_id, run_id, task_id, truncate_to=int(cp["ledger_offset"]) if cp and "ledger_offset" in cp else None
        )
        sync = ObjectSync(
            config=config,
            source=CustomerIOObjectSource(self.app_hook, self.object_filters),
            sink=BrevoObjectSink(self.brevo_hook),
            state=state,
            objects=store.objects(),
            ledger=ledger,
            run_key=run_key,
            type_ids=_as_ids(self.object_type_ids),
            max_records=int(self.max_records),
            max_bytes=int(self.max_bytes),
        )
        return sync, store


class BrevoObjectsToCustomerIOOperator(LineageMixin, BaseOperator):
    """The reverse direction: Brevo custom object records that come from elsewhere -> Customer.io objects, with
    their associated contacts as relationships (Track v2 object ``identify`` with ``cio_relationships``).

    Uses the types of ``connectors.customerio.objects.types`` with each ``field_mapping`` inverted; skipped while
    ``connectors.customerio.sync.objects`` is false. Records written by the Customer.io -> Brevo direction are
    skipped (no echo), and the objects written here are left alone by that direction. Relationships are only
    added (Brevo lists at most 5 associated contacts per record). Returns the run summary.

    :param object_type_ids: restrict to these Customer.io object type ids (templated).
    :param dry_run: count only, write nothing (templated).
    :param config_path: the provider's YAML config (templated).
    :param customerio_track_conn_id: Customer.io Track API connection.
    :param brevo_conn_id: Brevo connection.
    :param state_path: the embedded SQLite store (templated); default as for the forward direction.
    :param track_hook_params: extra keyword arguments of the Track hook (e.g. ``rate_limit``).
    :param brevo_hook_params: extra keyword arguments of the Brevo hook.
    """

    lineage_capability = "objects_reverse"
    template_fields: Sequence[str] = (
        "object_type_ids",
        "dry_run",
        "config_path",
        "state_path",
        "customerio_track_conn_id",
        "brevo_conn_id",
    )
    ui_color = "#c9e4ff"

    def __init__(
        self,
        *,
        object_type_ids: Sequence[str] | str | None = None,
        dry_run: bool | str = False,
        config_path: str | None = None,
        customerio_track_conn_id: str = CustomerIOTrackHook.default_conn_name,
        brevo_conn_id: str = BrevoHook.default_conn_name,
        state_path: str | None = None,
        track_hook_params: Mapping[str, Any] | None = None,
        brevo_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_type_ids = object_type_ids
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]  # shadows BaseOperator.dry_run()
        self.config_path = config_path
        self.customerio_track_conn_id = customerio_track_conn_id
        self.brevo_conn_id = brevo_conn_id
        self.state_path = state_path
        self.track_hook_params = dict(track_hook_params or {})
        self.brevo_hook_params = dict(brevo_hook_params or {})

        declare_outlets(self, "objects_reverse")

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the Brevo records and write the new or changed ones to Customer.io."""
        config = load_customerio_config(self.config_path)
        if not config.sync.objects:
            raise AirflowSkipException("connectors.customerio.sync.objects is false: the object sync is off.")
        store = open_sync_store(config, self.state_path)
        dag_id, run_id, task_id = run_task_ids(context, self.task_id)
        sync = ReverseObjectSync(
            config=config,
            source=BrevoRecordReader(BrevoHook(self.brevo_conn_id, **self.brevo_hook_params)),
            writer=TrackBatchWriter(CustomerIOTrackHook(self.customerio_track_conn_id, **self.track_hook_params)),
            state=store.state(),
            objects=store.objects(),
            ledger=store.ledger(dag_id, run_id, task_id),
            type_ids=_as_ids(self.object_type_ids),
        )
        with sync_lease(store, "objects:reverse", context):
            result = sync.run(dry_run=as_bool(self.dry_run, "dry_run"))
        record_summary(store, "objects_reverse", context, self.task_id, result)
        self.log.info(
            "Reverse object sync: %s",
            {k: result.get(k) for k in ("read", "created", "updated", "unchanged", "echoes", "rejected")},
        )
        return result


def _as_ids(value: Sequence[str] | str | int | None) -> list[str] | None:
    if value in (None, "", []):
        return None
    if isinstance(value, (str, int)):
        items = [v.strip() for v in str(value).split(",")]
    else:
        items = [str(v).strip() for v in value]
    bad = [v for v in items if not v.isdigit()]
    if bad:
        raise ValueError(f'object_type_ids must be Customer.io object type ids such as "1", got {bad!r}.')
    return items or None


__all__ = [
    "BrevoObjectSink",
    "BrevoObjectsToCustomerIOOperator",
    "BrevoRecordReader",
    "CustomerIOObjectSource",
    "CustomerIOObjectsToBrevoOperator",
    "TrackBatchWriter",
    "process_state",
]
