"""Brevo background processes (``/processes``) and the contact import that runs as one (``/contacts/import``)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

from airflow_provider_customerio.sandbox.brevo.base import BrevoBase, locked
from airflow_provider_customerio.sandbox.brevo.errors import (
    InvalidParameter,
    MissingParameter,
    OutOfRange,
    ProcessNotFound,
)
from airflow_provider_customerio.sandbox.brevo.models import (
    DUPLICATE_NAMES,
    IDENTITY_ATTRS,
    IMPORT_COUNT_KEYS,
    MAX_IMPORT_BYTES,
    NOTIFY_PROCESS_S,
    RUNNING,
    ContactList,
    Process,
    is_number,
)
from airflow_provider_customerio.sandbox.notify import valid_notify_url


class ProcessesMixin(BrevoBase):
    """Processes: poll-driven or on the sandbox clock, processing faults, notifyUrl calls; the contact import."""

    # ---------------------------------------------------------------------------------------------- processes

    def _new_process(self, name: str, kind: str, payload: dict[str, Any]) -> Process:
        proc = Process(self.next_process_id, name, kind, payload, self._now())
        self.next_process_id += 1
        self.processes[proc.id] = proc
        proc.will_fail = kind == "import" and self.take_fault("import_failure")
        proc.partial = kind == "import" and not proc.will_fail and self.take_fault("import_partial")
        proc.stuck = self.take_fault("process_stuck")
        proc.notify_url = payload.pop("notify_url", None)
        proc.digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        rate = self.process_settings["rate_per_s"]
        if rate or proc.notify_url:
            proc.clocked = True
            proc.size = len(payload.get("rows") or payload.get("records") or ())
            proc.queued_at = self.sandbox_clock.now()
            if not self._in_queue(proc):
                self._schedule(proc, proc.queued_at + float(self.process_settings["queue_s"]))
            self._background += 1
        if proc.notify_url:
            self.notifier.expect()
        return proc

    def _in_queue(self, proc: Process) -> bool:
        """Serial mode: imports wait their turn (scheduled by :meth:`run_due`); other processes never queue."""
        return bool(self.process_settings["serial"]) and proc.kind == "import"

    def _schedule(self, proc: Process, starts_at: float) -> None:
        rate = self.process_settings["rate_per_s"]
        proc.starts_at = starts_at
        # Poll-driven mode ends a process on polls; one sent with a notifyUrl is not polled, so it ends on its
        # own NOTIFY_PROCESS_S after it starts.
        proc.due_at = starts_at + (proc.size / float(rate) if rate else NOTIFY_PROCESS_S)

    def _run_queue(self, now: float) -> list[Process]:
        """Serial mode: start the account's oldest waiting import once the one before it has ended (at the later
        of its own ``queue_s`` delay and that end), and end it when due; the ones behind stay ``queued``."""
        done: list[Process] = []
        free_at = self._imports_free_at
        for proc in sorted(self.processes.values(), key=lambda p: p.id):
            if not (proc.clocked and proc.kind == "import" and proc.status in RUNNING):
                continue
            if proc.starts_at is None:
                self._schedule(proc, max(proc.queued_at + float(self.process_settings["queue_s"]), free_at))
            if proc.stuck or proc.due_at is None or proc.due_at > now:
                break  # the head is still running (or stuck): every import behind it waits
            proc.ended_at = proc.due_at
            self._complete(proc)
            free_at = proc.due_at
            done.append(proc)
        return done

    @locked
    def run_due(self) -> list[int]:
        """Complete the background processes whose time has come on the sandbox clock (processing-rate mode)."""
        if not self._background:
            return []  # nothing runs in the background (poll-driven mode, or no process)
        now = self.sandbox_clock.now()
        done = self._run_queue(now) if self.process_settings["serial"] else []
        due = [
            p
            for p in self.processes.values()
            if p.due_at is not None
            and p.due_at <= now
            and not p.stuck
            and p.status in RUNNING
            and not (p.clocked and self._in_queue(p))
        ]
        for proc in sorted(due, key=lambda p: (p.due_at or 0.0, p.id)):
            proc.ended_at = proc.due_at
            self._complete(proc)
        done.extend(due)
        self._background = sum(1 for p in self.processes.values() if p.clocked and p.status in RUNNING)
        return [p.id for p in done]

    @locked
    def set_process_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Control plane: ``polls_to_complete`` (>=1), ``running_status`` (``processing``|``in_process``), the
        background mode: ``rate_per_s`` (rows per sandbox-clock second, or null for poll-driven) and ``queue_s``,
        and ``serial`` (an account's imports one after the other, the default; false: all in parallel)."""
        unknown = set(settings) - set(self.process_settings)
        if unknown:
            raise InvalidParameter(f"{sorted(unknown)[0]}: unknown setting; known: {', '.join(self.process_settings)}")
        merged = {**self.process_settings, **settings}
        polls, status = merged["polls_to_complete"], merged["running_status"]
        rate, queue, serial = merged["rate_per_s"], merged["queue_s"], merged["serial"]
        if not isinstance(polls, int) or isinstance(polls, bool) or polls < 1:
            raise InvalidParameter("polls_to_complete must be an integer >= 1")
        if status not in ("processing", "in_process"):
            raise InvalidParameter("running_status must be 'processing' or 'in_process'")
        if rate is not None and (not is_number(rate) or rate <= 0):
            raise InvalidParameter("rate_per_s must be a number of rows per second > 0, or null (poll-driven)")
        if not is_number(queue) or queue < 0:
            raise InvalidParameter("queue_s must be a number of seconds >= 0")
        if not isinstance(serial, bool):
            raise InvalidParameter("serial must be true (one import at a time, the default) or false (parallel)")
        self.process_settings = {
            "polls_to_complete": polls,
            "running_status": status,
            "rate_per_s": rate,
            "queue_s": float(queue),
            "serial": serial,
        }
        return dict(self.process_settings)

    @locked
    def poll_process(self, pid: Any) -> dict[str, Any]:
        """``GET /processes/{id}``: each poll advances queued → processing → completed (after N polls)."""
        try:
            key = int(pid)
        except (TypeError, ValueError):
            raise InvalidParameter(f"processId must be an integer, got {pid!r}") from None
        proc = self.processes.get(key)
        if proc is None:
            raise ProcessNotFound("processId is invalid")
        if proc.clocked:  # background mode: the clock decides, polling does not
            proc.polls += 1
            self.run_due()
            if proc.status in RUNNING:
                started = proc.starts_at is not None and self.sandbox_clock.now() >= proc.starts_at
                proc.status = self.process_settings["running_status"] if started or proc.stuck else "queued"
            return proc.to_json()
        if proc.status in ("queued", "processing", "in_process"):
            proc.polls += 1
            needed = self.process_settings["polls_to_complete"]
            if proc.stuck or proc.polls < needed:
                # Status strings: the 2026 spec enum says "processing"; the old spec and SDK5 also know
                # "in_process" (docs/vendor-behaviour.md). Default: the 2026 spec; the control plane can switch it.
                running = self.process_settings["running_status"]
                proc.status = "queued" if (proc.polls == 1 and needed > 2 and not proc.stuck) else running
            else:
                self._complete(proc)
        return proc.to_json()

    @locked
    def processes_page(self, limit: int, offset: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        """``GET /processes`` page and count (no polling side effect)."""
        ids = sorted(self.processes, reverse=sort == "desc")
        return [self.processes[pid].to_json() for pid in ids[offset : offset + limit]], len(ids)

    @locked
    def process_control(self, pid: int) -> dict[str, Any]:
        """Control plane: a process with its sandbox details (rejected rows, …)."""
        proc = self.processes.get(pid)
        if proc is None:
            raise ProcessNotFound("processId is invalid")
        return proc.to_control_json()

    @locked
    def complete_all_processes(self) -> list[int]:
        """Control plane: finish every pending process now (stuck ones too); returns their ids."""
        done = []
        for proc in self.processes.values():
            if proc.status in ("queued", "processing", "in_process"):
                self._complete(proc)
                done.append(proc.id)
        return done

    def _complete(self, proc: Process) -> None:
        self._finish(proc)
        if proc.notify_url:
            body = {"processId": proc.id, "status": proc.status, "name": proc.name}
            self.notifier.send(proc.notify_url, body)

    def _finish(self, proc: Process) -> None:
        proc.completed = self._now()
        if proc.kind == "import":
            # the serial queue's next import starts after this one ended (on the clock, or now when forced)
            ended = proc.ended_at if proc.ended_at is not None else self.sandbox_clock.now()
            proc.ended_at = ended
            self._imports_free_at = max(self._imports_free_at, ended)
        payload, proc.payload = proc.payload, None
        if proc.will_fail:
            proc.status = "failed"
            proc.error = "Import failed: the file could not be processed, no contact was imported"
            return
        if proc.partial and proc.kind == "import" and payload is not None:
            rows = payload["rows"]
            done = len(rows) // 2
            self._apply_import(proc, dict(payload, rows=rows[:done]))
            proc.status = "failed"
            proc.error = f"Import stopped after {done} of {len(rows)} rows: processing error, re-submit the import"
            self._bump()
            return
        if proc.kind == "import" and payload is not None:
            self._apply_import(proc, payload)
        elif proc.kind == "objects" and payload is not None:
            self._apply_objects(proc, payload)
            refused = [r for r in proc.rejected if r["index"] is not None]
            if refused:
                # Brevo answers 202 and refuses records later; the process's ``error`` is where that surfaces.
                # ⚠ Its wording is not documented: the sandbox names each refused record as records[i] (0-based,
                # the position in the upsert body) with its ext_id and reason.
                parts = []
                for r in refused:
                    ext = (payload["records"][r["index"]].get("identifiers") or {}).get("ext_id")
                    parts.append(f"records[{r['index']}] (ext_id {ext!r}): {r['reason']}")
                total = len(payload["records"])
                proc.error = f"{len({r['index'] for r in refused})} of {total} records rejected: " + "; ".join(parts)
        elif proc.kind == "objects_delete" and payload is not None:
            self._apply_object_deletes(proc, payload)
        proc.status = "completed"
        self._bump()

    # ---------------------------------------------------------------------------------------------- import

    @locked
    def start_import(self, body: Any, raw_size: int) -> int:
        """``POST /contacts/import``: validate synchronously, apply when the process completes → processId."""
        source = _import_source(body, raw_size)
        list_ids = self._check_list_ids(body.get("listIds"), "listIds")
        new_list = self._check_new_list(body.get("newList"))
        if not list_ids and new_list is None:
            raise MissingParameter("listIds is mandatory if newList is not defined")
        flags = _import_flags(body)
        notify_url = body.get("notifyUrl")
        if notify_url is not None and not valid_notify_url(notify_url):
            raise InvalidParameter("notifyUrl must be an http(s) URL")
        rows = _json_rows(body["jsonBody"]) if source == "jsonBody" else _csv_rows(body["fileBody"])
        payload = {"rows": rows, "list_ids": list_ids, "new_list": new_list, "csv": source == "fileBody", **flags}
        if notify_url:
            payload["notify_url"] = notify_url
        proc = self._new_process("IMPORTUSER", "import", payload)
        self._bump()
        return proc.id

    def _check_new_list(self, new_list: Any) -> Any:
        """An import's ``newList`` (None or an object naming ``listName`` and an existing ``folderId``)."""
        if new_list is not None:
            if not isinstance(new_list, dict) or not isinstance(new_list.get("listName"), str):
                raise InvalidParameter("newList must be an object with listName and folderId")
            if new_list.get("folderId") not in self.folders:
                raise InvalidParameter("newList.folderId is mandatory and must be an existing folder")
        return new_list

    def _import_lists(self, payload: dict[str, Any]) -> list[int]:
        """The lists an import adds its contacts to: ``listIds`` plus the ``newList`` it creates now."""
        list_ids: list[int] = list(payload["list_ids"])
        if payload["new_list"] is not None:
            nl = payload["new_list"]
            lid = self.next_list_id
            self.next_list_id += 1
            self.lists[lid] = ContactList(lid, nl["listName"], nl["folderId"], self._now())
            list_ids.append(lid)
        return [lid for lid in list_ids if lid in self.lists]  # a list deleted meanwhile is skipped

    def _import_row_identities(
        self, email: Any, ext_id: Any, attrs: dict[str, Any], seen: dict[str, set[str]], counts: dict[str, int]
    ) -> tuple[dict[str, tuple[str, str]], str | None]:
        """An import row's identities, or why it is rejected (bad or missing identifier, repeat within the import).

        Counts invalid emails and in-import duplicates in ``counts``; records accepted identifiers in ``seen``.
        """
        if email in (None, "") and attrs.get("EMAIL"):
            email = attrs["EMAIL"]
        if ext_id in (None, ""):
            ext_id = attrs.get("EXT_ID")
        identities, problem = self._identities_from(email, ext_id, attrs)
        if problem == "invalid_email":
            counts["invalid_emails"] += 1
            return identities, f"invalid email {email!r}"
        if problem:
            return identities, f"{problem.replace('_', ' ')}"
        if not identities:
            return identities, "no identifier (email, ext_id or SMS)"
        dup = [name for name, (_, k) in identities.items() if k in seen[name]]
        if dup:
            # a later row repeating an identifier of an earlier row in the same import is dropped (counted)
            for name in dup:
                counts[IMPORT_COUNT_KEYS[name]] += 1
            return identities, f"duplicate {', '.join(DUPLICATE_NAMES[n] for n in dup)} within the import"
        for name, (_, k) in identities.items():
            seen[name].add(k)
        return identities, None

    def _apply_import(self, proc: Process, payload: dict[str, Any]) -> None:
        counts = {
            "invalid_emails": 0,
            "duplicate_contact_id": 0,
            "duplicate_ext_id": 0,
            "duplicate_email_id": 0,
            "duplicate_phone_id": 0,
            "duplicate_whatsapp_id": 0,
            "duplicate_landline_number_id": 0,
        }
        list_ids = self._import_lists(payload)
        update_existing = payload["updateExistingContacts"]
        empty_clears = payload["emptyContactsAttributes"] and update_existing
        from_csv = payload["csv"]
        seen: dict[str, set[str]] = {name: set() for name in ("EMAIL", *IDENTITY_ATTRS)}

        def reject(index: int, reason: str, row: Any) -> None:
            proc.rejected.append({"index": index, "reason": reason, "row": row})

        for index, (email, ext_id, attrs) in enumerate(payload["rows"]):
            row_view = {"email": email, "ext_id": ext_id, "attributes": attrs}
            if "__invalid__" in attrs:
                reject(index, "row is not a JSON object", attrs["__invalid__"])
                continue
            identities, reason = self._import_row_identities(email, ext_id, attrs, seen, counts)
            if reason is not None:
                reject(index, reason, row_view)
                continue
            owners = self._conflicts(identities, None)
            distinct = set(owners.values())
            if len(distinct) > 1:
                reject(index, "identifiers belong to different existing contacts", row_view)
                continue
            if distinct:
                contact = self.contacts[distinct.pop()]
                if not update_existing:
                    reject(index, "contact exists and updateExistingContacts is false", row_view)
                    continue
            else:
                contact = self._new_contact()
            for name, (value, key) in identities.items():
                self._set_identity(contact, name, value, key)
            self._apply_attrs(contact, attrs, from_csv=from_csv, empty_clears=empty_clears)
            if payload["emailBlacklist"]:
                contact.email_bl = True
            if payload["smsBlacklist"]:
                contact.sms_bl = True
            self._set_lists(contact, add=list_ids)
            self._touch(contact)
            proc.applied += 1
        # info.import type conflict (docs/vendor-behaviour.md): the 2026 spec and SDK4 give integer counts, SDK5 gives
        # report URLs. We follow the 2026 spec: integers. Rejected rows are listed on the control plane only
        # (GET /_sandbox/brevo/processes/{id} → sandbox.rejected), never in the vendor response.
        proc.info = {"import": counts}


def _import_source(body: Any, raw_size: int) -> str:
    """Check an import request's size and shape; the one data source it uses (``fileBody`` or ``jsonBody``)."""
    if raw_size > MAX_IMPORT_BYTES:
        # The spec documents only 400 for this operation (max 10 MB, about 8 MB advised:
        # https://developers.brevo.com/reference/import-contacts).
        raise OutOfRange("Maximum allowed body size is 10MB; split the import into smaller requests")
    if not isinstance(body, dict):
        raise InvalidParameter("Request body must be a JSON object")
    sources = [k for k in ("fileUrl", "fileBody", "jsonBody") if body.get(k) is not None]
    if not sources:
        raise MissingParameter("One of fileUrl, fileBody or jsonBody is required")
    if len(sources) > 1:
        raise InvalidParameter(f"Pass only one of fileUrl, fileBody or jsonBody (got {', '.join(sources)})")
    if sources[0] == "fileUrl":
        # Deliberate deviation: the sandbox never fetches URLs (no outbound network).
        raise InvalidParameter("fileUrl is not supported by the sandbox; send fileBody or jsonBody")
    return sources[0]


def _import_flags(body: dict[str, Any]) -> dict[str, bool]:
    """An import's boolean options, with the vendor's defaults."""
    flags = {}
    for flag, default in (
        ("updateExistingContacts", True),
        ("emptyContactsAttributes", False),
        ("emailBlacklist", False),
        ("smsBlacklist", False),
        ("disableNotification", False),
    ):
        value = body.get(flag, default)
        if not isinstance(value, bool):
            raise InvalidParameter(f"{flag} must be a boolean")
        flags[flag] = value
    return flags


def _json_rows(data: Any) -> list[tuple[Any, Any, dict[str, Any]]]:
    """``jsonBody`` as (email, ext_id, attributes) rows; a row that is not an object is kept, marked invalid."""
    if not isinstance(data, list):
        raise InvalidParameter("jsonBody must be an array of {email, attributes} objects")
    rows: list[tuple[Any, Any, dict[str, Any]]] = []
    for row in data:
        if not isinstance(row, dict):
            rows.append((None, None, {"__invalid__": row}))
            continue
        attrs = row.get("attributes") or {}
        if not isinstance(attrs, dict):
            attrs = {}
        rows.append((row.get("email"), row.get("ext_id"), {str(k).upper(): v for k, v in attrs.items()}))
    return rows


def _csv_rows(text: Any) -> list[tuple[Any, Any, dict[str, Any]]]:
    """``fileBody`` (';'-separated CSV with a header row) as (email, None, attributes) rows; blank lines skipped."""
    if not isinstance(text, str):
        raise InvalidParameter("fileBody must be a string of CSV text (';' separated, header row)")
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = next(reader, None)
    if not header:
        raise InvalidParameter("fileBody is empty: the first line must name the attributes")
    names = [h.strip().upper() for h in header]
    if not any(n in ("EMAIL", "SMS", "EXT_ID", "CONTACT_ID") for n in names):
        raise InvalidParameter(
            "We could not find any valid email or SMS or Contact ID in the file you uploaded (header needs "
            "an EMAIL, SMS or EXT_ID column)"
        )
    rows: list[tuple[Any, Any, dict[str, Any]]] = []
    for values in reader:
        if not values or all(v == "" for v in values):
            continue
        attrs = {n: (values[i] if i < len(values) else "") for i, n in enumerate(names)}
        rows.append((attrs.pop("EMAIL", None), None, attrs))
    return rows
