"""Brevo API v3: contacts, imports, attributes, lists, events and custom objects.

Auth is the ``api-key`` header (connection password). Brevo rate-limits per endpoint family and plan
(:mod:`.brevo_plans`): all ``/contacts/*`` and ``/events`` 10, 20 or 60 req/s, and "all other endpoints"
(``/processes``, ``/objects``, ``/account``) only **100, 200 or 600 per hour** per account. The hook keeps one
limiter per family (a token bucket per second, a sliding hourly budget for "all other endpoints", which the tasks
share through the sync store: :meth:`BrevoHook.share_hourly_budget`), and polls import processes sparingly.
``POST /contacts/batch`` is deprecated from 2026-10-30 and is deliberately not offered: bulk writes go through
:meth:`BrevoHook.import_contacts`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar, Final

import requests

from airflow_provider_customerio.exceptions import ConfigError, NotFoundError
from airflow_provider_customerio.hooks._base import BaseApiHook
from airflow_provider_customerio.hooks.brevo_plans import BrevoPlan, brevo_plan
from airflow_provider_customerio.hooks.brevo_slots import account_key, slot_settings
from airflow_provider_customerio.hooks.ratelimit import (
    Limiter,
    SharedWindowLimiter,
    TokenBucket,
    WindowLedger,
    WindowLimiter,
)
from airflow_provider_customerio.hooks.responses import BatchResult
from airflow_provider_customerio.hooks.transport import ApiKeyAuth, check_base_url, quote_path
from airflow_provider_customerio.pools import BREVO_POOL, rate_for

BREVO_BASE_URL = "https://api.brevo.com/v3"
MAX_LIST_MEMBERS_PER_CALL = 150
MAX_EVENTS_PER_BATCH = 200
MAX_OBJECT_RECORDS = 1000
IDENTIFIER_TYPES = frozenset({"email_id", "contact_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id"})
#: A date-time ending in an explicit offset: ``Z`` or ``±HH:MM`` (``±HHMM``).
#: The window of Brevo's budget of "all other endpoints".
HOUR_S: Final = 3600.0
_EXPLICIT_OFFSET = re.compile(r"T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)


class BrevoHook(BaseApiHook):
    """Hook for the Brevo API v3 (connection type ``brevo``).

    :param brevo_conn_id: connection with the API key (password) and the extras ``plan`` (``general``,
        ``advanced`` or ``extended``, default ``general``: sets the two limits below to the plan's,
        https://developers.brevo.com/docs/api-limits), ``rate_limit`` (contacts and events, req/s; default the
        plan's), ``other_requests_per_hour`` (``/processes``, ``/objects``, ``/account``; default the plan's 100,
        200 or 600), ``timeout``, ``log_api_calls``, and ``notify_url``: the public base URL of the provider's
        plugin on the Airflow api-server (``https://<api-server>/customerio``). When set, imports ask Brevo to call
        ``<notify_url>/brevo/processes/<token>`` when they end and the waits read that notice from the sync store
        instead of polling ``GET /processes/{id}`` (https://developers.brevo.com/reference/import-contacts).
        ``max_imports_in_flight`` (default 1) and ``import_slot_ttl`` (default 600 s): the syncs keep at most that
        many imports in flight per account, across tasks and machines (:mod:`~airflow_provider_customerio.hooks.
        brevo_slots`; Brevo: "Wait for your current import to finish before starting a new one").
    :param pool: the Airflow pool of the task using the hook: its per-second rate is then that pool's share of the
        plan's (:func:`airflow_provider_customerio.pools.rate_for`), as the operators ask. Precedence of the
        per-second rate: the ``rate_limit`` argument, ``pool``, the extra ``rate_limit``, the plan.
    """

    conn_name_attr: ClassVar[str] = "brevo_conn_id"
    default_conn_name: ClassVar[str] = "brevo_default"
    conn_type: ClassVar[str] = "brevo"
    hook_name: ClassVar[str] = "Brevo"
    api_name: ClassVar[str] = "Brevo API"
    #: the General plan's (:attr:`plan` sets the limits the hook uses)
    default_rate_limit: ClassVar[float] = 10.0

    def __init__(self, brevo_conn_id: str | None = None, *, pool: str | None = None, **kwargs: Any) -> None:
        super().__init__(brevo_conn_id, **kwargs)
        self.pool = pool
        self._hourly_ledger: WindowLedger | None = None
        self._ledger_clock: Callable[[], float] = time.time

    @cached_property
    def plan(self) -> BrevoPlan:
        """The account's plan: the connection extra ``plan`` (default ``general``), checked."""
        return brevo_plan(self.extras.get("plan"), conn_id=self.conn_id)

    def _default_base_url(self) -> str:
        return BREVO_BASE_URL

    @cached_property
    def notify_base_url(self) -> str | None:
        """The connection extra ``notify_url`` (https, or http on loopback), or ``None`` when not configured."""
        value = self.extras.get("notify_url")
        if not value:
            return None
        return check_base_url(str(value), conn_id=self.conn_id, field_name="notify_url")

    @cached_property
    def import_slot_account(self) -> str:
        """The account's name in the sync store's import slots: a hash of the base URL and API key."""
        return account_key(self.base_url, self._secret("password", "Brevo API key"))

    @cached_property
    def import_slot_settings(self) -> tuple[int, float]:
        """``(max_imports_in_flight, import_slot_ttl)``: the connection extras (default 1 and 600 s)."""
        return slot_settings(self.extras, self.conn_id)

    def _build_auth(self) -> requests.auth.AuthBase:
        return ApiKeyAuth(self._secret("password", "Brevo API key"))

    def _error_hint(self, status: int, body: Any) -> str:
        if status == 401:
            return (
                f"Check the API key (password) of connection '{self.conn_id}' (Brevo > SMTP & API > API keys), "
                "and that the machine's IP is authorised if the account restricts API keys by IP."
            )
        if status == 429:
            return "Brevo's rate limit was exceeded; lower the brevo pool's slots or the connection's rate_limit."
        return ""

    # ---------------------------------------------------------------------------- rate limiting
    @cached_property
    def rate_limiter(self) -> TokenBucket:
        """Bucket of ``/contacts``: the ``rate_limit`` argument, else the pool's share of the plan, else the extra
        ``rate_limit``, else the plan's rate."""
        rate = self._rate_limit_arg
        if rate is None and self.pool is not None:
            rate = rate_for(BREVO_POOL, self.pool, self.plan.name)
        if rate is None:
            rate = self._extra_float("rate_limit", self.plan.requests_per_second)
        return TokenBucket(rate, sleep=lambda s: self._sleep(s))

    @cached_property
    def events_limiter(self) -> TokenBucket:
        """Bucket of ``/events`` (same rate as contacts unless overridden)."""
        return TokenBucket(self.rate_limiter.rate, sleep=lambda s: self._sleep(s))

    @property
    def other_per_hour(self) -> float | None:
        """Calls per hour to "all other endpoints": the extra ``other_requests_per_hour``, else the plan's."""
        return self._extra_float("other_requests_per_hour", float(self.plan.other_per_hour))

    @cached_property
    def other_limiter(self) -> WindowLimiter | SharedWindowLimiter:
        """Hourly budget of "all other endpoints" (100, 200 or 600 per hour by plan): at most that many calls in
        any hour, each as soon as the budget allows (https://developers.brevo.com/docs/api-limits). Brevo counts
        it per account: with a ledger (:meth:`share_hourly_budget`) every hook of the account spends one budget,
        without one (plain use of the hook) this hook keeps its own."""
        per_hour = self.other_per_hour or None
        if self._hourly_ledger is not None:
            return SharedWindowLimiter(
                self._hourly_ledger,
                self.import_slot_account,
                per_hour,
                HOUR_S,
                clock=self._ledger_clock,
                sleep=lambda s: self._sleep(s),
            )
        return WindowLimiter(per_hour, HOUR_S, sleep=lambda s: self._sleep(s))

    def share_hourly_budget(self, ledger: WindowLedger, *, clock: Callable[[], float] = time.time) -> None:
        """Spend the hourly budget of "all other endpoints" in ``ledger``, with every other hook of the account
        (the sync store's :class:`~airflow_provider_customerio.store.budget.RequestBudgetTable`, handed over where
        tasks build their hooks). The account's name there is :attr:`import_slot_account`, a digest of the key.

        :param clock: seconds since the epoch (wall time: the machines sharing the ledger must agree).
        """
        self._hourly_ledger = ledger
        self._ledger_clock = clock
        self.__dict__.pop("other_limiter", None)

    def _limiter_for(self, path: str) -> Limiter:
        p = "/" + path.lstrip("/")
        if p.startswith("/contacts"):
            return self.rate_limiter
        if p.startswith("/events"):
            return self.events_limiter
        return self.other_limiter

    # --------------------------------------------------------------------------------- contacts
    def create_contact(
        self,
        *,
        email: str | None = None,
        ext_id: str | None = None,
        attributes: dict[str, Any] | None = None,
        list_ids: Sequence[int] | None = None,
        update_enabled: bool = False,
        email_blacklisted: bool | None = None,
        sms_blacklisted: bool | None = None,
    ) -> int | None:
        """Create a contact (``POST /contacts``); with ``update_enabled`` update it if it exists.

        :return: the new contact id, or ``None`` when an existing contact was updated (204).
        """
        body: dict[str, Any] = {"updateEnabled": update_enabled}
        if email:
            body["email"] = email
        if ext_id:
            body["ext_id"] = ext_id
        if attributes:
            body["attributes"] = attributes
        if list_ids:
            body["listIds"] = [int(i) for i in list_ids]
        if email_blacklisted is not None:
            body["emailBlacklisted"] = email_blacklisted
        if sms_blacklisted is not None:
            body["smsBlacklisted"] = sms_blacklisted
        result = self.request_json("POST", "/contacts", json_body=body, idempotent=update_enabled)
        return int(result["id"]) if isinstance(result, dict) and "id" in result else None

    def update_contact(self, identifier: str | int, *, identifier_type: str | None = None, **fields: Any) -> None:
        """Update a contact (``PUT /contacts/{identifier}``). ``fields`` use Brevo's names: ``attributes``,
        ``ext_id``, ``emailBlacklisted``, ``smsBlacklisted``, ``listIds``, ``unlinkListIds``."""
        self.request(
            "PUT",
            f"/contacts/{quote_path(identifier)}",
            params=_identifier_params(identifier_type),
            json_body=fields,
        )

    def get_contact(self, identifier: str | int, *, identifier_type: str | None = None) -> dict[str, Any]:
        """One contact, with its attributes and list ids."""
        return (
            self.request_json("GET", f"/contacts/{quote_path(identifier)}", params=_identifier_params(identifier_type))
            or {}
        )

    def find_contact(self, identifier: str | int, *, identifier_type: str | None = None) -> dict[str, Any] | None:
        """Like :meth:`get_contact` but ``None`` when the contact does not exist."""
        try:
            return self.get_contact(identifier, identifier_type=identifier_type)
        except NotFoundError:
            return None

    def delete_contact(self, identifier: str | int, *, identifier_type: str | None = None) -> bool:
        """Delete a contact. Returns False when it did not exist (deleting twice is not an error)."""
        try:
            self.request("DELETE", f"/contacts/{quote_path(identifier)}", params=_identifier_params(identifier_type))
        except NotFoundError:
            return False
        return True

    def iter_contacts(
        self,
        *,
        modified_since: str | None = None,
        created_since: str | None = None,
        limit: int = 1000,
        sort: str = "asc",
    ) -> Iterator[dict[str, Any]]:
        """Yield contacts (``GET /contacts``, offset paging, ``limit`` ≤ 1000).

        :param modified_since: ``YYYY-MM-DDTHH:mm:ss.SSSZ`` with an explicit offset (``Z`` or ``±HH:MM``).
        :param created_since: the same form.
        :raises ValueError: a time without an offset, which Brevo may read in the account's time zone.
        """
        params: dict[str, Any] = {"sort": sort}
        if modified_since:
            params["modifiedSince"] = _time_filter(modified_since, "modified_since")
        if created_since:
            params["createdSince"] = _time_filter(created_since, "created_since")
        return self.iter_offset("/contacts", "contacts", limit=min(limit, 1000), params=params)

    def iter_list_contacts(
        self, list_id: int, *, limit: int = 500, modified_since: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the members of a list (``limit`` ≤ 500); ``modified_since`` as in :meth:`iter_contacts`."""
        params = {"modifiedSince": _time_filter(modified_since, "modified_since")} if modified_since else {}
        return self.iter_offset(
            f"/contacts/lists/{int(list_id)}/contacts", "contacts", limit=min(limit, 500), params=params
        )

    # ---------------------------------------------------------------------------------- imports
    def import_contacts(
        self,
        *,
        json_body: Sequence[Mapping[str, Any]] | None = None,
        file_body: str | None = None,
        list_ids: Sequence[int] | None = None,
        update_existing_contacts: bool = True,
        empty_contacts_attributes: bool = False,
        email_blacklist: bool = False,
        sms_blacklist: bool = False,
        disable_notification: bool = True,
        notify_url: str | None = None,
    ) -> int:
        """Start an asynchronous import (``POST /contacts/import``, body ≤ 10 MB). Returns the process id.

        An import is an upsert, so replaying it is harmless and it is retried like an idempotent call.
        ``notify_url``: the URL Brevo calls when the import ends (``notifyUrl``).
        """
        if (json_body is None) == (file_body is None):
            raise ValueError("import_contacts needs exactly one of json_body or file_body")
        body: dict[str, Any] = {
            "updateExistingContacts": update_existing_contacts,
            "emptyContactsAttributes": empty_contacts_attributes,
            "emailBlacklist": email_blacklist,
            "smsBlacklist": sms_blacklist,
            "disableNotification": disable_notification,
        }
        if json_body is not None:
            body["jsonBody"] = list(json_body)
        else:
            body["fileBody"] = file_body
        if list_ids:
            body["listIds"] = [int(i) for i in list_ids]
        if notify_url:
            body["notifyUrl"] = notify_url
        result = self.request_json("POST", "/contacts/import", json_body=body, idempotent=True) or {}
        return int(result["processId"])

    def get_process(self, process_id: int) -> dict[str, Any]:
        """A background process: ``status`` is queued, in_process/processing, completed, failed or cancelled."""
        return self.request_json("GET", f"/processes/{int(process_id)}") or {}

    # ------------------------------------------------------------------------------- attributes
    def list_attributes(self) -> list[dict[str, Any]]:
        """Contact attributes: ``[{"name", "category", "type", ...}]``."""
        return (self.request_json("GET", "/contacts/attributes") or {}).get("attributes") or []

    def create_attribute(self, name: str, type: str = "text", *, category: str = "normal") -> None:
        """Create a contact attribute (names are upper case by Brevo's convention)."""
        self.request(
            "POST",
            f"/contacts/attributes/{quote_path(category)}/{quote_path(name.upper())}",
            json_body={"type": type},
            idempotent=False,
        )

    # ---------------------------------------------------------------------------- lists/folders
    def iter_lists(self) -> Iterator[dict[str, Any]]:
        """Yield every contact list (``limit`` ≤ 50)."""
        return self.iter_offset("/contacts/lists", "lists", limit=50)

    def get_list(self, list_id: int) -> dict[str, Any]:
        """One list (raises :class:`NotFoundError` when it does not exist)."""
        return self.request_json("GET", f"/contacts/lists/{int(list_id)}") or {}

    def create_list(self, name: str, folder_id: int) -> int:
        """Create a list in a folder; returns its id."""
        body = self.request_json("POST", "/contacts/lists", json_body={"name": name, "folderId": int(folder_id)}) or {}
        return int(body["id"])

    def iter_folders(self) -> Iterator[dict[str, Any]]:
        """Yield every contact folder."""
        return self.iter_offset("/contacts/folders", "folders", limit=50)

    def create_folder(self, name: str) -> int:
        """Create a folder; returns its id."""
        return int((self.request_json("POST", "/contacts/folders", json_body={"name": name}) or {})["id"])

    def add_contacts_to_list(
        self,
        list_id: int,
        *,
        emails: Sequence[str] | None = None,
        ids: Sequence[int] | None = None,
        ext_ids: Sequence[str] | None = None,
    ) -> dict[str, list[Any]]:
        """Add 1–150 existing contacts to a list. Returns ``{"success": [...], "failure": [...]}``; when none
        could be added (already members or unknown) Brevo's 400 is turned into an all-failure result."""
        return self._list_members("add", list_id, emails=emails, ids=ids, ext_ids=ext_ids)

    def remove_contacts_from_list(
        self,
        list_id: int,
        *,
        emails: Sequence[str] | None = None,
        ids: Sequence[int] | None = None,
        ext_ids: Sequence[str] | None = None,
    ) -> dict[str, list[Any]]:
        """Remove 1–150 contacts from a list (same result shape as :meth:`add_contacts_to_list`)."""
        return self._list_members("remove", list_id, emails=emails, ids=ids, ext_ids=ext_ids)

    def _list_members(self, action: str, list_id: int, **forms: Sequence[Any] | None) -> dict[str, list[Any]]:
        given = {k: list(v) for k, v in forms.items() if v}
        if len(given) != 1:
            raise ValueError("pass exactly one of emails, ids or ext_ids")
        ((form, values),) = given.items()
        if len(values) > MAX_LIST_MEMBERS_PER_CALL:
            raise ValueError(f"at most {MAX_LIST_MEMBERS_PER_CALL} contacts per call, got {len(values)}")
        key = {"emails": "emails", "ids": "ids", "ext_ids": "extIds"}[form]
        resp = self.request(
            "POST",
            f"/contacts/lists/{int(list_id)}/contacts/{action}",
            json_body={key: values},
            idempotent=True,  # adding or removing twice ends in the same membership
            accept_statuses=(400,),
        )
        body = resp.json() if resp.content else {}
        if resp.status_code == 400:
            message = str((body or {}).get("message", "")).lower()
            if "already in list" in message or "does not exist" in message:
                return {"success": [], "failure": values}
            raise self._error_for("POST", resp)
        contacts = (body or {}).get("contacts") or {}
        return {"success": list(contacts.get("success") or []), "failure": list(contacts.get("failure") or [])}

    # ----------------------------------------------------------------------------------- events
    def create_event(self, event: dict[str, Any]) -> None:
        """Send one event (``POST /events``): ``{"event_name", "identifiers", "event_date", ...}``.

        Brevo has no idempotency key for events, so the call is retried only when it certainly did not
        reach Brevo (see :func:`airflow_provider_customerio.hooks._base.should_retry`)."""
        self.request("POST", "/events", json_body=event, idempotent=False)

    def create_events_batch(self, events: list[dict[str, Any]]) -> BatchResult:
        """Send up to 200 events (≤ 512 KB) in one call. On 207 ``errors`` holds ``{"index", "message"}`` per
        rejected event; the others were accepted."""
        if len(events) > MAX_EVENTS_PER_BATCH:
            raise ValueError(f"at most {MAX_EVENTS_PER_BATCH} events per batch, got {len(events)}")
        resp = self.request("POST", "/events/batch", json_body={"events": events}, idempotent=False)
        body = resp.json() if resp.content else {}
        errors: list[dict[str, Any]] = []
        if resp.status_code == 207:
            for err in (body or {}).get("errors") or []:
                indexes = err.get("eventIndex")
                if not isinstance(indexes, list):
                    indexes = [indexes]
                for idx in indexes:
                    errors.append({"index": int(idx), "message": err.get("message", "")})
        return BatchResult(status=resp.status_code, errors=errors, body=body)

    def iter_events(
        self,
        *,
        event_names: Sequence[str] | None = None,
        contact_ids: Sequence[int] | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        limit: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Yield custom events Brevo holds (``GET /events``), newest first.

        :param start_date: ``YYYY-MM-DD`` or RFC 3339; give both bounds or neither (Brevo's rule).
        """
        if (start_date is None) != (end_date is None):
            raise ValueError("iter_events needs both start_date and end_date, or neither")
        params: dict[str, Any] = {}
        if event_names:
            params["event_name"] = list(event_names)
        if contact_ids:
            params["contact_id"] = [int(c) for c in contact_ids]
        if start_date and end_date:
            params.update({"startDate": start_date, "endDate": end_date})
        return self.iter_offset("/events", "events", limit=max(1, min(limit, 10000)), params=params)

    # ---------------------------------------------------------------------------- custom objects
    def upsert_object_records(self, object_type: str, records: list[dict[str, Any]]) -> int:
        """Upsert 1–1000 custom object records (≤ 1 MB). Returns the process id.

        Records identified by ``ext_id`` are created or updated, so the call is replay-safe.
        """
        if not 1 <= len(records) <= MAX_OBJECT_RECORDS:
            raise ValueError(f"upsert_object_records takes 1 to {MAX_OBJECT_RECORDS} records, got {len(records)}")
        body = (
            self.request_json(
                "POST",
                f"/objects/{quote_path(object_type)}/batch/upsert",
                json_body={"records": records},
                idempotent=all("ext_id" in (r.get("identifiers") or {}) for r in records),
            )
            or {}
        )
        return int(body["processId"])

    def delete_object_records(self, object_type: str, ext_ids: list[str]) -> int:
        """Delete 1–1000 custom object records by ``ext_id`` (``POST /objects/{type}/batch/delete``,
        https://developers.brevo.com/reference/custom-objects/batchdeleteobjectrecords). Asynchronous: returns the
        process id. Deleting a record that is already gone is not an error, so the call is replay-safe."""
        if not 1 <= len(ext_ids) <= MAX_OBJECT_RECORDS:
            raise ValueError(f"delete_object_records takes 1 to {MAX_OBJECT_RECORDS} ids, got {len(ext_ids)}")
        body = (
            self.request_json(
                "POST",
                f"/objects/{quote_path(object_type)}/batch/delete",
                json_body={"identifiers": {"ext_ids": [str(e) for e in ext_ids]}},
                idempotent=True,
            )
            or {}
        )
        return int(body["processId"])

    def get_object_records_page(
        self,
        object_type: str,
        *,
        page_num: int = 1,
        limit: int = MAX_OBJECT_RECORDS,
        sort: str = "desc",
        association: bool = False,
    ) -> dict[str, Any]:
        """One page of custom object records (``GET /objects/{type}/records``; page-number paging):
        ``{"count", "records": [{"identifiers", "attributes", "associations", ...}]}``."""
        params: dict[str, Any] = {
            "limit": max(1, min(limit, MAX_OBJECT_RECORDS)),
            "page_num": max(1, page_num),
            "sort": sort,
        }
        if association:
            params["association"] = "true"
        return self.request_json("GET", f"/objects/{quote_path(object_type)}/records", params=params) or {}

    def iter_object_records(
        self, object_type: str, *, limit: int = MAX_OBJECT_RECORDS, sort: str = "asc", association: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a custom object type, page after page."""
        page = 1
        while True:
            records = (
                self.get_object_records_page(
                    object_type, page_num=page, limit=limit, sort=sort, association=association
                ).get("records")
                or []
            )
            yield from records
            if len(records) < limit:
                return
            page += 1

    # ---------------------------------------------------------------------------------- account
    def get_account(self) -> dict[str, Any]:
        """The account (``GET /account``)."""
        return self.request_json("GET", "/account") or {}

    def test_connection(self) -> tuple[bool, str]:
        """Check the key with ``GET /account``."""
        try:
            account = self.get_account()
        except Exception as exc:
            return False, str(exc)
        who = account.get("companyName") or account.get("email") or "account"
        return True, f"Connected to Brevo ({who})"


def _time_filter(value: str, field: str) -> str:
    """A ``modifiedSince``-style filter, refused without an explicit offset: Brevo asks for "your timezone in
    date-time format for accurate result" (https://developers.brevo.com/reference/get-contacts) and may read a time
    without one in the account's time zone (docs/vendor-behaviour.md)."""
    if not _EXPLICIT_OFFSET.search(value.strip()):
        raise ValueError(
            f"{field}: {value!r} has no UTC offset, and Brevo may read it in the account's time zone; pass a "
            "date-time with an offset, e.g. 2026-01-31T13:45:00.000Z or 2026-01-31T05:45:00.000-08:00"
        )
    return value.strip()


def _identifier_params(identifier_type: str | None) -> dict[str, str]:
    if identifier_type is None:
        return {}
    if identifier_type not in IDENTIFIER_TYPES:
        raise ConfigError(f"identifier_type must be one of {sorted(IDENTIFIER_TYPES)}, got {identifier_type!r}.")
    return {"identifierType": identifier_type}
